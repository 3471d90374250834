"""Engines: where stacks run."""
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from stacks.engine.addresses import address_problem
from stacks.models.validators import compose_name


class Engine(models.Model):
    """A Docker engine stacks run on: the local socket, a remote engine over TLS
    or SSH, or a Swarm cluster reached through one of its managers. Work for it
    goes to Celery queue `engine.NAME`, served by any worker that can reach it."""

    name = models.CharField(max_length=63, unique=True, validators=[compose_name])
    docker_host = models.CharField(max_length=255, blank=True,
                                   help_text="unix://, tcp:// or ssh:// address; empty means the worker's own "
                                             "engine (DOCKER_HOST or the local socket).")
    swarm = models.BooleanField(default=False, help_text="Deploy stacks as Swarm services (through a manager).")
    # TLS client material for tcp://; secrets: never shown on pages or in logs.
    tls_ca = models.TextField(blank=True, editable=False)
    tls_cert = models.TextField(blank=True, editable=False)
    tls_key = models.TextField(blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.docker_host and not self.docker_host.startswith(("unix://", "tcp://", "ssh://")):
            raise ValidationError({"docker_host": "Use unix:///path, tcp://host:port or ssh://user@host."})
        if problem := address_problem(self.docker_host):
            raise ValidationError({"docker_host": problem})
        if any((self.tls_ca, self.tls_cert, self.tls_key)) and not all((self.tls_ca, self.tls_cert, self.tls_key)):
            raise ValidationError("TLS needs the CA, the client certificate and its key together.")

    @property
    def queue(self):
        """The Celery queue its work goes to (a prefix keeps test runs apart)."""
        return f"{settings.PANEL_ENGINE_QUEUE_PREFIX}engine.{self.name}"

    @property
    def backend(self):
        """Which engine backend deploys its stacks (stacks.engine.get_backend)."""
        return "swarm" if self.swarm else "compose"

    @property
    def uses_tls(self):
        return bool(self.tls_cert)

    @property
    def address(self):
        return self.docker_host or "local socket"

    @property
    def published_host(self):
        """Where ports its stacks publish answer: the engine's host for a remote
        engine, STACKS_HOST for the worker's own."""
        if self.docker_host.startswith(("tcp://", "ssh://")):
            return urlsplit(self.docker_host).hostname or settings.STACKS_HOST
        return settings.STACKS_HOST


def default_engine():
    """Stacks belong to the local engine unless told otherwise."""
    return Engine.objects.get_or_create(name="local")[0].pk


