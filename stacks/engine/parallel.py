"""Run independent work concurrently along a dependency graph (stdlib graphlib),
as Compose 1.x's parallel.py; and progress reports that worker threads hand to
the caller's thread (database connections are per thread)."""
import graphlib
import queue
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

MAX_WORKERS = 8


class Progress:
    """`report(message, kind)` callable from any thread; only the thread that made
    it calls the underlying report, when it flushes."""

    def __init__(self, report):
        self._report = report
        self._owner = threading.current_thread()
        self._queue = queue.Queue()

    def __call__(self, message, kind="info"):
        if threading.current_thread() is self._owner:
            self.flush()
            self._report(message, kind)
        else:
            self._queue.put((message, kind))

    def flush(self):
        while True:
            try:
                message, kind = self._queue.get_nowait()
            except queue.Empty:
                return
            self._report(message, kind)


def run(graph, fn, progress=None, max_workers=MAX_WORKERS):
    """Call fn(node) for every node of graph ({node: {nodes it needs first}}), each
    as soon as what it needs is done, independent ones in parallel. The first
    failure stops new work; work under way finishes; that failure is raised.
    Returns {node: result}."""
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    results, running, failure = {}, {}, None
    if not graph:
        return results
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(graph)))) as pool:
        while sorter.is_active() and not (failure and not running):
            if failure is None:
                for node in sorter.get_ready():
                    running[pool.submit(fn, node)] = node
            if not running:
                break
            finished, _ = wait(list(running), timeout=0.1 if progress else None, return_when=FIRST_COMPLETED)
            if progress:
                progress.flush()
            for fut in finished:
                node = running.pop(fut)
                try:
                    results[node] = fut.result()
                except Exception as exc:  # noqa: BLE001 — handed to the caller below
                    failure = failure or exc
                    continue
                sorter.done(node)
    if progress:
        progress.flush()
    if failure:
        raise failure
    return results


def each(items, fn, progress=None, max_workers=MAX_WORKERS):
    """fn over independent items, in parallel; {item: result}."""
    return run({item: set() for item in items}, fn, progress, max_workers)
