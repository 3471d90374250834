"""Server-sent events: a page names the topics its live parts show (`data-live`,
static/live.js opens /live/?topics=…) and hears a topic each time it changes;
the part then fetches its fragment once. Nothing is sent while nothing changes
but a comment every KEEPALIVE seconds (it also tells a closed tab from an open
one, and keeps a log page's service followed). When Redis is unreachable the answer is 503 and the page polls instead."""
import re

from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse

from stacks.monitoring import logs
from stacks.seams import live
from stacks.seams.broker import BrokerError

KEEPALIVE = 20  # seconds
TOPIC = re.compile(r"^[a-z]+(:[A-Za-z0-9_.-]+){0,2}$")
RETRY_MS = 2000  # how soon a browser reconnects a dropped stream


def events(request):
    topics = [t for t in request.GET.get("topics", "").split(",") if TOPIC.match(t)][:20]
    if not topics:
        return HttpResponse("Name the topics: /live/?topics=stacks,alerts", status=400, content_type="text/plain")
    try:
        listener = live.hub.listen(topics)
    except BrokerError as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain")
    # The stream holds its thread, not a database connection.
    connections.close_all()
    response = StreamingHttpResponse(_stream(listener), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy passes each event on at once
    return response


def _stream(listener):
    try:
        yield f"retry: {RETRY_MS}\n: open\n\n"
        while True:
            heard = listener.get(KEEPALIVE)
            if heard is None:  # Redis went away: end, and the page polls until it is back
                return
            if not heard:
                # Still open: the log topics it shows stay followed; one that lost
                # its follower is told as changed, and the page's fetch asks anew.
                try:
                    orphaned = logs.renew(listener.topics)
                except BrokerError:
                    return
                yield "".join(f"data: {topic}\n\n" for topic in orphaned) or ": keep-alive\n\n"
                continue
            yield "".join(f"data: {topic}\n\n" for topic in sorted(heard))
    finally:
        listener.close()
