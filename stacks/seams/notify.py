"""Notification URLs, through Apprise (one maintained library for Slack, Teams,
e-mail, ntfy, Matrix, Discord, JSON webhooks and the rest): the one module that
sends to them. A failure is a NotifyError in Apprise's own words, which name
the service and host, never the URL's token."""
from stacks.lib.errors import SeamError

TIMEOUT = 10  # seconds per notification
KINDS = ("info", "success", "warning", "failure")  # Apprise's notify types


class NotifyError(SeamError):
    pass


def _apprise():
    import apprise  # loaded when sending: its ~100 service plugins cost 0.4 s at every start otherwise

    return apprise.Apprise()


def valid(url):
    """Whether Apprise knows the URL's scheme and can read it."""
    return _apprise().add(url)


def send(url, title, body, kind="info"):
    sender = _apprise()
    if not sender.add(url):
        raise NotifyError("Apprise cannot read this notification URL (unknown scheme or missing parts).",
                          permanent=True)
    result = sender.notify(body=body, title=title, notify_type=kind if kind in KINDS else "info",
                           timeout=TIMEOUT)
    if not result:
        words = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")]
        raise NotifyError("; ".join(dict.fromkeys(words)) or "Apprise could not deliver the notification.")
