"""`stack import URL --git`, `stack git-attach SLUG URL`, `stack sync SLUG`,
`stack git SLUG`: the Git verbs
of `manage.py stack` (stacks.management.commands.stack), kept apart so that
command stays readable. Credentials come from a file or an environment
variable, never from argv, and are never printed."""
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from django.urls import reverse

from stacks.accounts import audit
from stacks.adoption import git_sync
from stacks.models import Busy, GitSource, Stack
from stacks.seams.git import GitError


def _credentials(token_env=None, ssh_key=None, username="", **_):
    if token_env and ssh_key:
        raise CommandError("Give a token or an SSH key, not both.")
    if token_env:
        token = os.environ.get(token_env)
        if not token:
            raise CommandError(f"${token_env} is not set: export the token there (never on the command line).")
        return {"token": token, "username": username}
    if ssh_key:
        try:
            return {"ssh_key": Path(ssh_key).read_text()}
        except OSError as exc:
            raise CommandError(f"Cannot read {ssh_key}: {exc.strerror}.") from None
    return {}


def do_import(cmd, url, name, engine, allow_host_access, branch="main", path="", auto_deploy=False, poll=300,
              **opts):
    target = cmd._engine(engine) if engine else None
    try:
        stack, problems = git_sync.import_git(
            url, name, branch=branch, path=path, credentials=_credentials(**opts), poll_seconds=max(poll, 0),
            policy=GitSource.DEPLOY if auto_deploy else GitSource.PLAN, allow_host_access=allow_host_access)
    except (GitError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    for problem in problems:
        cmd.stderr.write(problem)
    if stack is None:
        raise CommandError(f"{url}: not imported, {sum(p.startswith('error') for p in problems)} error(s).")
    if target is not None:
        Stack.objects.filter(pk=stack.pk).update(engine=target)
    audit.record("import", f"stack {stack.slug}", detail=f"from Git {stack.git.url} {branch} (command line)")
    cmd.stdout.write(f"Imported {stack.services.count()} services into stack {stack.slug} from commit "
                     f"{stack.git.applied[:12]} of {branch}.")
    print_git(cmd, stack)


def do_attach(cmd, stack, url, wait=False, branch="main", path="", auto_deploy=False, poll=300, **opts):
    """An existing stack follows a repository from now on, as one imported from
    it does; its own directory (adopted in place) stays its directory."""
    policy = GitSource.DEPLOY if auto_deploy else GitSource.PLAN
    try:
        synced, changes = git_sync.attach_git(stack, url, branch=branch, path=path, policy=policy,
                                              credentials=_credentials(**opts), poll_seconds=max(poll, 0))
    except (GitError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    for warning in synced.warnings:
        cmd.stderr.write(warning)
    audit.record("git-attach", f"stack {stack.slug}", detail=f"to Git {stack.git.url} {branch} at "
                                                             f"{synced.commit[:12]} (command line)")
    if not changes:
        cmd.stdout.write(f"{stack.slug} follows {branch} of {stack.git.url} from commit {synced.commit[:12]}, "
                         "which holds its definition as it is: nothing changed.")
    else:
        cmd.stdout.write(f"{stack.slug} follows {branch} of {stack.git.url}; commit {synced.commit[:12]} is its "
                         f"new definition ({len(changes)} row change(s)):")
        for line in changes:
            cmd.stdout.write(f"  {line}")
        if policy == GitSource.DEPLOY:
            cmd._run_operation(stack, "deploy", {}, wait)
        else:
            cmd.stdout.write(f"commit {synced.commit[:7]} is ready: `stack plan {stack.slug}` shows what a deploy "
                             f"would do, `stack deploy {stack.slug}` deploys it.")
    print_git(cmd, stack)


def do_sync(cmd, stack, wait=False, force=False):
    from stacks.tasks import sync_and_deploy  # start-up: Celery

    source = GitSource.objects.filter(stack=stack).first()
    if source is None:
        raise CommandError(f"{stack.slug} does not follow a Git repository (stack import URL --git).")
    try:
        synced, deployment = sync_and_deploy(source, force=force)
    except Busy as exc:
        raise CommandError(str(exc)) from None
    if synced.error:
        raise CommandError(f"Sync of {stack.slug} failed at commit {synced.commit[:12] or '?'}: {synced.error}")
    for warning in synced.warnings:
        cmd.stderr.write(warning)
    cmd.stdout.write(f"{stack.slug}: commit {synced.commit[:12]} " + ("is the new definition." if synced.changed
                                                                       else "is the definition already."))
    if deployment is not None:
        cmd.stdout.write(f"deploy of {stack.slug} queued as operation #{deployment.pk}.")
        if wait:
            cmd._follow(deployment)
    elif git_sync.state(stack)["ready"]:
        cmd.stdout.write(f"commit {synced.commit[:7]} is ready: `stack deploy {stack.slug}` deploys it.")


def webhook_url(stack):
    return settings.PANEL_URL_FOR_FORGES.rstrip("/") + reverse("git-webhook", args=[stack.slug])


def print_git(cmd, stack):
    now = git_sync.state(stack)
    source = now["source"]
    lines = [
        ("repository", now["url"]), ("branch", source.branch), ("path", source.path or "/"),
        ("deployed", now["deployed"] or "none yet"), ("definition", now["applied"] or "none"),
        ("latest seen", now["last_seen"] or "none"),
        ("policy", "deploy each commit" if source.policy == GitSource.DEPLOY else "plan only"),
        ("poll", f"every {source.poll_seconds} s" if source.poll_seconds else "off"),
        ("credentials", f"{source.credential_kind} (secret {source.credential.name})" if source.credential else "none"),
        ("webhook", webhook_url(stack)), ("secret", source.webhook_secret),
    ]
    if now["pinned"]:
        lines.append(("pinned", f"v{now['pinned'].number} ({now['pinned'].where}) until the next commit"))
    if source.last_error:
        lines.append(("last error", f"commit {source.last_error_commit[:12]}: {source.last_error}"))
    for key, value in lines:
        cmd.stdout.write(f"{key}: {value}")


def do_git(cmd, stack):
    if not GitSource.objects.filter(stack=stack).exists():
        raise CommandError(f"{stack.slug} does not follow a Git repository (stack import URL --git).")
    print_git(cmd, stack)
