"""Images built from Debian's binaries with `docker import`, for a machine that
reaches no registry: the binary, the shared libraries `ldd` lists, busybox (for
wget healthchecks and a shell), packed into a tar."""
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

from stacks.engine.client import client

IMAGES = {
    "panel-local/prometheus:latest": {
        "binary": "/usr/bin/prometheus", "port": 9090,
        "cmd": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        "dirs": ["/etc/prometheus", "/prometheus"], "share": ["/usr/share/prometheus/web"],
    },
    "panel-local/alertmanager:latest": {
        "binary": "/usr/bin/prometheus-alertmanager", "port": 9093,
        "cmd": ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
                "--cluster.listen-address="],
        "dirs": ["/etc/alertmanager", "/alertmanager"], "share": ["/usr/share/prometheus/alertmanager"],
    },
    "panel-local/node-exporter:latest": {
        "binary": "/usr/bin/prometheus-node-exporter", "port": 9100, "cmd": [], "dirs": [],
    },
    "panel-local/busybox:latest": {"binary": None, "port": None, "cmd": ["sh"], "dirs": []},
}
BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "wget", "sleep", "cat", "ls", "echo", "httpd", "nc", "true", "false", "kill", "ps"]


def _libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/"):
                libs.append(p)
    return libs


def _tar_for(binary, dirs, share=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(path):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.type, info.mode = tarfile.DIRTYPE, 0o777
            tar.addfile(info)

        for d in ["/bin", "/tmp", "/etc", *dirs]:
            add_dir(d)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        if binary:
            tar.add(binary, arcname="bin/entry")
            for lib in _libraries(binary):
                tar.add(str(Path(lib).resolve()), arcname=lib.lstrip("/"))
        for path in share:
            if Path(path).exists():
                tar.add(path, arcname=path.lstrip("/"))
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


def build_local_images(log=print):
    api = client().api
    built = []
    for tag, spec in IMAGES.items():
        binary = spec["binary"]
        if binary and not shutil.which(binary):
            raise RuntimeError(f"{binary} is missing: install Debian's package first (bin/setup does).")
        entry = ["/bin/entry"] if binary else []
        changes = [f'ENTRYPOINT {__import__("json").dumps(entry)}' if entry else "ENTRYPOINT []",
                   f'CMD {__import__("json").dumps(spec["cmd"])}']
        if spec["port"]:
            changes.append(f"EXPOSE {spec['port']}")
        repo, _, version = tag.partition(":")
        api.import_image_from_data(_tar_for(binary, spec["dirs"], spec.get("share", ())), repository=repo, tag=version, changes=changes)
        built.append(tag)
    return built
