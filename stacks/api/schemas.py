"""What the API reads and answers, as pydantic models (they make the OpenAPI schema)."""
from datetime import datetime
from typing import Literal

from ninja import Field, Path, Schema


# Slugs, ids and free text are bounded here, so that a hostile value is a 422
# naming its field before any query runs (a NUL byte or a 2**70 id would
# otherwise reach the database).
def Slug():  # noqa: N802 — used like ninja's Path()
    return Path(..., min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]*$")


def RowId():  # noqa: N802
    return Path(..., ge=1, le=2**62)


Text = r"^[^\x00]*$"


class Error(Schema):
    detail: str | list = Field(description="What was wrong; for bad input, a list naming each field (loc).")


class StackOut(Schema):
    slug: str
    name: str
    engine: str
    services: int
    last_operation: int | None = None
    last_status: str | None = None
    firing: int = 0
    role: Literal["viewer", "operator"]


class ServiceOut(Schema):
    name: str
    role: str
    image: str
    replicas: int
    ports: list
    networks: list
    environment: list[str] = Field(description="Variable names only (values may be secrets).")
    state: str
    health: str
    running: int


class OperationBrief(Schema):
    id: int
    action: str
    status: str
    created: datetime


class StackDetail(StackOut):
    description: str
    networks: list[str]
    volumes: list[str]
    services_detail: list[ServiceOut]
    operations: list[OperationBrief]


class Accepted(Schema):
    id: int = Field(description="The operation's id: GET /api/v1/operations/{id}.")
    status: str
    url: str
    events: str


class DeployIn(Schema):
    plan: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$",
                             description="Apply only this plan (its id from POST …/plan), or nothing.")


class RollbackIn(Schema):
    to: int = Field(..., ge=1, le=2**63 - 1, description="The deployment to go back to (its id): its definition "
                                                          "and the images it ran, through the plan.")
    plan: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$",
                             description="Apply only this plan (its id from the rollback's plan), or nothing.")


class PlanAccepted(Schema):
    token: str
    url: str


class PlanOut(Schema):
    ready: bool
    error: str = ""
    problems: list[str] = []
    plan: dict | None = None
    bundle_hash: str | None = None


class StepOut(Schema):
    at: datetime
    kind: str
    message: str


class OperationOut(Schema):
    id: int
    stack: str
    action: str
    status: Literal["queued", "running", "succeeded", "failed"]
    requested_by: str | None
    error: str
    created: datetime
    started: datetime | None
    finished: datetime | None
    steps: list[StepOut]


class AlertOut(Schema):
    id: int
    name: str
    status: str
    severity: str
    stack: str | None
    service: str | None
    summary: str
    labels: dict
    starts_at: datetime
    resolved_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class AckIn(Schema):
    comment: str = Field("", max_length=500, pattern=Text)


class AckOut(Schema):
    id: int
    acknowledged_by: str
    silence: str
    warning: str = ""
