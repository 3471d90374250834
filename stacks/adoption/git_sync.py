"""Stacks that follow a Git repository. The directory at the source's path, in
the branch's newest commit, becomes the stack's definition exactly as
`stack import DIR` makes one (stacks.adoption.importer: rows where they hold the
files exactly, other files byte for byte, the same containment checks), each
commit a version (source "git", with its commit). A sync that fails (the
repository unreachable, the credentials refused, files that do not import or
validate, a consent the stack lacks) is recorded on the source and changes
nothing. Whether a new commit is deployed is the tasks layer's business
(stacks.tasks.sync_git), by the source's policy."""
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from stacks import versions
from stacks.adoption.importer import DefinitionRefused, ImportError_, import_project, replace_definition
from stacks.adoption.project_dir import read_path
from stacks.models import GitSource, Secret, Stack, StackVersion
from stacks.seams import git
from stacks.versions import snapshot


@dataclass
class Synced:
    commit: str = ""
    changed: bool = False  # a new commit became the definition
    error: str = ""
    warnings: tuple = ()


def check_path(path):
    path = (path or "").strip().strip("/")
    norm = posixpath.normpath(path) if path else ""
    if norm.startswith("..") or norm.startswith("/") or norm == "..":
        raise ImportError_(f"{path}: the path must stay inside the repository.")
    return "" if norm == "." else norm


def _read(source_url, branch, path, credentials, work):
    """(commit, Project) of the branch's tip."""
    commit = git.checkout(source_url, branch, work / "repo", credentials)
    root = (work / "repo").resolve()
    target = (root / path).resolve() if path else root
    if target != root and root not in target.parents:
        raise ImportError_(f"{path}: leads outside the repository.")
    if not target.is_dir():
        raise ImportError_(f"{path or '/'}: no such directory in commit {commit[:12]}.")
    return commit, read_path(target)


def _credential(slug, credentials):
    """The Secret holding a token or deploy key; it belongs to no stack, so no
    stack's Compose file can reference it."""
    value = credentials.get("token") or credentials.get("ssh_key")
    if not value:
        return None, ""
    secret, _ = Secret.objects.update_or_create(name=f"git-{slug}"[:63], defaults={"value": value, "stack": None})
    return secret, "ssh" if credentials.get("ssh_key") else "token"


def import_git(url, slug, branch="main", path="", policy=GitSource.PLAN, credentials=None, poll_seconds=300,
               allow_host_access=False, user=None, via="command line"):
    """A new stack from a repository: (stack or None, [problem text]). ValueError
    (or GitError) in the user's terms when the repository cannot be read."""
    credentials = credentials or {}
    git.check_url(url), git.check_branch(branch)
    path = check_path(path)
    with tempfile.TemporaryDirectory(prefix="panel-git-") as work:
        commit, project = _read(url, branch, path, credentials, Path(work))
        # ${VAR}: the repository's .env only; the importing shell is not where the stack's changes come from.
        stack, problems = import_project(project, slug, allow_host_access=allow_host_access, approver=user, via=via)
    if stack is None:
        return None, problems
    with transaction.atomic():
        secret, kind = _credential(slug, credentials)
        GitSource.objects.create(
            stack=stack, url=url, branch=branch, path=path, credential=secret, credential_kind=kind,
            username=credentials.get("username", ""), policy=policy, poll_seconds=poll_seconds,
            last_seen=commit, applied=commit, checked=timezone.now())
        versions.record(stack, StackVersion.GIT, user=user, note=f"commit {commit[:12]}", commit=commit)
    return stack, problems


