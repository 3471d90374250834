"""gunicorn's logger for the panel: what it writes never carries a query
string, a Referer or a password-reset token, since tokens travel there
(`?token=` of a plan, a reset link). bin/serve and the Dockerfile use it
through controlpanel/gunicorn.conf.py."""
import re

from gunicorn.glogging import Logger

# "/accounts/reset/<uid>/<token>/"; Django then moves to ".../set-password/", which stays.
_RESET_TOKEN = re.compile(r"(/reset/[^/]+/)(?!set-password/)[^/]+/")
# A query string after a path, in any message ("Error handling request /x?token=…").
_QUERY = re.compile(r"(/[^\s?'\"]*)\?[^\s'\"]*")


def clean_path(path):
    return _RESET_TOKEN.sub(r"\1…/", path.split("?", 1)[0])


def clean_text(text):
    return _RESET_TOKEN.sub(r"\1…/", _QUERY.sub(r"\1?…", text))


class PanelLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = clean_path(atoms["U"])
        atoms.update(U=path, q="", r=f"{atoms['m']} {path} {atoms['H']}", f="-")
        for key in ("{referer}i", "{authorization}i", "{cookie}i", "{raw_uri}e", "{query_string}e"):
            atoms.pop(key, None)
        return atoms

    def _clean(self, args):
        return tuple(clean_text(a) if isinstance(a, str) else a for a in args)

    def critical(self, msg, *args, **kwargs):
        super().critical(clean_text(str(msg)), *self._clean(args), **kwargs)

    def error(self, msg, *args, **kwargs):
        super().error(clean_text(str(msg)), *self._clean(args), **kwargs)

    def warning(self, msg, *args, **kwargs):
        super().warning(clean_text(str(msg)), *self._clean(args), **kwargs)

    def info(self, msg, *args, **kwargs):
        super().info(clean_text(str(msg)), *self._clean(args), **kwargs)

    def debug(self, msg, *args, **kwargs):
        super().debug(clean_text(str(msg)), *self._clean(args), **kwargs)

    def exception(self, msg, *args, **kwargs):
        super().exception(clean_text(str(msg)), *self._clean(args), **kwargs)

    def log(self, lvl, msg, *args, **kwargs):
        super().log(lvl, clean_text(str(msg)), *self._clean(args), **kwargs)
