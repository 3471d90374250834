"""What pages hear about: a change is published on one Redis channel as a topic
(`stack:SLUG`, `stacks`, `alerts`, `alert:ID`, `logs:SLUG:SERVICE`), and an
operation's own notices (broker.notify, channel `panel:operation:ID`) are heard
as `deployment:ID`. A web process holds ONE subscription (the Hub's thread)
and hands each topic to the pages' event streams (views/live.py) that asked
for it, so fifty open tabs cost fifty idle queues, not fifty Redis connections
or fifty polls."""
import logging
import queue
import threading

from stacks.seams.broker import BrokerError, connection, redis_py

log = logging.getLogger(__name__)
CHANNEL = "panel:live"
OPERATIONS = "panel:operation:*"  # broker._events_key's channels


def publish(*topics):
    """Tell open pages that what `topics` name changed. Never raises: Redis down
    means pages fall back to polling, and the row is the truth."""
    try:
        pipe = connection().pipeline(transaction=False)
        for topic in dict.fromkeys(topics):
            pipe.publish(CHANNEL, topic)
        pipe.execute()
    except redis_py().RedisError as exc:
        log.warning("Live notice %s not sent: %s", ", ".join(topics), exc)


def stack_topics(slug):
    """A change on one stack: its page, and the overview that lists it."""
    return (f"stack:{slug}", "stacks")


class Listener:
    """One page's stream: `get(timeout)` gives the topics heard since the last call
    (a set, possibly empty after `timeout`), or None once the hub lost Redis (the
    page then polls until its stream is back)."""

    def __init__(self, hub, topics):
        self.hub, self.topics, self.queue = hub, frozenset(topics), queue.SimpleQueue()

    def get(self, timeout):
        try:
            first = self.queue.get(timeout=timeout)
        except queue.Empty:
            return set()
        heard = {first}
        while True:
            try:
                heard.add(self.queue.get_nowait())
            except queue.Empty:
                break
        return None if None in heard else heard

    def close(self):
        self.hub.remove(self)


class Hub:
    """The process's one subscription; started by the first listener."""

    def __init__(self):
        self.listeners, self.lock = set(), threading.Lock()
        self.thread, self.ready = None, threading.Event()

    def listen(self, topics):
        """A Listener for `topics`; raises BrokerError when Redis cannot be
        reached (the page is told to poll instead)."""
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.ready.clear()
                self.thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
                self.thread.start()
        if not self.ready.wait(3):
            raise BrokerError("Redis is unreachable: live updates are off, pages poll.")
        listener = Listener(self, topics)
        with self.lock:
            self.listeners.add(listener)
        return listener

    def remove(self, listener):
        with self.lock:
            self.listeners.discard(listener)

    def _run(self):
        pubsub = None
        try:
            # Its own connection without a read timeout: it waits for notices.
            pubsub = redis_py().Redis(connection_pool=redis_py().ConnectionPool(
                **{**connection().connection_pool.connection_kwargs, "socket_timeout": None})).pubsub()
            pubsub.subscribe(CHANNEL)
            pubsub.psubscribe(OPERATIONS)
            self.ready.set()
            for message in pubsub.listen():
                topic = _topic(message)
                if topic:
                    self._hand_out(topic)
        except redis_py().RedisError as exc:
            log.warning("Live notices stopped (pages poll until Redis is back): %s", exc)
        finally:
            self.ready.clear()
            with self.lock:
                gone, self.listeners = self.listeners, set()
            for listener in gone:
                listener.queue.put(None)
            if pubsub is not None:
                try:
                    pubsub.close()
                except redis_py().RedisError:
                    pass

    def _hand_out(self, topic):
        with self.lock:
            listeners = list(self.listeners)
        for listener in listeners:
            if topic in listener.topics:
                listener.queue.put(topic)


def _topic(message):
    if message["type"] == "message":
        return message["data"].decode()
    if message["type"] == "pmessage":  # panel:operation:ID
        return "deployment:" + message["channel"].decode().rsplit(":", 1)[-1]
    return None


hub = Hub()
