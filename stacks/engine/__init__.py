"""The Docker engine seam: everything that talks to Docker lives in this package.
It never imports the models: rows come in as plain values (Desired, an engine
row's address through connect.py).

    plan.py          Desired + Observed → Plan, pure
    service.py       one service: hash, convergence (pure); container.py: its docker-py spec
    parallel.py      work along the dependency graph (graphlib)
    apply.py         a Plan carried out
    operations.py    stop, down, restart, status, log streams, projects on the engine
    base.py          the Backend protocol and what backends share
    compose_backend.py, swarm.py (+ swarm_plan, swarm_spec)   the two backends
    backend.py       which backend for an engine row's kind
    client.py        the Docker client and its errors in the user's words (errors.py: EngineError)
    connect.py       one client per engine row; which engine the current work is on
    reload.py        Prometheus/Alertmanager POST /-/reload"""
