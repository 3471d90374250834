"""Operations: status and steps, and their events as Server-Sent Events read
from the operation's Redis stream (the one the command line follows)."""
import json
import time

from django.http import StreamingHttpResponse
from ninja import Router
from ninja.errors import HttpError

from stacks.accounts.access import visible_stacks
from stacks.api.schemas import Error, OperationOut, RowId
from stacks.models import Deployment
from stacks.seams import broker

router = Router(tags=["operations"])
STREAM_SECONDS = 15 * 60  # a client reconnects (with Last-Event-ID) after this
DONE = (Deployment.SUCCEEDED, Deployment.FAILED)


def _operation(request, pk):
    deployment = (Deployment.objects.select_related("stack", "requested_by")
                  .filter(pk=pk, stack__in=visible_stacks(request.user, request.api_token)).first())
    if deployment is None:
        raise HttpError(404, f"No operation #{pk} that this token may see.")
    return deployment


@router.get("/operations/{id}", response={200: OperationOut, 401: Error, 404: Error},
            summary="An operation: status (queued, running, succeeded, failed) and steps")
def get_operation(request, id: int = RowId()):  # noqa: A002 — the URL's name
    d = _operation(request, id)
    return {"id": d.pk, "stack": d.stack.slug, "action": d.action, "status": d.status,
            "requested_by": d.requested_by.get_username() if d.requested_by else None, "error": d.error,
            "created": d.created, "started": d.started, "finished": d.finished,
            "steps": [{"at": s.at, "kind": s.kind, "message": s.message} for s in d.steps.all()]}


def _sse(event_id, data, event=None):
    head = f"id: {event_id}\n" if event_id else ""
    head += f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


def event_stream(deployment, after="0", seconds=STREAM_SECONDS):
    """Steps and statuses as they are recorded, until the operation ends (its
    final status is the last event). The row is the truth: when the stream is
    quiet, the row is read, so a missed event cannot leave a client waiting."""
    yield _sse(None, {"status": deployment.status}, "status")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = broker.events(deployment.events_stream, after, timeout=2)
        except broker.BrokerError as exc:
            yield _sse(None, {"error": f"Events are unavailable: {exc}"}, "error")
            return
        for event_id, fields in found:
            after = event_id
            yield _sse(event_id, fields, "status" if "status" in fields else "step")
            if fields.get("status") in DONE:
                return
        if not found:
            deployment.refresh_from_db(fields=["status", "error"])
            if deployment.status in DONE:
                yield _sse(None, {"status": deployment.status, "error": deployment.error}, "status")
                return
            yield ": waiting\n\n"


@router.get("/operations/{id}/events", response={200: None, 401: Error, 404: Error},
            summary="Server-Sent Events: the operation's steps and statuses until it ends")
def operation_events(request, id: int = RowId()):  # noqa: A002 — the URL's name
    deployment = _operation(request, id)
    after = request.headers.get("Last-Event-ID", "0")
    if not after.replace("-", "").isdigit() or len(after) > 40:
        after = "0"
    response = StreamingHttpResponse(event_stream(deployment, after), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
