"""Celery tasks: thin wrappers that load a row and call one function."""
