"""The Docker seam's error: what went wrong on an engine, in plain words, and
whether trying again can help (`permanent`)."""
from stacks.lib.errors import SeamError


class EngineError(SeamError):
    """A Docker engine refused, failed or could not be reached."""
