"""Requesting an operation: the row is recorded (Deployment.objects.record),
audited, and its work started once the transaction commits. How to start it is
passed in by the caller (the tasks layer's run_operation.delay_on_commit), as
NetBox's Job.enqueue takes the function to run."""
from django.db import transaction

from stacks.accounts import audit
from stacks.models import Deployment
from stacks.operations.verbs import named


def request(stack, action, start, user=None, options=None, plan=None):
    """Record `action` on `stack` and start(deployment_id) on commit (a deploy with
    the plan its operator confirmed, if any). Raises Busy while another operation
    is queued or running, ValueError for a verb that does not exist."""
    named(action)
    with transaction.atomic():
        deployment = Deployment.objects.record(stack, action, user=user, options=options, plan=plan)
        audit.record(action, f"stack {stack.slug}", user=user, detail=f"operation #{deployment.pk} {options or ''}")
        start(deployment.pk)
    return deployment
