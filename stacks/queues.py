"""Celery queues per engine: which ones a starting worker serves, and which
engines have a worker at all (for "no worker" on the overview)."""
import json
import logging

log = logging.getLogger(__name__)
CACHE_KEY = "panel:engine-queues"


def serve_reachable_engines(worker):
    """A worker started without -Q serves the default queue and every engine it
    can reach; one started with -Q engine.NAME serves just what it was told."""
    from stacks.engine.connect import reachable
    from stacks.models import Engine

    queues = worker.app.amqp.queues
    if getattr(queues, "_consume_from", None) is not None:
        return []  # -Q given
    added = []
    for engine in Engine.objects.all():
        if reachable(engine):
            queues.select_add(engine.queue)
            added.append(engine.queue)
        else:
            log.warning("Engine %s (%s) is unreachable from this worker: not serving %s",
                        engine.name, engine.address, engine.queue)
    return added


def served_queues():
    """Names of the queues some worker consumes, asked of the workers at most
    once per PANEL_WORKER_QUEUES_TTL seconds (the answer is kept in Redis)."""
    from django.conf import settings

    from controlpanel.celery import app
    from stacks import broker

    try:
        cached = broker.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 — no Redis: no worker can be reached either
        return set()
    if cached is not None:
        return set(json.loads(cached))
    try:
        replies = app.control.inspect(timeout=0.5).active_queues() or {}
    except Exception:  # noqa: BLE001
        replies = {}
    names = sorted({q["name"] for queues in replies.values() for q in queues})
    try:
        broker.put(CACHE_KEY, json.dumps(names), settings.PANEL_WORKER_QUEUES_TTL)
    except Exception:  # noqa: BLE001
        pass
    return set(names)


def route(name, args, kwargs, options, task=None, **kw):
    """Celery router (CELERY_TASK_ROUTES): a plan is computed on the queue of its
    stack's engine, by a worker that can reach that engine."""
    if name == "stacks.tasks.compute_plan" and args:
        from stacks.models import Stack

        stack = Stack.objects.select_related("engine").filter(pk=args[0]).first()
        if stack is not None:
            return {"queue": stack.engine.queue}
    return None
