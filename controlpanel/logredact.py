"""No query string, Referer or password-reset token in the web server's logs,
since tokens travel there (`?token=` of a plan, a reset link): the rules, used
by gunicorn's logger (controlpanel/serverlog.py) and, as a filter on Django's
log handler (settings.LOGGING), for lines such as "Not Found: /accounts/reset/<uid>/<token>/"."""
import logging
import re

from django.core.exceptions import PermissionDenied

# "/accounts/reset/<uid>/<token>/"; Django then moves to ".../set-password/", which stays.
_RESET_TOKEN = re.compile(r"(/accounts/reset/[^/]+/)(?!set-password/)[^/]+/")
# A query string after a path, in any message ("Error handling request /x?token=…").
_QUERY = re.compile(r"(/[^\s?'\"]*)\?[^\s'\"]*")


def clean_path(path):
    return _RESET_TOKEN.sub(r"\1…/", path.split("?", 1)[0])


def clean_text(text):
    return _RESET_TOKEN.sub(r"\1…/", _QUERY.sub(r"\1?…", text))


class RedactTokens(logging.Filter):
    """On Django's log handler (settings.LOGGING)."""

    def filter(self, record):
        message = record.getMessage()
        cleaned = clean_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class RefusalsInOneLine(logging.Filter):
    """On the django.request logger (settings.LOGGING): a refused request
    (PermissionDenied, 403) is logged as Django words it, "Forbidden (Permission
    denied): /path", without the traceback Django attaches, which says nothing
    about the refusal and buries the real errors."""

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, PermissionDenied):
            record.exc_info, record.exc_text = None, None
        return True
