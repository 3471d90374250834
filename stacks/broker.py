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
# An operation publishes on its channel each time it records a step or changes
# status; waiters (the command line, a page) subscribe first, then read the row,
# then block until the next notice instead of polling on a timer.

def notify(deployment_id):
    try:
        connection().publish(_events_key(deployment_id), "1")
    except redis.RedisError:
        pass  # a waiter falls back to its timeout; the row is the truth


class Notices:
    """Subscribed on creation: `wait(timeout)` returns True at the next notice
    (False on timeout or when Redis is down, so that the caller reads the row)."""

    def __init__(self, deployment_id):
        self.pubsub = None
        try:
            self.pubsub = connection().pubsub(ignore_subscribe_messages=True)
            self.pubsub.subscribe(_events_key(deployment_id))
        except redis.RedisError:
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
        except redis.RedisError:
            return False

    def close(self):
        if self.pubsub is not None:
            try:
                self.pubsub.close()
            except redis.RedisError:
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
