"""Following an operation from another process: its steps as they are recorded
and its outcome, woken by the Redis notices its worker sends (no timer)."""
import time

from stacks.seams import broker


def wait(deployment, timeout, on_step=None, until_claimed=False):
    """Until `deployment` is done (or, until_claimed, taken by a worker) or
    `timeout` seconds pass; on_step(step) for each step recorded meanwhile. True
    when done."""
    deadline, seen = time.monotonic() + timeout, 0
    with broker.Notices(deployment.pk) as notices:
        while True:
            # Status first, then steps: an operation logs its last step before it ends.
            try:
                deployment.refresh_from_db(fields=["status", "error", "started", "finished"])
            except type(deployment).DoesNotExist:
                # Only a delete that succeeded takes its own row away (with its stack).
                deployment.status = deployment.SUCCEEDED
                return True
            if on_step:
                for step in deployment.steps.filter(id__gt=seen):
                    seen = step.id
                    on_step(step)
            left = deadline - time.monotonic()
            if deployment.is_done or left <= 0 or (until_claimed and deployment.status != deployment.QUEUED):
                return deployment.is_done
            notices.wait(left)
