"""The layers the README draws hold: import-linter's contracts pass, no import
cycle counting imports inside functions, few function-local imports (each with
its reason), no module over 600 lines, one registry of operation verbs."""
import ast
import subprocess
from graphlib import CycleError, TopologicalSorter

import pytest

from stacks.models import Deployment, Stack
from stacks.operations import verbs
from stacks.tests.conftest import ROOT

PACKAGES = ("stacks", "controlpanel")


def project_modules():
    """{module name: path} of the project's code (tests and migrations aside)."""
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if {"tests", "migrations"} & set(rel.parts):
                continue
            name = ".".join(rel.with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def imports_of(name, path, modules):
    """[(imported project module, line, inside a function)] of one module."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    target = f"{child.module}.{alias.name}"
                    target = target if target in modules else child.module
                    if target in modules:
                        found.append((target, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names if a.name in modules)
            visit(child, nested)

    visit(tree, False)
    return found


def test_it_keeps_the_layer_contracts():
    lint = ROOT / ".venv" / "bin" / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_it_has_no_import_cycle_counting_imports_inside_functions():
    modules = project_modules()
    graph = {name: {t for t, _, _ in imports_of(name, path, modules) if t != name} for name, path in modules.items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_it_keeps_function_local_imports_few_and_explained():
    modules = project_modules()
    local = []
    for name, path in modules.items():
        lines = path.read_text().splitlines()
        for target, lineno, inside in imports_of(name, path, modules):
            if inside:
                local.append((name, lineno, target, lines[lineno - 1]))
    assert len(local) <= 40, local
    unexplained = [(n, line) for n, line, _, text in local if "#" not in text]
    assert not unexplained, f"a function-local import says why (start-up time, apps not ready): {unexplained}"


def test_no_module_is_over_600_lines():
    long = {name: n for name, path in project_modules().items() if (n := len(path.read_text().splitlines())) > 600}
    assert not long


def test_it_refuses_an_operation_no_verb_names(db):
    stack = Stack.objects.create(slug="verbs", name="verbs")
    with pytest.raises(ValueError, match=r"Unknown operation 'explode' \(operations: deploy, stop, down, restart, delete\)"):
        verbs.named("explode")
    from stacks.tasks import request_operation

    with pytest.raises(ValueError, match="Unknown operation 'explode'"):
        request_operation(stack, "explode")
    assert not Deployment.objects.filter(stack=stack).exists()


def test_a_new_verb_is_one_entry(db, monkeypatch, as_operator):
    """A verb registered in stacks.operations.verbs is offered by the page's action
    URL and carried out by the executor, with no other edit."""
    ran = []
    monkeypatch.setitem(verbs.VERBS, "touch", verbs.Verb("touch", lambda d, backend, report: (ran.append(d.pk),
                                                                                             report("touched"))))
    monkeypatch.setattr("stacks.tasks.run_operation.delay_on_commit", lambda pk: None)  # carried out below
    stack = Stack.objects.create(slug="verbs", name="verbs")
    response = as_operator.post(f"/stacks/{stack.slug}/touch/")
    assert response.status_code == 302
    deployment = Deployment.objects.get(stack=stack)
    assert deployment.action == "touch" and deployment.status == "queued"
    from stacks.operations.execute import execute

    monkeypatch.setattr("stacks.operations.execute.poll_one", lambda stack: None)  # nothing deployed to poll
    execute(deployment)
    deployment.refresh_from_db()
    assert ran == [deployment.pk] and deployment.status == "succeeded", deployment.error
    assert [s.message for s in deployment.steps.all()] == ["touched", "Touch finished"]
    assert as_operator.post(f"/stacks/{stack.slug}/explode/").status_code == 400


@pytest.mark.celery
@pytest.mark.postgres
def test_a_task_queued_by_name_before_the_upgrade_still_runs(transactional_db, celery_worker, settings):
    """Messages an older install left in Redis name the tasks as before
    (stacks.tasks.run_operation): the worker still runs them."""
    from controlpanel.celery import app
    from stacks.tests.conftest import wait_until

    stack = Stack.objects.create(slug="renamed", name="renamed")
    deployment = Deployment.objects.create(stack=stack, action="stop")
    app.send_task("stacks.tasks.run_operation", (deployment.pk,), queue=stack.engine.queue)

    def done():
        deployment.refresh_from_db()
        return deployment.is_done

    wait_until(done, 60, 0.3, what="the queued operation")
    assert deployment.status == "succeeded", deployment.error
