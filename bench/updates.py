#!/usr/bin/env python
"""The update check of 200 tags against a local registry, beside `docker pull` of one tag.

    .venv/bin/python bench/updates.py [--tags 200] [--rounds 3]

The registry is Debian's docker-registry on 127.0.0.1 with an htpasswd login and
TLS (a CA made here, trusted by dockerd through /etc/docker/certs.d), as in the
tests. One image is pushed; its manifest is then put under N tags (a PUT each,
the layers are shared). The check is what beat runs (stacks.monitoring.updates.ask):
a manifest HEAD per tag, 4 at a time per registry, with the stored login, from a
fresh client each round (so the login's round trips count); "with tag lists"
also lists the repository's tags for the version-tag policies. The peer is the
docker CLI pulling one tag (its local copy removed first), with its own login.
Prints medians: seconds, and HTTP requests per tag."""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _django import HEAVY_LOCK, bench_django, locks  # noqa: E402

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with locks(HEAVY_LOCK), bench_django("bench-updates"):
        run(args)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args):
    import docker
    import requests

    from stacks.monitoring import updates
    from stacks.seams.registry import Registry
    from stacks.tests import registry_server

    api = docker.from_env().api
    tmp = Path(tempfile.mkdtemp(prefix="bench-updates-"))
    reg = registry_server.start(tmp / "registry", free_port(), users={"bench": "bench-pass"}, tls=True)
    repo = f"{reg.host}/bench/app"
    try:
        registry_server.push(api, registry_server.image(api, f"{repo}:t0", size=4 * 1024 * 1024), auth=reg.auth)
        auth, verify = ("bench", "bench-pass"), str(tmp / "registry" / "ca.crt")
        manifest = requests.get(f"{reg.url}/v2/bench/app/manifests/t0", headers={"Accept": MANIFEST}, auth=auth,
                                verify=verify, timeout=10)
        manifest.raise_for_status()
        with requests.Session() as s:
            for n in range(1, args.tags):
                s.put(f"{reg.url}/v2/bench/app/manifests/t{n}", data=manifest.content, auth=auth, verify=verify,
                      headers={"Content-Type": MANIFEST}, timeout=10).raise_for_status()
        refs = [f"{repo}:t{n}" for n in range(args.tags)]

        def check(with_tags):
            client = Registry(reg.host, "bench", "bench-pass", reg.ca_pem, pool=updates.PER_REGISTRY)
            t = time.perf_counter()
            answers = updates.ask({ref: with_tags for ref in refs}, {reg.host: client})
            elapsed = time.perf_counter() - t
            bad = [a[2] for a in answers.values() if a[2] or not a[0]]
            if bad:
                raise SystemExit(f"check failed: {bad[0]}")
            return elapsed, client.requests / len(refs)

        def tag_lists():
            client = Registry(reg.host, "bench", "bench-pass", reg.ca_pem)
            t = time.perf_counter()
            client.tags("bench/app")
            return time.perf_counter() - t, client.requests / len(refs)

        config = tmp / "docker-config"
        config.mkdir()
        subprocess.run(["docker", "--config", str(config), "login", "-u", "bench", "--password-stdin", reg.host],
                       input="bench-pass", text=True, check=True, capture_output=True)

        def docker_pull():
            try:
                api.remove_image(refs[0], force=True)
            except docker.errors.ImageNotFound:
                pass
            t = time.perf_counter()
            subprocess.run(["docker", "--config", str(config), "pull", "-q", refs[0]], check=True,
                           capture_output=True)
            return time.perf_counter() - t, None

        check(False)  # warm-up: the registry's first answers read its storage cold
        rows = {f"update check, {args.tags} tags (HEAD each)": [check(False) for _ in range(args.rounds)],
                f"tag list of the repository ({args.tags} tags)": [tag_lists() for _ in range(args.rounds)],
                "docker pull, 1 tag (4 MiB layer)": [docker_pull() for _ in range(args.rounds)]}
        print(f"Update check against docker-registry (htpasswd + TLS) on 127.0.0.1, median of {args.rounds}")
        print(f"{'case':<44} {'seconds':>9} {'requests/tag':>13}")
        for case, samples in rows.items():
            seconds = statistics.median(s for s, _ in samples)
            per_tag = samples[0][1]
            print(f"{case:<44} {seconds:>9.3f} {'-' if per_tag is None else f'{per_tag:.3f}':>13}")
    finally:
        for img in api.images(name=f"{reg.host}/*"):
            api.remove_image(img["Id"], force=True)
        reg.stop()


if __name__ == "__main__":
    main()
