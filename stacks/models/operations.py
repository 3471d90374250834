"""What happened: each operation (deploy, stop, down, restart) and its steps."""
from django.conf import settings
from django.db import models
from django.utils import timezone

from stacks.models.definitions import Stack
from stacks.seams import broker, live


class Busy(ValueError):
    """Another operation of the stack is under way (or cannot be checked)."""


class PlanChanged(ValueError):
    """The plan a deploy would apply is not the one its operator confirmed."""


class DeploymentQuerySet(models.QuerySet):
    def record(self, stack, action, user=None, options=None, plan=None):
        """Record an operation of `stack`, queued: the row half of a request (the
        operations layer audits it and starts the work once it is committed). Call
        inside a transaction. Raises Busy while another one is queued or running; a
        running one whose worker died (its lock expired) is failed first, so that
        the next deploy can converge."""
        Stack.objects.select_for_update().filter(pk=stack.pk).first()
        active = stack.deployments.filter(status__in=[Deployment.QUEUED, Deployment.RUNNING]).first()
        if active is not None:
            try:
                held = broker.lock_held(stack.slug)
            except broker.BrokerError as exc:
                raise Busy(f"Operations cannot be queued: {exc}") from None
            if active.status == Deployment.RUNNING and not held:
                active.fail("The worker running this operation stopped before it finished.")
            else:
                raise Busy(f"{active.action} of {stack.slug} (#{active.pk}) is {active.status}; "
                           "wait for it to finish.")
        return self.create(stack=stack, action=action, requested_by=user, options=options or {}, plan=plan or {},
                           engine_name=stack.engine.name)


class Deployment(models.Model):
    QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
    STATUSES = [(v, v) for v in (QUEUED, RUNNING, SUCCEEDED, FAILED)]

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="deployments")
    # A verb of stacks.operations.verbs (the registry, checked when one is requested).
    action = models.CharField(max_length=10, default="deploy")
    options = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    bundle_hash = models.CharField(max_length=64, blank=True)
    files = models.JSONField(default=dict, blank=True, help_text="The rendered bundle, secrets masked.")
    # The plan it applied (engine.plan.recorded); until a worker takes it, the one confirmed.
    plan = models.JSONField(default=dict, blank=True, help_text="The plan it applied (engine/plan.py as_dict).")
    error = models.TextField(blank=True)
    # The definition it applied (a deploy; a rollback restores one as a new version first).
    version = models.ForeignKey("stacks.StackVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="deployments")
    # What ran, per service, once applied: {service: {"image": reference as rendered, "id": "sha256:…",
    # "digest": "repo@sha256:…" or "" for an image built or imported here}}. Rollbacks and image
    # updates read it.
    images = models.JSONField(default=dict, blank=True)
    engine_name = models.CharField(max_length=63, blank=True, help_text="The engine it ran on.")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.action} {self.stack.slug} #{self.pk}"

    @property
    def finished_ok(self):
        return self.status == self.SUCCEEDED

    @property
    def is_done(self):
        return self.status in (self.SUCCEEDED, self.FAILED)

    @property
    def events_stream(self):
        """Its Redis stream of steps and statuses (broker.events); named by its
        creation time too, as numbers start over with a new database."""
        return f"panel:operation:{self.pk}:{self.created.timestamp():.6f}"

    def log(self, message, kind="info"):
        step = DeploymentStep.objects.create(deployment=self, message=message[:2000], kind=kind)
        broker.notify(self.pk, self.events_stream, at=f"{step.at:%H:%M:%S}", message=step.message, kind=kind)
        return step

    def claim(self):
        """queued → running, once: whoever flips it carries the operation out."""
        now = timezone.now()
        if Deployment.objects.filter(pk=self.pk, status=self.QUEUED).update(status=self.RUNNING, started=now) != 1:
            return False
        self.status, self.started = self.RUNNING, now
        broker.notify(self.pk, self.events_stream, status=self.RUNNING)
        live.publish(*live.stack_topics(self.stack.slug))
        return True

    def finish(self):
        self.log(f"{self.action.capitalize()} finished")
        self._end(self.SUCCEEDED)

    def fail(self, error):
        """Record why it failed, in plain words (an exception or a sentence)."""
        self.error = str(error)
        self.log(self.error, "error")
        self._end(self.FAILED)

    def _end(self, status):
        self.status, self.finished = status, timezone.now()
        self.save(update_fields=["status", "error", "finished", "started"])
        broker.notify(self.pk, self.events_stream, status=status, error=self.error)
        live.publish(*live.stack_topics(self.stack.slug))

    @property
    def plan_changed(self):
        """Refused because the plan changed since it was confirmed (take_plan)."""
        confirmed = self.options.get("plan")
        return bool(confirmed and self.plan.get("id") and self.plan["id"] != confirmed)

    @property
    def rollback_of(self):
        """The deployment this one rolled back to (a deploy with options["rollback_to"])."""
        return self.options.get("rollback_to")

    def previous(self):
        return (Deployment.objects.filter(stack=self.stack, action="deploy", id__lt=self.id)
                .exclude(files={}).order_by("-id").first())


class DeploymentStep(models.Model):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=10, default="info")  # info, progress, error
    message = models.TextField()

    class Meta:
        ordering = ["id"]


