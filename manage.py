#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    """Run administrative tasks."""
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'controlpanel.settings')
    if sys.argv[1:2] == ['stack']:
        # `stack deploy|down`: asked of a worker without loading Django, when one answers.
        from stacks.management.operation_client import main as ask_a_worker

        code = ask_a_worker(sys.argv)
        if code is not None:
            leave(code)
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Are you sure it's installed and "
            "available on your PYTHONPATH environment variable? Did you "
            "forget to activate a virtual environment?"
        ) from exc
    execute_from_command_line(sys.argv)
    leave()


def leave(code=0):
    """Exit without the interpreter's teardown: module by module and a last garbage
    collection over Django's whole graph, a fifth of a `stack list`. The command is
    over: its database connections are closed and its output flushed here first.
    (A command that fails exits through SystemExit, the usual way.)"""
    import logging

    if 'django.db' in sys.modules:
        from django.db import connections

        connections.close_all()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == '__main__':
    main()
