"""The Docker engine seam: everything that talks to Docker lives in this package.

    composefile (stacks/)  ports, names, the depends_on graph — pure, shared
    plan.py      Desired + Observed → Plan, pure
    service.py   one service: hash, convergence, Compose → docker-py (pure)
    parallel.py  work along the dependency graph (graphlib)
    apply.py     a Plan carried out
    operations.py stop, down, restart, status, log streams
    backend.py   the Backend seam — observe / plan / apply / operations; what backends share
    swarm.py     the Swarm backend
    client.py    the Docker seam (EngineError); reload.py the /-/reload seam

Names are imported lazily, so a command that needs none of them loads no docker-py."""

_EXPORTS = {
    "EngineError": "client", "stack_status": "operations", "stop": "operations", "down": "operations",
    "restart_service": "operations", "log_stream": "operations",
    "compose_projects": "operations", "record_adoption": "operations",
    "get_backend": "backend", "Desired": "plan", "Plan": "plan",
}


def __getattr__(name):
    import importlib

    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(name)


def plan_deploy(project, directory, bundle, roles, backend="compose"):
    """What deploying `bundle` would do now: observed, then planned; changes nothing."""
    from stacks.engine.backend import get_backend
    from stacks.engine.plan import Desired

    engine = get_backend(backend)
    desired = Desired.from_bundle(project, directory, bundle, roles)
    return engine.plan(desired, engine.observe(desired))


def deploy(project, directory, bundle, roles, report, backend="compose"):
    """Observe, plan and apply; returns the plan that was applied."""
    from stacks.engine.backend import get_backend

    the_plan = plan_deploy(project, directory, bundle, roles, backend)
    return get_backend(backend).apply(the_plan, report)
