"""Image references as Docker reads them (distribution/reference): which registry
a reference names, its repository, tag and digest; and semver tags, for the
newer tags an update check may offer. Pure: no I/O."""
import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_SEMVER = re.compile(r"^(v?)(\d+)(?:\.(\d+))?(?:\.(\d+))?$")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port], docker.io for Docker Hub
    repository: str  # path inside the registry (library/x on Docker Hub)
    tag: str  # "" when the reference is by digest only
    digest: str  # "sha256:…" or ""

    @property
    def name(self):
        """The repository as Docker names it locally (no docker.io/library/ prefix)."""
        if self.registry == DOCKER_HUB:
            return self.repository.removeprefix("library/")
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest):
        """repo@sha256:… : the reference that pulls exactly that manifest."""
        return f"{self.name}@{digest}"

    def with_tag(self, tag):
        return f"{self.name}:{tag}"

    def __str__(self):
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse(reference):
    """ImageRef of `reference` (`nginx`, `team/app:1`, `127.0.0.1:5000/x/y:v1`,
    `x@sha256:…`); the first path part is a registry when it has a `.` or a `:`
    or is `localhost`, as Docker decides."""
    rest, _, digest = reference.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag = ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        path, _, tag = path.rpartition(":")
    elif not digest:
        tag = "latest"
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry, path, tag, digest)


def registry_host(url_or_host):
    """host[:port] of a registry given as a URL (https://r.example:5000/) or a host."""
    text = url_or_host.split("://", 1)[-1].strip("/")
    host = text.split("/", 1)[0]
    return DOCKER_HUB if host in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com") else host


def semver(tag):
    """(major, minor, patch, prefix, parts) of a tag like 1, 1.2, v1.2.3; None otherwise."""
    m = _SEMVER.match(tag or "")
    if not m:
        return None
    parts = sum(1 for g in m.groups()[1:] if g is not None)
    return int(m[2]), int(m[3] or 0), int(m[4] or 0), m[1], parts


POLICIES = ("patch", "minor", "any")


def newer_tags(current, tags, policy):
    """Tags newer than `current` within `policy` (patch: same major.minor; minor:
    same major; any), written the same way (same `v` prefix, same number of
    parts), newest first. None of them for a tag that is not a version."""
    have = semver(current)
    if have is None or policy not in POLICIES:
        return []
    found = []
    for tag in tags:
        v = semver(tag)
        if v is None or v[3] != have[3] or v[4] != have[4] or v[:3] <= have[:3]:
            continue
        if policy == "patch" and v[:2] != have[:2]:
            continue
        if policy == "minor" and v[0] != have[0]:
            continue
        found.append((v[:3], tag))
    return [tag for _, tag in sorted(found, reverse=True)]
