"""A Compose project as a team has it: a directory (or an uploaded .zip/.tar.gz
of one) with its Compose file and the files its services bind-mount, build from
or read as env files. Read with limits; what comes along is kept byte for byte,
text or binary (stacks.adoption.importer turns it into rows and stack files)."""
import io
import os
import posixpath
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from stacks.lib.composefile import is_bind_source, parse_volume
from stacks.lib.yamlio import dump_yaml
from stacks.lib.yamlsafe import load_yaml

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
MAX_FILE_BYTES = 1_000_000
MAX_TOTAL_BYTES = 20_000_000
MAX_FILES = 2000


class ProjectRefused(ValueError):
    pass


@dataclass
class Project:
    compose_name: str
    compose_text: str
    files: dict = field(default_factory=dict)  # {relative path: text, or bytes for a binary file} the services use
    env_text: str = ""  # the project's .env, which Compose interpolates ${VAR} from


def _relative(path, what):
    """A path inside the project, normalised; refused when it leaves it."""
    if path.startswith("/") or path.startswith("~"):
        return None  # a host path: not part of the project
    norm = posixpath.normpath(path)
    if norm == "..":
        raise ProjectRefused(f"{what}: {path} is outside the project's directory.")
    if norm.startswith("../"):
        raise ProjectRefused(f"{what}: {path} is outside the project's directory.")
    return "" if norm == "." else norm


def used_paths(doc):
    """[(relative path, what)] the services take from the project's directory."""
    out = []
    for name, spec in (doc.get("services") or {}).items():
        spec = spec or {}
        where = f"services.{name}"
        for i, vol in enumerate(spec.get("volumes") or []):
            if isinstance(vol, str):
                source = parse_volume(vol)[0]
                if not is_bind_source(source):
                    continue  # a named volume (or an anonymous one)
            else:
                if vol.get("type") != "bind":
                    continue
                source = vol.get("source", "")
            rel = _relative(source, f"{where}.volumes[{i}]")
            if rel is not None:
                out.append((rel, f"{where}.volumes[{i}]"))
        build = spec.get("build")
        if build:
            context = build if isinstance(build, str) else build.get("context", ".")
            if "://" not in context and not context.startswith("git@"):
                rel = _relative(context, f"{where}.build")
                if rel is not None:
                    out.append((rel, f"{where}.build"))
        env_files = spec.get("env_file") or []
        for i, env in enumerate([env_files] if isinstance(env_files, str) else env_files):
            env = env if isinstance(env, str) else env.get("path", "")
            rel = _relative(env, f"{where}.env_file")
            if rel is not None:
                out.append((rel, f"{where}.env_file"))
    for key in ("configs", "secrets"):
        for name, spec in (doc.get(key) or {}).items():
            source = (spec or {}).get("file") if isinstance(spec, dict) else None
            rel = _relative(source, f"{key}.{name}.file") if isinstance(source, str) else None
            if rel is not None:
                out.append((rel, f"{key}.{name}"))
    return out


