"""Alerts: the alerts page's list with its filters, and acknowledge."""
from typing import Literal

from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from stacks.accounts.access import can_silence, visible_alerts
from stacks.alerting import acks, search
from stacks.alerting.search import filtered
from stacks.api.schemas import AckIn, AckOut, AlertOut, Error, RowId, Text
from stacks.seams.alertmanager import AlertmanagerError

router = Router(tags=["alerts"])


class AlertFilters(Schema):
    status: Literal["firing", "resolved"] | None = None
    severity: str | None = Field(None, max_length=40, pattern=Text)
    stack: str | None = Field(None, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    q: str | None = Field(None, max_length=200, pattern=Text, description="Search, as on the alerts page.")
    limit: int = Field(100, ge=1, le=500)


def _out(a):
    return {"id": a.pk, "name": a.name, "status": a.status, "severity": a.severity,
            "stack": a.stack.slug if a.stack_id and a.stack else None,
            "service": a.service.name if a.service_id and a.service else None, "summary": a.summary or "",
            "labels": a.labels, "starts_at": a.starts_at, "resolved_at": a.resolved_at,
            "acknowledged_by": a.acknowledged_by.get_username() if a.acknowledged_by else None,
            "acknowledged_at": a.acknowledged_at}


@router.get("/alerts", response={200: list[AlertOut], 401: Error}, summary="Alerts, with the alerts page's filters")
def list_alerts(request, filters: Query[AlertFilters]):
    params = filters.dict(exclude_none=True)
    qs = filtered(params, request.user, request.api_token)
    text = (filters.q or "").strip()
    shown = search.ranked(qs, text, filters.limit) if text else qs.order_by("-starts_at", "-id")[:filters.limit]
    return [_out(a) for a in shown.select_related("stack", "service", "acknowledged_by")]


@router.post("/alerts/{id}/acknowledge", response={200: AckOut, 401: Error, 403: Error, 404: Error},
             summary="Acknowledge: record who is on it and silence it until it resolves")
def acknowledge(request, id: int = RowId(), payload: AckIn | None = None):  # noqa: A002 — the URL's name
    alert = visible_alerts(request.user, request.api_token).filter(pk=id).first()
    if alert is None:
        raise HttpError(404, f"No alert #{id} that this token may see.")
    if not can_silence(request.user, alert, request.api_token):
        raise HttpError(403, "Not allowed: operators of the alert's stack, with a read-write token.")
    warning = ""
    try:
        silence = acks.acknowledge(alert, request.user, (payload.comment if payload else "").strip())
    except AlertmanagerError as exc:
        silence, warning = "", f"Acknowledged, but not silenced: {exc}"
    return {"id": alert.pk, "acknowledged_by": request.user.get_username(), "silence": silence or "",
            "warning": warning}
