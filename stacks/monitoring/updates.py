"""Image updates found: each image a deployed service runs is asked of its
registry (a manifest HEAD per tag; its tag list when the service takes newer
version tags), concurrently with a limit per registry; what the registry said
is an ImageCheck row. A service has an update when its tag now points to
another digest than the one its last deployment ran, or when a newer version
tag within its policy exists. What runs is read from Deployment.images only.

Applying one is a deploy with options["update"] (operations/verbs.py): the
services with an update are pinned to the digest found, so the plan recreates
exactly those."""
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from stacks.lib import imageref
from stacks.lib.update_window import contains
from stacks.models import Deployment, ImageCheck, Registry, Service, Stack
from stacks.seams.registry import Registry as RegistryClient
from stacks.seams.registry import RegistryError

PER_REGISTRY = 4  # requests in flight per registry (Docker Hub limits by address)


@dataclass
class ServiceImage:
    """One service of a stack, the image its last deployment ran, and what the registry says now."""
    service: str
    policy: str
    tags_policy: str
    reference: str
    ran: str  # repo@sha256:… it ran ("" for an image built or imported here)
    latest: str = ""  # sha256:… the tag points to now
    newer_tags: list = field(default_factory=list)
    error: str = ""
    checked: object = None
    rolled_back: bool = False  # `latest` is a digest a rollback that still runs took the stack away from

    @property
    def ran_digest(self):
        return self.ran.partition("@")[2]

    @property
    def moved(self):
        """The tag points to another image than the one that runs."""
        return bool(self.latest and self.ran_digest and self.latest != self.ran_digest)

    @property
    def available(self):
        return self.policy != "off" and (self.moved or bool(self.newer_tags))

    @property
    def pin(self):
        """The reference an update deploys: the digest the tag points to now."""
        return imageref.parse(self.reference).with_digest(self.latest) if self.moved else ""


# --- What runs ------------------------------------------------------------------------

def last_deploys(stacks):
    """{stack id: the last successful deploy that recorded its images}."""
    latest = (Deployment.objects.filter(stack=OuterRef("pk"), action="deploy", status=Deployment.SUCCEEDED)
              .exclude(images={}).order_by("-id").values("id")[:1])
    ids = [i for i in Stack.objects.filter(pk__in=[s.pk for s in stacks])
           .annotate(last=Subquery(latest)).values_list("last", flat=True) if i]
    return {d.stack_id: d for d in Deployment.objects.filter(pk__in=ids)}


def service_images(stacks):
    """{stack id: [ServiceImage]} of every service its last deploy ran, with the last check's answer."""
    deploys = last_deploys(stacks)
    rows = {}
    for svc in Service.objects.filter(stack__in=list(stacks)).only("stack_id", "name", "update_policy",
                                                                    "update_tags"):
        rows[(svc.stack_id, svc.name)] = svc
    out = {s.pk: [] for s in stacks}
    refs = set()
    for stack_id, deployment in deploys.items():
        for name, ran in sorted(deployment.images.items()):
            svc = rows.get((stack_id, name))
            if svc is None or not ran.get("image"):
                continue
            out[stack_id].append(ServiceImage(name, svc.update_policy, svc.update_tags, ran["image"],
                                              ran.get("digest", "")))
            refs.add(ran["image"])
    checks = {c.reference: c for c in ImageCheck.objects.filter(reference__in=refs)}
    for images in out.values():
        for item in images:
            check = checks.get(item.reference)
            if check:
                item.latest, item.error, item.checked = check.digest, check.error, check.checked
                item.newer_tags = imageref.newer_tags(imageref.parse(item.reference).tag, check.newer_tags,
                                                      item.tags_policy) if item.tags_policy else []
    return out


def updates_of(stack):
    """[ServiceImage] of one stack (the stack page, `stack updates`)."""
    images = service_images([stack])[stack.pk]
    refused = rolled_back_from(stack)
    for item in images:
        item.rolled_back = item.moved and item.latest in refused.get(item.service, ())
    return images


def available_by_stack(stacks):
    """{stack id: names of its services with an update} (the overview)."""
    return {sid: [i.service for i in images if i.available] for sid, images in service_images(stacks).items()}


def checkable(stacks=None):
    """{reference: wants its tag list} of the images deployed services run from a
    registry, skipping services whose policy is off."""
    stacks = list(stacks if stacks is not None else Stack.objects.all())
    out = {}
    for images in service_images(stacks).values():
        for item in images:
            if item.policy == "off" or not item.ran:
                continue  # built or imported here: no registry to ask
            out[item.reference] = out.get(item.reference, False) or bool(item.tags_policy)
    return out


# --- Asking the registries --------------------------------------------------------------

def clients(hosts):
    """{host: seams.registry.Registry} with each registry's stored login."""
    rows = {r.host: r for r in Registry.objects.all()}
    out = {}
    for host in hosts:
        row = rows.get(host)
        out[host] = (RegistryClient(host, row.username, row.password, row.ca_cert, pool=PER_REGISTRY) if row
                     else RegistryClient(host, pool=PER_REGISTRY))
    return out


