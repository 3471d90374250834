"""The Redis seam (Celery's broker, used directly for three small things): the
per-stack operation lock (redis-py's Lock: token-checked, atomic release), the
notice an operation sends when it records a step or ends, and short caches.
Raises BrokerError; `permanent` is never set: Redis down is worth retrying."""
import functools
import threading
import time
import uuid

from django.conf import settings

from stacks.lib.errors import SeamError

LOCK_TTL = 15  # seconds; refreshed every LOCK_TTL / 3 while an operation runs


def redis_py():
    """redis-py, imported when something first talks to Redis: it is a tenth of a
    second of every start-up, and most commands never need it."""
    import redis  # start-up: see above

    return redis


class BrokerError(SeamError):
    pass


@functools.lru_cache(maxsize=1)
def connection():
    return redis_py().Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5, socket_connect_timeout=2)


def _lock_key(slug):
    return f"panel:stack-lock:{slug}"


def _events_key(deployment_id):
    return f"panel:operation:{deployment_id}"


def _translated(fn):
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except redis_py().RedisError as exc:
            raise BrokerError(f"Redis is unreachable ({exc}).") from None
    return inner


@_translated
def lock_held(slug):
    return bool(connection().exists(_lock_key(slug)))


class StackLock:
    """Held while an operation runs; refreshed by a thread, so that a worker that
    dies lets go within LOCK_TTL seconds."""

    def __init__(self, slug):
        self.lock = connection().lock(_lock_key(slug), timeout=LOCK_TTL, thread_local=False)
        self._stop = threading.Event()

    @_translated
    def acquire(self):
        if not self.lock.acquire(blocking=False):
            return False
        threading.Thread(target=self._refresh, daemon=True).start()
        return True

    def _refresh(self):
        while not self._stop.wait(LOCK_TTL / 3):
            try:
                self.lock.reacquire()
            except (redis_py().RedisError, redis_py().exceptions.LockError):
                return

    def release(self):
        self._stop.set()
        try:
            self.lock.release()  # a Lua script: only our own token is deleted
        except (redis_py().RedisError, redis_py().exceptions.LockError):
            pass  # expired meanwhile: nothing of ours to release


# --- Operation notices ------------------------------------------------------------
# An operation publishes on its channel each time it records a step or changes
# status; waiters (the command line, a page) subscribe first, then read the row,
# then block until the next notice instead of polling on a timer.

def notify(deployment_id, stream=None, **event):
    """Wake the operation's waiters; with `event` (a step: at, message, kind; or a
    status, with its error), also append it to the operation's event `stream`
    (Deployment.events_stream), which a waiter with no database (operation_client)
    reads from its start: nothing recorded before it looked is missed."""
    try:
        pipe = connection().pipeline(transaction=False)
        pipe.publish(_events_key(deployment_id), "1")
        if event:
            pipe.xadd(stream, {k: str(v) for k, v in event.items()}, maxlen=EVENTS_KEPT, approximate=True)
            pipe.expire(stream, EVENTS_TTL)
        pipe.execute()
    except redis_py().RedisError:
        pass  # a waiter falls back to its timeout; the row is the truth


EVENTS_KEPT, EVENTS_TTL = 10000, 3600  # an operation's last events, kept an hour after its last one


def _decoded(entries):
    return [(eid.decode(), {k.decode(): v.decode() for k, v in fields.items()}) for eid, fields in entries]


@_translated
def events(stream, after="0", timeout=0.0):
    """An operation's events after the one with id `after` ("0": from the start),
    waiting up to `timeout` seconds for the first: [(id, {field: value})]."""
    found = connection().xread({stream: after}, count=100,
                               block=max(1, int(min(timeout, 4) * 1000)))  # below the socket timeout
    return _decoded(found[0][1]) if found else []


# --- Requests from the command line ----------------------------------------------
# `stack deploy|down` without Django (operation_client) asks a worker to queue the
# operation (tasks.queue_operation) and waits for its answer here. Whoever takes
# the request first handles it: the worker, or the command line itself taking it
# back when no worker answered in time.
REQUEST_TTL = 300


def _request_key(request_id):
    return f"panel:request:{request_id}"


@_translated
def take_request(request_id, taker):
    """True for the first taker of the request (the other one leaves it alone)."""
    return bool(connection().set(_request_key(request_id) + ":taken", taker, nx=True, ex=REQUEST_TTL))


@_translated
def answer_request(request_id, **fields):
    pipe = connection().pipeline(transaction=False)
    pipe.xadd(_request_key(request_id), {k: str(v) for k, v in fields.items()})
    pipe.expire(_request_key(request_id), REQUEST_TTL)
    pipe.execute()


@_translated
def request_answer(request_id, timeout):
    """The worker's answer ({field: value}), or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        found = connection().xread({_request_key(request_id): "0"}, count=1,
                                   block=max(1, int(min(left, 4) * 1000)))  # below the socket timeout
        if found:
            return _decoded(found[0][1])[0][1]
        if left <= 4:
            return None


def ask_a_worker(send, timeout, late_patience=30):
    """send(request_id) a task to a worker, then wait up to `timeout` seconds for
    its answer ({field: value}; "error" when it failed). None when no worker took
    it by then: the request is taken back, so that a worker that gets it later
    leaves it alone."""
    request_id = uuid.uuid4().hex
    try:
        send(request_id)
    except Exception as exc:  # noqa: BLE001 — kombu's errors: Redis is down
        raise BrokerError(f"Redis is unreachable ({exc}).") from None
    answer = request_answer(request_id, timeout)
    if answer is None and take_request(request_id, "asker"):
        return None
    # A worker took it at that very moment.
    return answer or request_answer(request_id, late_patience) or {
        "error": f"A worker took the request but did not answer within {late_patience}s; see the worker's log."}


class Notices:
    """Subscribed on creation: `wait(timeout)` returns True at the next notice
    (False on timeout or when Redis is down, so that the caller reads the row)."""

    def __init__(self, deployment_id):
        self.pubsub = None
        try:
            self.pubsub = connection().pubsub(ignore_subscribe_messages=True)
            self.pubsub.subscribe(_events_key(deployment_id))
        except redis_py().RedisError:
            self.pubsub = None

    def wait(self, timeout):
        if self.pubsub is None:
            import time

            time.sleep(min(timeout, 0.5))
            return False
        try:
            got = self.pubsub.get_message(timeout=min(timeout, 4))  # below the socket timeout
            while got is not None and self.pubsub.get_message(timeout=0) is not None:
                pass  # several notices at once: one wake-up
            return got is not None
        except redis_py().RedisError:
            return False

    def close(self):
        if self.pubsub is not None:
            try:
                self.pubsub.close()
            except redis_py().RedisError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- Small caches ------------------------------------------------------------------
@_translated
def set_once(key, seconds):
    """True for the first caller within `seconds`."""
    return bool(connection().set(key, 1, nx=True, ex=seconds))


@_translated
def get(key):
    return connection().get(key)


@_translated
def get_many(keys):
    return connection().mget(keys) if keys else []


@_translated
def put(key, value, seconds):
    connection().set(key, value, ex=seconds)
