"""Which backend deploys a stack: one entry per kind of engine. Both backends share
the Backend protocol (base.py); the operations layer picks one by the engine row."""
from stacks.engine.compose_backend import ComposeBackend
from stacks.engine.plan import Desired
from stacks.engine.swarm import SwarmBackend

BACKENDS = {"compose": ComposeBackend, "swarm": SwarmBackend}


def get_backend(kind="compose"):
    return BACKENDS[kind]()


def plan_deploy(project, directory, bundle, roles, backend="compose", pins=None, auth=None):
    """What deploying `bundle` would do now: observed, then planned; changes nothing."""
    engine = get_backend(backend)
    desired = Desired.from_bundle(project, directory, bundle, roles, pins, auth)
    return engine.plan(desired, engine.observe(desired))
