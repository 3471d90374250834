"""Container logs for the log page, pushed as they are written. The web process
never calls Docker: a page watching a service holds a lease in Redis (renewed by
each fetch of its lines and by its open event stream, views/live.py), and while
the lease holds, a worker follows the service's log stream, keeps the last
LINES lines (masked) in Redis and tells the page (`logs:SLUG:SERVICE`) at most
every FLUSH seconds. The follower is a thread of the worker's process, so an
open log page never holds a worker slot that deployments need.

Keys, per service: `panel:logs:SLUG:SERVICE` the lines, `…:watched` the lease,
`…:following` held (and renewed) by the follower, `…:asked` debounces asks."""
import collections
import contextvars
import json
import logging
import queue
import threading
import time

from django.utils import timezone

from stacks.engine.backend import get_backend
from stacks.engine.errors import EngineError
from stacks.seams import broker, live

log = logging.getLogger(__name__)
LINES = 1000  # the page shows the last 100, 200 or 1000 of them
LEASE = 60  # seconds a watch lasts without a fetch or a live stream renewing it
HELD = 10  # seconds the follower's mark outlives a follower that died
FLUSH = 0.2  # seconds between two notices to the page, at most
TOPIC = "logs:{}:{}"
_followers = {}  # (slug, service): Follower, in this worker process
_followers_lock = threading.Lock()


def key(slug, service):
    return f"panel:logs:{slug}:{service}"


def topic(slug, service):
    return TOPIC.format(slug, service)


def cached(slug, service):
    """(lines, when they were fetched as ISO text) as the worker last stored them."""
    raw = broker.get(key(slug, service))
    if not raw:
        return [], None
    data = json.loads(raw)
    return data["lines"], data["fetched"]


def store(slug, service, lines):
    """Keep `lines` for the page and tell it; True when they differ from what was kept."""
    before = cached(slug, service)[0]
    broker.put(key(slug, service), json.dumps({"lines": lines, "fetched": timezone.now().isoformat()}), 300)
    if lines != before:
        live.publish(topic(slug, service))
        return True
    return False


def watch(slug, service):
    """A page shows the service's lines: hold its lease. True when no follower
    runs and none was asked for in the last two seconds (the caller asks one)."""
    broker.put(key(slug, service) + ":watched", 1, LEASE)
    return not broker.get(key(slug, service) + ":following") and broker.set_once(key(slug, service) + ":asked", 2)


def renew(topics):
    """An open event stream still shows these topics: renew the lease of each log
    topic among them. Returns the log topics that have no follower now (the page,
    told of them, fetches its lines, and that fetch asks a worker)."""
    orphaned = []
    for t in topics:
        kind, _, rest = t.partition(":")
        slug, _, service = rest.partition(":")
        if kind != "logs" or not service:
            continue
        broker.put(key(slug, service) + ":watched", 1, LEASE)
        if not broker.get(key(slug, service) + ":following"):
            orphaned.append(t)
    return orphaned


def follow(service, backend_name, mask):
    """In the worker, inside `using(engine)`: start following `service` (a Service
    row) unless this process already does. Returns at once."""
    slug, name = service.stack.slug, service.name
    with _followers_lock:
        current = _followers.get((slug, name))
        if current is not None and current.is_alive():
            current.keep()
            return current
        if not broker.set_once(key(slug, name) + ":following", HELD):
            return None  # another worker process follows it
        follower = _followers[(slug, name)] = Follower(slug, name, backend_name, mask)
    follower.start()
    return follower


class Follower:
    """Reads a service's log stream (a reader thread: the stream blocks while the
    service is quiet) and keeps what it read (this thread), until the lease ends."""

    def __init__(self, slug, service, backend_name, mask):
        self.slug, self.service, self.backend_name, self.mask = slug, service, backend_name, mask
        self.lines = collections.deque(maxlen=LINES)
        self.inbox, self.stopped = queue.SimpleQueue(), threading.Event()
        context = contextvars.copy_context()  # the engine `using` chose
        self.thread = threading.Thread(target=context.run, args=(self._run,), daemon=True,
                                       name=f"logs-{slug}-{service}")

    def start(self):
        self.thread.start()

    def is_alive(self):
        return self.thread.is_alive() and not self.stopped.is_set()

    def keep(self):
        broker.put(key(self.slug, self.service) + ":following", 1, HELD)

    def _run(self):
        try:
            stream = get_backend(self.backend_name).follow_logs(self.slug, self.service, tail=LINES, follow=True)
            threading.Thread(target=contextvars.copy_context().run, args=(self._read, iter(stream)), daemon=True,
                             name=f"logs-read-{self.slug}-{self.service}").start()
            self._keep_until_unwatched()
        except EngineError as exc:
            self._store([f"(logs unavailable: {exc})"])
        except Exception:  # noqa: BLE001 — Redis down or a bug: logged, the next watch starts afresh
            log.warning("Following the logs of %s/%s stopped", self.slug, self.service, exc_info=True)
        finally:
            self.stopped.set()
            with _followers_lock:
                if _followers.get((self.slug, self.service)) is self:
                    del _followers[(self.slug, self.service)]
            try:
                broker.connection().delete(key(self.slug, self.service) + ":following")
            except Exception:  # noqa: BLE001 — it expires by itself
                pass

    def _read(self, stream):
        """The reader: hands each line over; ends at the first line after the
        follower stopped (a quiet service keeps it waiting until then)."""
        try:
            for line in stream:
                if self.stopped.is_set():
                    break
                self.inbox.put(line)
            self.inbox.put(StopIteration())
        except Exception as exc:  # noqa: BLE001 — EngineError in the user's words, handed over
            self.inbox.put(exc)
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()

    def _keep_until_unwatched(self):
        changed, told, renewed = True, 0.0, time.monotonic()
        while True:
            try:
                item = self.inbox.get(timeout=FLUSH)
            except queue.Empty:
                item = None
            if isinstance(item, StopIteration):
                self._store(list(self.lines) or ["(no output yet)"])
                return  # the containers stopped: the next watch starts afresh
            if isinstance(item, Exception):
                self._store([*self.lines, f"(logs unavailable: {item})"])
                return
            if item is not None:
                self.lines.append(self.mask(item))
                changed = True
            now = time.monotonic()
            if changed and now - told >= FLUSH:
                self._store(list(self.lines) or ["(no output yet)"])
                changed, told = False, now
            if now - renewed > HELD / 3:
                if not broker.get(key(self.slug, self.service) + ":watched"):
                    return
                self.keep()
                renewed = now

    def _store(self, lines):
        store(self.slug, self.service, lines)
