"""Push webhooks as each forge signs them, checked over the raw body before
anything parses it (constant-time compares):

    GitHub          X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
    Gitea, Forgejo  X-Gitea-Signature / X-Forgejo-Signature: <hex HMAC-SHA256(secret, body)>
    GitLab          X-Gitlab-Token: <the secret itself>

verify() says which forge signed it, or why not: 401 when no known signature
header is there, 403 when one is and does not match."""
import hashlib
import hmac
import json


class Unsigned(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def _hex(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(headers, body, secret):
    """The forge's name when `body` was signed with `secret`; Unsigned otherwise.
    `headers` is case-insensitive (Django's request.headers)."""
    if not secret:
        raise Unsigned(403, "This stack has no webhook secret.")
    github = headers.get("X-Hub-Signature-256")
    if github is not None:
        if hmac.compare_digest(github.encode(), ("sha256=" + _hex(secret, body)).encode()):
            return "github"
        raise Unsigned(403, "X-Hub-Signature-256 does not match the stack's webhook secret.")
    gitea = headers.get("X-Gitea-Signature") or headers.get("X-Forgejo-Signature")
    if gitea is not None:
        if hmac.compare_digest(gitea.encode(), _hex(secret, body).encode()):
            return "gitea"
        raise Unsigned(403, "X-Gitea-Signature does not match the stack's webhook secret.")
    gitlab = headers.get("X-Gitlab-Token")
    if gitlab is not None:
        if hmac.compare_digest(gitlab.encode(), secret.encode()):
            return "gitlab"
        raise Unsigned(403, "X-Gitlab-Token is not the stack's webhook secret.")
    raise Unsigned(401, "Unsigned: send X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token.")


def event(headers, forge):
    """push, ping, or another event's name."""
    if forge == "github":
        return headers.get("X-GitHub-Event", "push")
    if forge == "gitea":
        return headers.get("X-Gitea-Event") or headers.get("X-Forgejo-Event") or "push"
    name = headers.get("X-Gitlab-Event", "Push Hook")
    return "push" if name == "Push Hook" else name


def pushed_ref(body):
    """The ref a (verified) push names, or None when the body does not say. Only
    used to skip other branches: the commit itself is always fetched."""
    try:
        ref = json.loads(body).get("ref")
    except (ValueError, AttributeError):
        return None
    return ref if isinstance(ref, str) else None
