"""gunicorn's logger for the panel (bin/serve and the Dockerfile use it through
controlpanel/gunicorn.conf.py): its access log and its own messages carry no
query string, Referer or password-reset token (controlpanel/logredact.py)."""
from gunicorn.glogging import Logger

from controlpanel.logredact import clean_path, clean_text


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
