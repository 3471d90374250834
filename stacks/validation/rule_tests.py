"""Alert rules tested before they ship: each rule's test cases (AlertRule.tests, in
the form `promtool test rules` takes) run against that rule alone, with the real
promtool, on admin save, before every deploy and from `manage.py stack test-rules`."""
import hashlib
import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stacks.lib.yamlio import dump_yaml
from stacks.render.prometheus import rules_dict
from stacks.seams import broker
from stacks.seams.tools import run_tool, tool_message


class RuleTestsUnavailable(RuntimeError):
    """promtool is not installed: the tests could not run."""


def tests_document(rule, evaluation_interval):
    return {"rule_files": ["rule.yml"], "evaluation_interval": evaluation_interval, "tests": list(rule.tests)}


def run(rule, evaluation_interval=None):
    """promtool's verdict on one rule's test cases: '' when they pass (or there
    are none), else promtool's own message."""
    if not rule.tests:
        return ""
    if shutil.which("promtool") is None:
        raise RuleTestsUnavailable("promtool is not installed: rule tests cannot run.")
    interval = evaluation_interval or rule.stack.evaluation_interval
    files = {"rule.yml": dump_yaml(rules_dict([rule])), "tests.yml": dump_yaml(tests_document(rule, interval))}
    key = "panel:rule-tests:" + hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    kept = _kept(key)
    if kept is not None:  # the same rule and cases gave this verdict: a redeploy does not run promtool again
        return kept.decode()
    with tempfile.TemporaryDirectory(prefix="panel-rule-tests-") as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text)
        code, output = run_tool(["promtool", "test", "rules", "tests.yml"], tmp)
    verdict = "" if code == 0 else tool_message(output, tmp) or "promtool test rules failed"
    if "did not answer" not in verdict:
        _keep(key, verdict)
    return verdict


def _kept(key):
    try:
        return broker.get(key)
    except broker.BrokerError:
        return None


def _keep(key, verdict):
    try:
        broker.put(key, verdict, 86400)
    except broker.BrokerError:
        pass


def run_stack(stack):
    """[(rule, message)] for every enabled rule of the stack whose tests fail."""
    rules = [r for r in stack.alert_rules.filter(enabled=True) if r.tests]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda r: run(r, stack.evaluation_interval), rules))
    return [(rule, message) for rule, message in zip(rules, results) if message]


def count(stack):
    return sum(len(r.tests) for r in stack.alert_rules.filter(enabled=True))
