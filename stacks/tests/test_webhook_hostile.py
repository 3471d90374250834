"""Hostile and broken webhook bodies: a 4xx, never a 5xx, and nothing stored.
Alertmanager retries a 5xx forever; a 4xx is final."""
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from stacks.alerting.payload import Rejected, checked
from stacks.models import Alert, AlertDelivery
from stacks.tests.test_webhook import alert, payload, post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def token(monkeypatch):
    from stacks.tests.test_webhook import TOKEN

    monkeypatch.setenv("PANEL_WEBHOOK_TOKEN", TOKEN)


def nothing_stored():
    return not Alert.objects.exists() and not AlertDelivery.objects.exists()


@pytest.mark.parametrize("body, status, reason", [
    ("[" * 5000 + "]" * 5000, 400, "nests deeper"),
    (json.dumps(payload({**alert(), "startsAt": "2026-13-01T00:00:00Z"})), 400, "startsAt is not an RFC 3339"),
    (json.dumps(payload({**alert(), "startsAt": "2026-11-24T10:00:00+99:00"})), 400, "startsAt is not an RFC 3339"),
    (json.dumps(payload({**alert(), "startsAt": "9999-12-31T23:59:59-23:00"})), 400, "startsAt is not an RFC 3339"),
    (json.dumps(payload({**alert(), "endsAt": "2026-02-30T00:00:00Z"})), 400, "endsAt is not an RFC 3339"),
    (json.dumps(payload(alert(), truncatedAlerts=2**70)), 400, "truncatedAlerts"),
    (json.dumps(payload(alert(), truncatedAlerts=True)), 400, "truncatedAlerts"),
    ('{"version": "4", "n": ' + "9" * 5000 + "}", 400, "not valid JSON"),
    ('{"version": NaN}', 400, "not valid JSON"),
    (b'{"version": "4\xff"}', 400, "not valid JSON"),
    (json.dumps(payload(alert(instance="a\u0000b"))), 400, "NUL"),
    (json.dumps(payload(alert(instance="\ud800"))), 400, "surrogate"),
    (json.dumps(payload(alert(), groupKey=["x"])), 400, "groupKey"),
])
def test_it_answers_4xx_to_bodies_it_will_never_accept(client, body, status, reason):
    r = post(client, body)
    assert r.status_code == status, r.content
    assert reason in r.json()["error"]
    assert nothing_stored()


def test_a_bogus_content_length_is_a_413_not_a_crash(client):
    r = post(client, payload(alert()), CONTENT_LENGTH="lots")
    assert r.status_code == 413


def test_too_many_alerts_in_one_message_is_a_413(client, settings):
    settings.WEBHOOK_MAX_ALERTS = 10
    r = post(client, payload(*[alert(fingerprint=f"f{i}") for i in range(11)]))
    assert r.status_code == 413 and "max_alerts" in r.json()["error"]
    assert nothing_stored()


def test_thousands_of_alerts_are_stored_in_one_go(client):
    # One statement (15 parameters an alert) would exceed PostgreSQL's 65,535: stored in
    # chunks inside one transaction.
    body = payload(*[{"status": "firing", "labels": {"alertname": "Flood", "instance": f"h{i}"},
                      "startsAt": "2026-11-24T10:00:00Z", "fingerprint": f"f{i:05d}"} for i in range(5_000)])
    r = post(client, body)
    assert r.status_code == 200, r.content
    assert r.json()["stored"] == 5_000
    assert Alert.objects.count() == 5_000
    assert AlertDelivery.objects.get().alerts.count() == 5_000


def test_a_value_the_database_refuses_after_the_alerts_went_in_leaves_nothing(client, monkeypatch):
    # The up-front checks leave the database nothing to refuse, so the refusal is
    # made here: the whole payload is stored, then DataError, as PostgreSQL raises
    # for an out-of-range value. The answer is final (400) and nothing stays.
    from django.db import DataError, transaction

    from stacks.alerting import payload as module

    real_store = module.store

    def store_then_refuse(*args):
        with transaction.atomic():
            real_store(*args)
            assert Alert.objects.count() == 5
            raise DataError("integer out of range")

    monkeypatch.setattr(module, "store", store_then_refuse)
    r = post(client, payload(*[alert(fingerprint=f"f{i}") for i in range(5)]))
    assert r.status_code == 400 and "refused a value" in r.json()["error"]
    assert nothing_stored()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)

alert_like = st.fixed_dictionaries({
    "status": st.sampled_from(["firing", "resolved"]) | json_values,
    "labels": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3).map(
        lambda d: {"alertname": "A", **d}) | json_values,
    "annotations": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3) | json_values,
    "startsAt": st.datetimes().map(lambda d: d.isoformat() + "Z") | st.text(max_size=40) | json_values,
    "endsAt": st.just("0001-01-01T00:00:00Z") | st.text(max_size=40) | json_values,
    "fingerprint": st.from_regex(r"[0-9a-f]{1,16}", fullmatch=True) | json_values,
    "generatorURL": st.text(max_size=20) | json_values,
})

payload_like = st.fixed_dictionaries({
    "version": st.just("4") | json_values,
    "groupKey": st.text(max_size=20) | json_values,
    "status": st.sampled_from(["firing", "resolved"]) | json_values,
    "receiver": st.text(max_size=20) | json_values,
    "truncatedAlerts": st.integers(min_value=0) | json_values,
    "alerts": st.lists(alert_like, max_size=4) | json_values,
}) | json_values


@hsettings(max_examples=300, deadline=None)
@given(payload_like)
def test_the_parser_accepts_or_rejects_but_never_fails(document):
    body = json.dumps(document).encode()
    try:
        checked(body)
    except Rejected as exc:
        assert 400 <= exc.status < 500


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload_like)
def test_the_view_never_answers_5xx_and_stores_all_or_nothing(client, document):
    before = (Alert.objects.count(), AlertDelivery.objects.count())
    r = post(client, json.dumps(document))
    assert r.status_code < 500, r.content
    if r.status_code != 200:
        assert (Alert.objects.count(), AlertDelivery.objects.count()) == before
    else:
        assert AlertDelivery.objects.count() == before[1] + 1
