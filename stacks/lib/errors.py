"""The one error type every seam raises a subclass of: what went wrong, in the
user's words, and whether trying again can help (healthchecks' TransportError)."""


class SeamError(Exception):
    def __init__(self, message, permanent=False):
        super().__init__(message)
        self.permanent = permanent
