"""Image registries and what they said: the credentials every pull uses (a
secret: never shown on a page nor written to a log), and the last update check
of each image reference in use."""
from django.core.exceptions import ValidationError
from django.db import models

from stacks.lib.imageref import parse, registry_host
from stacks.models.validators import compose_name


class Registry(models.Model):
    """A registry images are pulled from, with the login the engines use for it
    (docker-py's auth_config on every pull, X-Registry-Auth for Swarm's nodes)
    and the update check uses to ask it for digests and tags."""

    name = models.CharField(max_length=63, unique=True, validators=[compose_name])
    url = models.CharField(max_length=255, help_text="https://host[:port] (Docker Hub: https://docker.io).")
    username = models.CharField(max_length=255, blank=True)
    # The password or token: a secret, never shown (the admin only replaces it).
    password = models.TextField(blank=True, editable=False)
    ca_cert = models.TextField(blank=True, help_text="PEM of the CA that signed the registry's certificate, when "
                               "it is not a public one (the update check trusts it; dockerd trusts "
                               "/etc/docker/certs.d/HOST/ca.crt).")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "registries"

    def __str__(self):
        return f"{self.name} ({self.host})"

    def clean(self):
        if not self.url or " " in self.url.strip():
            raise ValidationError({"url": "Give the registry as https://host[:port]."})
        clash = Registry.objects.exclude(pk=self.pk).filter(url__icontains=self.host)
        if any(other.host == self.host for other in clash):
            raise ValidationError({"url": f"Another registry row already holds {self.host}."})

    @property
    def host(self):
        return registry_host(self.url)

    @property
    def has_login(self):
        return bool(self.username)

    def auth(self):
        """Plain values the engine and the seam take: docker-py's auth_config."""
        return {"username": self.username, "password": self.password, "serveraddress": self.host,
                "ca_pem": self.ca_cert}

    @classmethod
    def auth_for(cls, references):
        """{registry host: auth()} for the registries `references` name that have a row."""
        hosts = {parse(ref).registry for ref in references if ref}
        return {r.host: r.auth() for r in cls.objects.all() if r.host in hosts}


class ImageCheck(models.Model):
    """What the registry said about an image reference in use, at the last check:
    the digest its tag points to now, and its newer version tags."""

    reference = models.CharField(max_length=255, unique=True)
    digest = models.CharField(max_length=80, blank=True, help_text="sha256:… the tag points to in the registry.")
    newer_tags = models.JSONField(default=list, blank=True, help_text="Newer version tags (any), newest first.")
    requests = models.PositiveIntegerField(default=0, help_text="HTTP requests the last check made.")
    error = models.TextField(blank=True)
    checked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["reference"]

    def __str__(self):
        return self.reference