def _text(path, data):
    if len(data) > MAX_FILE_BYTES:
        raise ProjectRefused(f"{path}: {len(data)} bytes, over the limit of {MAX_FILE_BYTES} per file.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProjectRefused(f"{path}: a binary file; the panel keeps text files only.") from None


def _select(members, doc, links=()):
    """The files the services use, from {relative path: (size, read)}; a used
    path that is or passes through a link is refused."""
    chosen = {}
    for rel, what in used_paths(doc):
        for link in links:
            if rel == "" or rel == link or rel.startswith(link + "/") or link.startswith(rel + "/"):
                raise ProjectRefused(f"{link}: a symbolic link, used by {what}; the panel keeps regular files only.")
        hits = list(members) if rel == "" else [p for p in members if p == rel or p.startswith(rel + "/")]
        for path in hits:
            chosen[path] = members[path]
    if len(chosen) > MAX_FILES:
        raise ProjectRefused(f"The services use {len(chosen)} files, over the limit of {MAX_FILES}.")
    total = sum(size for size, _ in chosen.values())
    if total > MAX_TOTAL_BYTES:
        raise ProjectRefused(f"The services use {total} bytes of files, over the limit of {MAX_TOTAL_BYTES}.")
    out = {}
    for path, (size, read) in sorted(chosen.items()):
        if size > MAX_FILE_BYTES:
            raise ProjectRefused(f"{path}: {size} bytes, over the limit of {MAX_FILE_BYTES} per file.")
        data = read()
        if len(data) > MAX_FILE_BYTES:
            raise ProjectRefused(f"{path}: {len(data)} bytes, over the limit of {MAX_FILE_BYTES} per file.")
        try:
            out[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            out[path] = data  # a binary file (an image, a jar in a build context): kept as its bytes
    return out


def _pick_compose(names, hint=None):
    if hint:
        return hint
    for candidate in COMPOSE_NAMES:
        if candidate in names:
            return candidate
    found = sorted(n for n in names if "/" not in n and n.startswith(("docker-compose", "compose"))
                   and n.endswith((".yml", ".yaml")))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ProjectRefused("No Compose file (compose.yaml or docker-compose.yml) at the top of the project.")
    raise ProjectRefused(f"Several Compose files ({', '.join(found)}): name the one to import.")


def _build(members, compose_name, links=(), text=None):
    if text is None:
        if compose_name not in members:
            raise ProjectRefused(f"{compose_name}: not found in the project.")
        size, read = members[compose_name]
        if size > MAX_FILE_BYTES:
            raise ProjectRefused(f"{compose_name}: {size} bytes, over the limit of {MAX_FILE_BYTES}.")
        text = _text(compose_name, read())
    doc = load_yaml(text, compose_name)
    if not isinstance(doc, dict):
        raise ProjectRefused(f"{compose_name}: not a Compose file.")
    files = _select({p: m for p, m in members.items() if p != compose_name}, doc, links)
    env_text = _text(".env", members[".env"][1]()) if ".env" in members and ".env" not in links else ""
    return Project(compose_name, text, files, env_text)


def merged_compose(root, names):
    """Several Compose files (`-f a -f b`) as one, merged by docker-compose itself
    (`config --no-interpolate`: ${VAR} stays for the import to resolve); paths
    inside the project are written relative to it again."""
    args = ["docker-compose"] + [arg for name in names for arg in ("-f", name)] + ["config", "--no-interpolate"]
    try:
        out = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=60,
                             env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProjectRefused(f"docker-compose could not merge {', '.join(names)}: {exc}") from None
    if out.returncode != 0:
        raise ProjectRefused(f"docker-compose could not merge {', '.join(names)}: {out.stderr.strip()}")
    root = str(Path(root).resolve())

    def relative(value):
        if isinstance(value, str):
            if value == root:
                return "."
            return "./" + value[len(root) + 1:] if value.startswith(root + "/") else value
        if isinstance(value, list):
            return [relative(v) for v in value]
        if isinstance(value, dict):
            return {k: relative(v) for k, v in value.items()}
        return value

    return dump_yaml(relative(load_yaml(out.stdout, "docker-compose config")))


def read_path(path, compose_text=None):
    """A Compose file (its directory is the project's) or a project directory;
    `compose_text` stands for the Compose file when given (merged_compose)."""
    path = Path(path)
    if path.is_file():
        root, hint = path.parent, path.name
    elif path.is_dir():
        root, hint = path, None
    else:
        raise ProjectRefused(f"{path}: no such file or directory.")
    members, links = {}, []
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root).as_posix()
        if item.is_symlink():
            links.append(rel)
        elif item.is_file():
            members[rel] = (item.stat().st_size, item.read_bytes)
    return _build(members, _pick_compose(set(members), hint), links, compose_text)


def read_archive(data, filename=""):
    """An uploaded .zip or .tar.gz of a project directory (one top folder is stripped)."""
    if len(data) > MAX_TOTAL_BYTES:
        raise ProjectRefused(f"{filename or 'archive'}: {len(data)} bytes, over the limit of {MAX_TOTAL_BYTES}.")
    members = {}
    total = 0

    def add(name, size, read):
        nonlocal total
        if name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\\" in name:
            raise ProjectRefused(f"{name}: an absolute path in the archive; refused.")
        norm = posixpath.normpath(name)
        if norm == ".." or norm.startswith("../"):
            raise ProjectRefused(f"{name}: leaves the project's directory; refused.")
        total += size
        if total > MAX_TOTAL_BYTES or len(members) >= MAX_FILES * 5:
            raise ProjectRefused(f"{filename or 'archive'}: unpacks past {MAX_TOTAL_BYTES} bytes; refused.")
        content = read() if size <= MAX_FILE_BYTES else b""  # too big: refused only if a service uses it
        members[norm] = (size, lambda: content)

    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                mode = info.external_attr >> 16
                if (mode & 0o170000) == 0o120000:
                    raise ProjectRefused(f"{info.filename}: a symbolic link in the archive; refused.")
                add(info.filename, info.file_size, lambda info=info: zf.read(info))
    else:
        try:
            tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
        except tarfile.TarError:
            raise ProjectRefused(f"{filename or 'archive'}: neither a .zip nor a .tar.gz.") from None
        with tf:
            for info in tf:  # one by one: refused at the first member past a limit
                if info.isdir():
                    continue
                if info.issym() or info.islnk():
                    raise ProjectRefused(f"{info.name}: a link in the archive; refused.")
                if not info.isfile():
                    raise ProjectRefused(f"{info.name}: not a regular file; refused.")
                add(info.name, info.size, lambda info=info: tf.extractfile(info).read())
    tops = {m.split("/", 1)[0] for m in members}
    if len(tops) == 1 and all("/" in m for m in members):
        top = tops.pop() + "/"
        members = {m[len(top):]: d for m, d in members.items()}
    return _build(members, _pick_compose(set(members)))
