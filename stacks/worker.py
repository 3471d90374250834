"""The worker's side of the engine queues: a worker started without -Q serves the
default queue and the queue of every engine it can reach — those registered when
it starts, and those added later, when `engine add` (or beat, for engines that
became reachable or were added in the admin) broadcasts `panel_serve_engines`.
A worker started with -Q engine.NAME serves just what it was told.

Imported by the worker only (CELERY_IMPORTS), never by the web process."""
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from celery.signals import celeryd_after_setup
from celery.worker.control import control_command, ok
from django.db import connection

from stacks.engine import connect
from stacks.models import Engine

log = logging.getLogger(__name__)
_serves_reachable = False  # this worker was started without -Q


@celeryd_after_setup.connect
def _serve_engines(sender, instance, **kwargs):
    serve_reachable_engines(instance)


def serve_reachable_engines(worker):
    """At start (celeryd_after_setup): the queues of the engines reachable now."""
    global _serves_reachable

    queues = worker.app.amqp.queues
    if getattr(queues, "_consume_from", None) is not None:
        return []  # -Q given
    _serves_reachable = True
    added = []
    for engine, reachable in _reachability(_engines()):
        if reachable:
            queues.select_add(engine.queue)
            added.append(engine.queue)
    return added


@control_command()
def panel_serve_engines(state):
    """Consume the queue of each engine added since this worker started that it can reach."""
    if not _serves_reachable:
        return ok("started with -Q: serves only the queues it was given")
    consumer = state.consumer
    have = {q.name for q in consumer.task_consumer.queues}
    # Reaching engines takes time (3 s per unreachable one): not in the consumer's
    # loop, which would stop taking tasks meanwhile. The loop adds the queues.
    threading.Thread(target=_serve_new, args=(consumer, have), daemon=True, name="panel-serve-engines").start()
    return ok("checking engines")


def _serve_new(consumer, have):
    try:
        for engine, reachable in _reachability([e for e in _engines() if e.queue not in have]):
            if reachable:
                log.info("Engine %s is reachable: serving %s", engine.name, engine.queue)
                consumer.call_soon(consumer.add_task_queue, engine.queue)
    except Exception:  # noqa: BLE001 — the next broadcast tries again
        log.warning("Checking for new engines failed", exc_info=True)
    finally:
        connection.close()  # this thread's own


def _engines():
    return list(Engine.objects.all())


def _reachability(engines):
    """[(engine, reachable)], checked concurrently (an unreachable engine costs a timeout)."""
    if not engines:
        return []
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(connect.reachable, engines))
    for engine, answer in zip(engines, answers):
        if not answer:
            log.warning("Engine %s (%s) is unreachable from this worker: not serving %s",
                        engine.name, engine.address, engine.queue)
    return list(zip(engines, answers))
