"""Any text a user types into a name, label or annotation renders to files that
parse back to the same value and cannot add keys."""
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.models import AlertRule, Service, Stack
from stacks.render import COMPOSE_FILE, RULES_FILE, render_bundle

pytestmark = pytest.mark.django_db

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
label_name = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", fullmatch=True).filter(lambda s: s != "severity")


@pytest.fixture
def stack(db):
    stack = Stack.objects.create(slug="prop", name="prop")
    Service.objects.create(stack=stack, name="prometheus", role="prometheus", image="prom/prometheus",
                           volumes=["./prometheus/rules:/etc/prometheus/rules:ro"])
    return stack


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(summary=text, label_value=text, label_key=label_name, env_value=text, group=text.filter(bool))
def test_it_round_trips_any_text(stack, summary, label_value, label_key, env_value, group):
    AlertRule.objects.filter(stack=stack).delete()
    AlertRule.objects.create(stack=stack, group=group, name="Prop", expr="up == 0",
                             labels={label_key: label_value}, annotations={"summary": summary})
    Service.objects.filter(stack=stack).update(environment={"VALUE": env_value}, labels={"x.y": label_value})
    bundle = render_bundle(stack)

    rules = yaml.safe_load(bundle.files[RULES_FILE])
    assert list(rules) == ["groups"]
    (g,) = rules["groups"]
    assert g["name"] == group
    (rule,) = g["rules"]
    assert set(rule) == {"alert", "expr", "labels", "annotations"}
    assert rule["labels"] == {"severity": "warning", label_key: label_value}
    assert rule["annotations"] == {"summary": summary}

    compose = yaml.safe_load(bundle.files[COMPOSE_FILE])
    svc = compose["services"]["prometheus"]
    assert set(compose) == {"services"}
    # Compose interpolates $: a literal dollar is written $$ and reads back as one.
    assert svc["environment"]["VALUE"].replace("$$", "$") == env_value
    assert svc["labels"]["x.y"].replace("$$", "$") == label_value
