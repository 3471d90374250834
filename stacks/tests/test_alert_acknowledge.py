"""Acknowledging from the panel, and the alert page's source link. The silence
itself is tested against a real Alertmanager in test_alerts_e2e."""
import pytest

from stacks.alerting import acks
from stacks.models import Alert, Stack

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(db):
    stack = Stack.objects.create(slug="solo", name="solo")  # no Alertmanager anywhere
    return Alert.objects.create(fingerprint="ab12", starts_at="2026-11-24T10:00Z", status="firing", name="TargetDown",
                                stack=stack, labels={"alertname": "TargetDown", "job": "node"},
                                generator_url="http://localhost:9090/graph?g0.expr=up")


def test_it_refuses_viewers(client, viewer, alert):
    client.force_login(viewer)
    assert client.post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "x"}).status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_by is None


def test_it_records_who_and_why_even_without_an_alertmanager_to_silence_in(client, operator, alert):
    client.force_login(operator)
    r = client.post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "on it"}, follow=True)
    html = r.content.decode()
    assert "TargetDown acknowledged." in html
    assert "Acknowledged by <strong>olga</strong>" in html and '<q id="ack-reason">on it</q>' in html
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.ack_comment, alert.silence_id) == (operator, "on it", "")
    # The reason can be changed afterwards; who acknowledged stays.
    html = client.post(f"/alerts/{alert.pk}/acknowledge/", {"comment": "waiting for the vendor"},
                       follow=True).content.decode()
    assert "Reason changed." in html and "Change the reason" in html
    alert.refresh_from_db()
    assert (alert.acknowledged_by, alert.ack_comment) == (operator, "waiting for the vendor")
    assert acks.end_resolved() == []


def test_the_source_is_a_link_only_for_http_urls(client, viewer, alert):
    client.force_login(viewer)
    assert 'class="source" href="http://localhost:9090/graph?g0.expr=up"' in \
        client.get(f"/alerts/{alert.pk}/").content.decode()
    Alert.objects.filter(pk=alert.pk).update(generator_url="javascript:alert(1)")
    html = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert 'class="source"' not in html and "<code>javascript:alert(1)</code>" in html


@pytest.mark.parametrize("matchers, shown", [
    ([{"name": "job", "value": "node", "isRegex": False, "isEqual": True}], True),
    ([{"name": "job", "value": "no.*", "isRegex": True, "isEqual": True}], True),
    ([{"name": "job", "value": "web", "isRegex": True, "isEqual": True}], False),
    ([{"name": "job", "value": "node", "isRegex": False, "isEqual": False}], False),
    ([{"name": "instance", "value": ".+", "isRegex": True, "isEqual": True}], False),
])
def test_silences_made_in_alertmanager_are_matched_as_alertmanager_matches_them(matchers, shown):
    assert acks.silence_matches({"matchers": matchers}, {"alertname": "TargetDown", "job": "node"}) is shown
