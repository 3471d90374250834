"""The end of a stack: once its `delete` operation has brought it down, its rows
(services, rules, operations… everything that belongs to it; its alerts stay,
unlinked) and its directory under STACKS_DIR go, and the audit log says so."""
import logging

from django.conf import settings
from django.db import transaction

from stacks.accounts import audit
from stacks.lib.safe_paths import remove_dir
from stacks.seams import live

log = logging.getLogger(__name__)


def forget_stack(stack, deployment):
    slug = stack.slug
    removed = remove_dir(settings.STACKS_DIR, slug)
    with transaction.atomic():
        audit.record("deleted", f"stack {slug}", user=deployment.requested_by,
                     detail=f"by operation #{deployment.pk}; rows removed"
                            f"{f', {settings.STACKS_DIR / slug} removed' if removed else ''}"
                            f"{', volumes kept' if deployment.options.get('keep_volumes') else ''}")
        stack.delete()
    log.info("Stack %s deleted (operation #%s)", slug, deployment.pk)
    live.publish(*live.stack_topics(slug))
