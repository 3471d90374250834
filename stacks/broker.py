"""The Redis seam (Celery's broker, used directly for three small things): the
per-stack operation lock (redis-py's Lock: token-checked, atomic release), the
notice an operation sends when it records a step or ends, and short caches.
Raises BrokerError; `permanent` is never set: Redis down is worth retrying."""
import functools
import threading

import redis
from django.conf import settings

LOCK_TTL = 15  # seconds; refreshed every LOCK_TTL / 3 while an operation runs


class BrokerError(Exception):
    def __init__(self, message, permanent=False):
        super().__init__(message)
        self.permanent = permanent


@functools.lru_cache(maxsize=1)
def connection():
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5, socket_connect_timeout=2)


def _lock_key(slug):
    return f"panel:stack-lock:{slug}"


def _events_key(deployment_id):
    return f"panel:operation:{deployment_id}"


def _translated(fn):
    @functools.wraps(fn)
    def inner(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
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
            except (redis.RedisError, redis.exceptions.LockError):
                return

    def release(self):
        self._stop.set()
        try:
            self.lock.release()  # a Lua script: only our own token is deleted
        except (redis.RedisError, redis.exceptions.LockError):
            pass  # expired meanwhile: nothing of ours to release


# --- Operation notices ------------------------------------------------------------
# A list per operation that grows by one item per step and a last one at the end:
# the command line blocks on it (BLPOP) instead of polling the database.
NOTICE_TTL = 600


def notify(deployment_id, what="step"):
    try:
        pipe = connection().pipeline()
        pipe.rpush(_events_key(deployment_id), what)
        pipe.expire(_events_key(deployment_id), NOTICE_TTL)
        pipe.execute()
    except redis.RedisError:
        pass  # a waiter falls back to its timeout; the row is the truth


def wait_notice(deployment_id, timeout):
    """Block until the operation records something (or timeout); True if it did.
    Takes every notice queued so far."""
    timeout = max(1, min(int(timeout), 4))  # below the connection's socket timeout
    try:
        r = connection()
        got = r.blpop([_events_key(deployment_id)], timeout=timeout)
        if got:
            r.delete(_events_key(deployment_id))
        return bool(got)
    except redis.RedisError:
        return False


# --- Small caches ------------------------------------------------------------------
@_translated
def set_once(key, seconds):
    """True for the first caller within `seconds`."""
    return bool(connection().set(key, 1, nx=True, ex=seconds))


@_translated
def get(key):
    return connection().get(key)


@_translated
def put(key, value, seconds):
    connection().set(key, value, ex=seconds)
