"""POST /webhooks/git/<slug>/: a forge's push webhook for a stack that follows
Git. No login and no CSRF token: the signature is the authentication (GitHub's
X-Hub-Signature-256, Gitea/Forgejo's X-Gitea-Signature, GitLab's
X-Gitlab-Token, against the stack's own secret; stacks.lib.forge_signatures).
Anything unsigned or wrongly signed is 401/403 and changes nothing. A push only
says "something changed": the sync fetches the repository itself."""
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from stacks.lib.forge_signatures import Unsigned, event, pushed_ref, verify
from stacks.models import GitSource
from stacks.tasks import sync_git
from stacks.views.guards import BodyTooLarge, body_limit, read_body

log = logging.getLogger(__name__)


@csrf_exempt
@login_not_required
@require_POST
@body_limit("GIT_WEBHOOK_MAX_BYTES")  # forges send push payloads larger than an anonymous request may be
def git_webhook(request, slug):
    limit = settings.GIT_WEBHOOK_MAX_BYTES
    try:
        body = read_body(request, limit)  # Content-Length or chunked
    except BodyTooLarge:
        return JsonResponse({"error": f"The body is larger than {limit} bytes."}, status=413)
    source = GitSource.objects.select_related("stack").filter(stack__slug=slug).first()
    try:
        # An unknown stack answers as a wrong signature does: the URL says nothing about which stacks exist.
        forge = verify(request.headers, body, source.webhook_secret if source else "")
    except Unsigned as exc:
        log.warning("Git webhook for %s refused (%s): %s", slug, exc.status, exc.message)
        return JsonResponse({"error": exc.message}, status=exc.status)
    name = event(request.headers, forge)
    if name == "ping":
        return JsonResponse({"ok": "pong"})
    if name != "push":
        return JsonResponse({"ignored": f"{name} events do nothing"}, status=202)
    ref = pushed_ref(body)
    if ref is not None and ref != f"refs/heads/{source.branch}":
        return JsonResponse({"ignored": f"{ref} is not {source.branch}"}, status=202)
    delivery = (request.headers.get("X-GitHub-Delivery") or request.headers.get("X-Gitea-Delivery")
                or request.headers.get("X-Gitlab-Event-UUID") or "")[:100]
    if delivery and delivery == source.last_delivery:
        return JsonResponse({"ignored": "this delivery was handled already"}, status=202)
    GitSource.objects.filter(pk=source.pk).update(last_delivery=delivery)
    sync_git.delay_on_commit(source.stack_id)
    return JsonResponse({"queued": f"sync of {slug}"}, status=202)
