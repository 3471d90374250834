"""The seam between plan/apply and what carries it out: the Backend protocol (a
backend observes a project, plans from a Desired and that observation (pure),
applies a plan, and runs the operations on what already runs) and what the
Compose and Swarm backends share (status rows, log lines, the files on disk)."""
import base64
import json
import queue
import threading
from typing import Protocol

from stacks.engine.client import explain
from stacks.engine.plan import STATE_FILE, Desired, Observed, Plan
from stacks.lib import safe_paths


class Backend(Protocol):
    name: str

    def observe(self, desired: Desired) -> Observed: ...

    def plan(self, desired: Desired, observed: Observed) -> Plan: ...

    def apply(self, plan: Plan, report) -> Plan: ...

    def stop(self, project, report): ...

    def down(self, project, report, volumes=False): ...

    def restart_service(self, project, service, report): ...

    def status(self, project) -> list: ...

    def follow_logs(self, project, service, tail=100, follow=False): ...  # lines, every container or task

    def ran(self, desired) -> dict: ...  # {service: {"image", "id", "digest"}} once applied

    def follow_tags(self, desired, report): ...  # an update applied: local tags name the pinned images

    def logs(self, project, service, tail=100) -> str: ...


# --- What both backends share -----------------------------------------------------------

ROW = {"id": "", "name": "", "service": "", "number": "", "state": "", "status": "", "health": "", "restarts": 0,
       "ports": "", "image": "", "node": "", "desired": "", "error": "", "health_output": "",
       # [[host ip ('' for every address), published port, container port, protocol]] as the
       # engine reports them: where the panel may reach what it deployed (monitoring.health).
       "published": []}


def status_row(**fields):
    """One container (Compose) or task (Swarm) as status() gives it: the keys the
    poller, the stack page and `stack status` read, whichever backend."""
    return {**ROW, **fields}


def log_lines(chunks):
    """Decoded lines of a log stream of byte chunks (which need not end at a line),
    as they arrive; the engine's errors leave as EngineError."""
    buffer = b""
    try:
        for chunk in chunks:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                yield line.decode(errors="replace")
    except Exception as exc:  # noqa: BLE001 — docker-py and transport errors, in the user's words
        raise explain(exc, "logs") from None
    if buffer:
        yield buffer.decode(errors="replace")


class Logs:
    """logs from a backend's follow_logs; follow_logs from its log_stream (byte chunks)."""

    def follow_logs(self, project, service, tail=100, follow=False):
        """Lines of a service's logs; with follow, as they come until it stops."""
        return log_lines(self.log_stream(project, service, tail=tail, follow=follow))

    def logs(self, project, service, tail=100):
        return "\n".join(self.follow_logs(project, service, tail=tail))


def merged_lines(streams, follow):
    """Lines of [(name, byte chunks)]: one stream's as they are; several, each line
    "TIMESTAMP NAME | message", sorted by time, or with follow as they come (a
    thread per stream)."""
    if len(streams) == 1:
        yield from log_lines(streams[0][1])
        return

    def named(name, line):
        stamp, _, message = line.partition(" ")
        return f"{stamp} {name} | {message}"

    if not follow:
        yield from sorted(named(name, line) for name, chunks in streams for line in log_lines(chunks))
        return
    lines, done = queue.Queue(), object()

    def read(name, chunks):
        try:
            for line in log_lines(chunks):
                lines.put(named(name, line))
        except Exception as exc:  # noqa: BLE001 — handed to the reader below
            lines.put(exc)
        finally:
            lines.put(done)

    for name, chunks in streams:
        threading.Thread(target=read, args=(name, chunks), daemon=True).start()
    open_streams = len(streams)
    while open_streams:
        item = lines.get()
        if item is done:
            open_streams -= 1
        elif isinstance(item, Exception):
            raise item
        else:
            yield item


def read_files(desired):
    """{bundle path: text on disk or None}. A path that leaves the directory (a
    symlink a container planted, say) reads as absent: its content never reaches
    the plan's diff, and the write refuses it."""
    out = {}
    for path in desired.files:
        try:
            target = safe_paths.contained(desired.directory, path)
            if hasattr(desired.files[path], "data"):  # render.BinaryFile: compared as its base64 text
                out[path] = base64.b64encode(target.read_bytes()).decode()
            else:
                out[path] = target.read_text()
        except (safe_paths.UnsafePath, FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
            out[path] = None
    return out


def read_state(desired):
    try:
        return json.loads((desired.directory / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