def ask(references, registries, limit=PER_REGISTRY):
    """{reference: (digest, newer tags, error, requests)} for {reference: wants
    tags}, asking `registries` ({host: client}); each registry's references run
    `limit` at a time, all registries at once. A repository's tag list is asked once."""
    by_host = {}
    for ref, wants_tags in references.items():
        by_host.setdefault(imageref.parse(ref).registry, []).append((ref, wants_tags))
    results, tag_lists, lock = {}, {}, threading.Lock()

    def tags_of(client, repository):
        with lock:
            entry = tag_lists.setdefault((client.host, repository), {"lock": threading.Lock(), "tags": None})
        with entry["lock"]:
            if entry["tags"] is None:
                entry["tags"] = client.tags(repository)
        return entry["tags"]

    def one(client, ref, wants_tags):
        parsed, before = imageref.parse(ref), client.requests
        try:
            digest = client.digest(parsed.repository, parsed.tag or "latest")
            newer = []
            if wants_tags and imageref.semver(parsed.tag):
                newer = imageref.newer_tags(parsed.tag, tags_of(client, parsed.repository), "any")
            results[ref] = (digest, newer, "", client.requests - before)
        except RegistryError as exc:
            results[ref] = ("", [], str(exc), client.requests - before)

    def host_batch(host, items):
        with ThreadPoolExecutor(max_workers=limit) as pool:
            list(pool.map(lambda item: one(registries[host], *item), items))

    with ThreadPoolExecutor(max_workers=max(1, len(by_host))) as pool:
        list(pool.map(lambda kv: host_batch(*kv), by_host.items()))
    return results


def check(stacks=None):
    """Ask the registries about every image the stacks' services run and keep the
    answers (ImageCheck rows). {reference: ImageCheck}."""
    references = checkable(stacks)
    if not references:
        return {}
    answers = ask(references, clients({imageref.parse(r).registry for r in references}))
    now, out = timezone.now(), {}
    for ref, (digest, newer, error, count) in answers.items():
        defaults = {"newer_tags": newer, "error": error, "requests": count, "checked": now}
        if digest or not error:
            defaults["digest"] = digest  # a failed check keeps the last digest known
        out[ref] = ImageCheck.objects.update_or_create(reference=ref, defaults=defaults)[0]
    return out


# --- Applying --------------------------------------------------------------------------

def pins(stack, services=None):
    """{service: repo@sha256:…} of the services of `stack` whose tag moved (all, or
    those named): what an update deploys."""
    found = {i.service: i.pin for i in updates_of(stack) if i.moved and i.policy != "off"}
    if services:
        unknown = sorted(set(services) - set(found))
        if unknown:
            raise ValueError(f"No update to apply for {', '.join(unknown)} in {stack.slug} "
                             "(`stack updates SLUG --check` asks the registries again).")
        found = {s: p for s, p in found.items() if s in services}
    return found


def due(now=None):
    """[(stack, {service: pin})] of the updates to apply now: services whose
    policy is apply, inside their window."""
    now = timezone.localtime(now or timezone.now())
    windows = dict(Service.objects.filter(update_policy="apply").values_list("id", "update_window"))
    if not windows:
        return []
    stacks = list(Stack.objects.filter(services__id__in=list(windows)).distinct())
    out = []
    for stack in stacks:
        wanted = {s.name: s.update_window for s in stack.services.filter(update_policy="apply")}
        ready = {i.service: i.pin for i in updates_of(stack)
                 if i.service in wanted and i.moved and not i.rolled_back and contains(wanted[i.service], now)}
        if ready:
            out.append((stack, ready))
    return out


def rolled_back_from(stack):
    """{service: {sha256:…}} the digests a rollback took the stack away from,
    while that rollback is what runs: an automatic update does not bring them
    back behind the team's back (they stay listed, and can be applied by hand).
    A digest pushed since, or any deploy after the rollback, ends this."""
    done = Deployment.objects.filter(stack=stack, action="deploy", status=Deployment.SUCCEEDED).exclude(images={})
    last = done.order_by("-id").first()
    target = (last.options or {}).get("rollback_to") if last else None
    if not target:
        return {}
    refused = {}
    for images in done.filter(id__gt=target, id__lt=last.id).values_list("images", flat=True):
        for service, ran in images.items():
            if _digest(ran) and _digest(ran) != _digest(last.images.get(service)):
                refused.setdefault(service, set()).add(_digest(ran))
    return refused


def _digest(ran):
    """sha256:… of a Deployment.images entry ("" for an image with no registry digest)."""
    return str((ran or {}).get("digest") or "").partition("@")[2]


def still_valid(stack, requested):
    """The pins of an update deploy, checked against the stack as it is now: each
    service still exists and still names that repository. ValueError otherwise."""
    images = dict(stack.services.values_list("name", "image"))
    for service, pin in requested.items():
        if service not in images:
            raise ValueError(f"Service {service} is no longer in {stack.slug}: its update was not applied.")
        if images[service] and imageref.parse(images[service]).name != imageref.parse(pin).name:
            raise ValueError(f"Service {service} now runs {images[service]}, not {pin.split('@')[0]}: "
                             "its update was not applied.")
    return requested
