"""What the deploy benches share: Django on a database of their own, the locks
they run under, the demo stack on local images rendered to a directory for the
peer tool, timing, and the figures table."""
import contextlib
import fcntl
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY_LOCK, SWARM_LOCK = "/tmp/panel-heavy.lock", "/tmp/panel-swarm.lock"


def setup(database_url):
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlpanel.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def psql(sql):
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True, capture_output=True)


def ensure_pg_database(name):
    psql(f'DROP DATABASE IF EXISTS "{name}"')
    psql(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name):
    from django.db import connections

    connections.close_all()
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a server or worker may still hold a connection


@contextlib.contextmanager
def locks(*paths):
    """Hold the machine's locks, in the order given: the heavy one first, then the
    swarm one (as the tests take them; the other order deadlocks). One this process
    holds already, or inherited from `flock PATH cmd`, is not taken again: that
    would wait on ourselves."""
    inherited = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            inherited.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    with contextlib.ExitStack() as stack:
        for path in paths:
            if path not in inherited:
                f = stack.enter_context(open(path, "a"))
                fcntl.flock(f, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def bench_django(prefix):
    """Django on a fresh PostgreSQL database and a stacks directory, both removed after."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    db_name = f"{prefix.replace('-', '_')}_{os.getpid()}"
    database_url = ensure_pg_database(db_name)
    os.environ["STACKS_DIR"] = str(tmp / "stacks")
    setup(database_url)
    from django.conf import settings

    settings.STACKS_DIR = tmp / "stacks"
    try:
        yield tmp, database_url
    finally:
        drop_pg_database(db_name)
        shutil.rmtree(tmp, ignore_errors=True)


def demo_stack(slug, prom_port, am_port):
    """The demo stack on images built from Debian's binaries: Prometheus,
    Alertmanager, node-exporter and a replicated exporter (4 services, 5 containers)."""
    from stacks.defaults.demo import mini_monitoring
    from stacks.engine.local_images import build_local_images

    build_local_images(log=lambda *_: None)
    return mini_monitoring(slug=slug, prom_port=prom_port, am_port=am_port, replicated_exporter=True)


def write_bundle(stack, directory):
    """The stack's rendered files, for the peer tool to run by hand."""
    from stacks.render import render_bundle

    for path, text in render_bundle(stack).files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_text(text)
    return directory


def remove_compose_project(api, project, volumes=True):
    """What `docker-compose down -v` leaves nothing of, by the Compose labels."""
    label = f"com.docker.compose.project={project}"
    for c in api.containers(all=True, filters={"label": label}):
        api.remove_container(c["Id"], force=True)
    for n in api.networks(filters={"label": label}):
        api.remove_network(n["Id"])
    if volumes:
        for v in api.volumes(filters={"label": label}).get("Volumes") or []:
            api.remove_volume(v["Name"], force=True)


def panel_deploy(stack):
    """Seconds the engine takes to deploy `stack`, in this process (no command, no worker)."""
    from stacks.models import Deployment
    from stacks.tasks import execute

    d = Deployment.objects.create(stack=stack)
    t = time.perf_counter()
    execute(d)
    elapsed = time.perf_counter() - t
    d.refresh_from_db()
    assert d.status == "succeeded", d.error
    return elapsed


def timed(argv, env=None, cwd=ROOT):
    t = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def print_table(title, peer, results):
    """results: {case: {"panel": [s…], peer: [s…]}} → medians and the panel/peer ratio."""
    print(title)
    width = max(len(case) for case in results) + 2
    print(f"{'':<{width}}{'panel':>10}{peer:>{len(peer) + 4}}{'ratio':>8}")
    for case, r in results.items():
        if not r["panel"] or not r[peer]:
            continue
        p, c = statistics.median(r["panel"]), statistics.median(r[peer])
        print(f"{case:<{width}}{p:>10.3f}{c:>{len(peer) + 4}.3f}{p / c:>8.2f}")
