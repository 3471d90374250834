"""Celery queues per engine, from the web process and beat's side: which engines
have a worker at all (for "no worker" on the overview), telling workers about a
new engine, and routing. What a worker serves is stacks.worker's part."""
import json
import logging

from django.conf import settings

from controlpanel.celery import app
from stacks.models import Stack
from stacks.seams import broker

log = logging.getLogger(__name__)
CACHE_KEY = "panel:engine-queues"


def served_queues():
    """Names of the queues some worker consumes. Beat keeps the answer fresh in
    Redis (refresh_served_queues), so a page never waits for the workers; without
    beat, the first page to miss it asks them, at most once per
    PANEL_WORKER_QUEUES_TTL seconds."""
    try:
        cached = broker.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 — no Redis: no worker can be reached either
        return set()
    if cached is not None:
        return set(json.loads(cached))
    return refresh_served_queues(settings.PANEL_WORKER_QUEUES_TTL)


def refresh_served_queues(ttl):
    """Ask the workers which queues they consume (half a second at most) and keep
    the answer `ttl` seconds."""
    try:
        replies = app.control.inspect(timeout=0.5).active_queues() or {}
    except Exception:  # noqa: BLE001
        replies = {}
    names = sorted({q["name"] for queues in replies.values() for q in queues})
    try:
        broker.put(CACHE_KEY, json.dumps(names), ttl)
    except Exception:  # noqa: BLE001
        pass
    return set(names)


def announce_engines():
    """Tell every worker to look for engines it can reach and does not serve yet
    (stacks.worker.panel_serve_engines); a worker started with -Q ignores it.
    Returns False when the broker cannot be reached."""
    try:
        app.control.broadcast("panel_serve_engines")
    except Exception as exc:  # noqa: BLE001
        log.warning("Could not tell the workers about new engines: %s", exc)
        return False
    try:
        broker.connection().delete(CACHE_KEY)  # the next look asks afresh
    except Exception:  # noqa: BLE001
        pass
    return True


def route(name, args, kwargs, options, task=None, **kw):
    """Celery router (CELERY_TASK_ROUTES): a plan is computed on the queue of its
    stack's engine, by a worker that can reach that engine."""
    if name == "stacks.tasks.compute_plan" and args:
        stack = Stack.objects.select_related("engine").filter(pk=args[0]).first()
        if stack is not None:
            return {"queue": stack.engine.queue}
    return None