def attach_git(stack, url, branch="main", path="", policy=GitSource.PLAN, credentials=None, poll_seconds=300,
               user=None):
    """An existing stack (one adopted in place keeps its own directory, so its
    mounts do not move) starts following a repository: the branch's commit is
    imported as a sync imports it, and recorded on a version. When the
    repository's directory imports to the rows the stack has, nothing changes
    but that version; otherwise the difference is that first sync's change,
    deployed or not by the policy (the caller's business). Returns (Synced,
    [rows changed]). Refused (ValueError or GitError, in the user's terms,
    nothing changed): a stack that follows Git already, a URL with credentials,
    files that do not import, validate or stay within the stack's consents."""
    credentials = credentials or {}
    git.check_url(url), git.check_branch(branch)
    path = check_path(path)
    existing = GitSource.objects.filter(stack=stack).first()
    if existing is not None:
        raise ImportError_(f"{stack.slug} follows {git.display_url(existing.url)} ({existing.branch}) already.")
    before = snapshot.take(stack)
    with transaction.atomic():
        secret, kind = _credential(stack.slug, credentials)
        source = GitSource.objects.create(
            stack=stack, url=url, branch=branch, path=path, credential=secret, credential_kind=kind,
            username=credentials.get("username", ""), policy=policy, poll_seconds=poll_seconds)
        synced = _sync(source, force=True)
        if synced.error:  # leaves nothing behind: no source, no secret, the rows as they were
            raise ImportError_(f"{git.display_url(url)} ({branch}, commit {synced.commit[:12] or '?'}) "
                               f"cannot become {stack.slug}'s definition: {synced.error}")
    return synced, snapshot.row_changes(before, snapshot.take(Stack.objects.get(pk=stack.pk)))


def sync(source, force=False):
    """Fetch the branch; a commit not yet applied becomes the definition.
    Returns Synced; the outcome is on the source row too. One sync of a stack
    at a time (the webhook and the poll may start two): the second waits on
    the source's row and then finds the commit applied."""
    with transaction.atomic():
        source = GitSource.objects.select_for_update(of=("self",)).select_related("stack", "credential").get(pk=source.pk)
        return _sync(source, force)


def _sync(source, force):
    stack = source.stack
    now, head = timezone.now(), ""
    try:
        head = git.remote_head(source.url, source.branch, source.credentials())
        if head == source.applied and not force:
            GitSource.objects.filter(pk=source.pk).update(last_seen=head, checked=now)
            if head == source.last_error_commit:  # the last error was of this same commit: still true
                return Synced(head, error=source.last_error)
            GitSource.objects.filter(pk=source.pk).update(last_error="", last_error_commit="")
            return Synced(head)
        if head == source.last_error_commit and not force:  # already refused: do not import it again
            GitSource.objects.filter(pk=source.pk).update(last_seen=head, checked=now)
            return Synced(head, error=source.last_error)
        with tempfile.TemporaryDirectory(prefix="panel-git-") as work:
            commit, project = _read(source.url, source.branch, source.path, source.credentials(), Path(work))
            warnings = replace_definition(Stack.objects.get(pk=stack.pk), project)
        versions.record(stack, StackVersion.GIT, note=f"commit {commit[:12]}", commit=commit)
    except DefinitionRefused as exc:
        return _failed(source, head, "; ".join(exc.problems), now)
    except (git.GitError, ValueError) as exc:
        return _failed(source, head, str(exc), now)
    GitSource.objects.filter(pk=source.pk).update(last_seen=commit, applied=commit, checked=now, last_error="",
                                                  last_error_commit="")
    return Synced(commit, changed=True, warnings=tuple(warnings))


def _failed(source, commit, error, now):
    fields = {"last_error": error[:5000], "last_error_commit": commit, "checked": now}
    if commit:
        fields["last_seen"] = commit
    GitSource.objects.filter(pk=source.pk).update(**fields)
    return Synced(commit, error=error)


def deployed_commit(stack):
    """The commit of the definition the last successful deploy applied ('' when none).
    A stack attached to Git after that deploy: the version recording the same
    rows at a commit (the attach's, when the repository held what runs)."""
    last = (stack.deployments.filter(action="deploy", status="succeeded", version__isnull=False)
            .select_related("version").order_by("-id").first())
    if last is None or last.version.commit:
        return last.version.commit if last else ""
    same = (stack.versions.filter(number__gt=last.version.number, digest=last.version.digest)
            .exclude(commit="").order_by("number").first())
    return same.commit if same else ""


def state(stack):
    """What the stack page and `stack git` say about a Git stack, or None."""
    source = GitSource.objects.filter(stack=stack).first()
    if source is None:
        return None
    latest = stack.versions.order_by("-number").first()
    pinned = latest if latest is not None and latest.source in (StackVersion.ROLLBACK, StackVersion.RESTORE) \
        else None
    deployed = deployed_commit(stack)
    return {
        "source": source, "url": git.display_url(source.url), "deployed": deployed, "applied": source.applied,
        "last_seen": source.last_seen, "pinned": pinned,
        "ready": bool(source.applied and source.applied != deployed and not pinned),
        "behind": bool(source.last_seen and source.last_seen != deployed),
    }
