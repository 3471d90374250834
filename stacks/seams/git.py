"""Git, through Debian's `git` command line (argument lists, never a shell).

Why the CLI and not dulwich: the team's forges speak smart HTTP with every auth
scheme, SSH with their keys and known_hosts, and file:// — git itself handles
all of them the same way Compose users' own `git pull` does; dulwich's SSH goes
through a subprocess of its own anyway and its HTTP auth is narrower.

Credentials never reach argv or a log: a token travels as an `http.extraHeader`
set through the environment (GIT_CONFIG_COUNT/KEY/VALUE, git ≥ 2.31), a deploy
key as a 0600 file named in GIT_SSH_COMMAND; no prompt (GIT_TERMINAL_PROMPT=0),
no user or system config, a timeout, and only the http(s), ssh and file
transports (GIT_ALLOW_PROTOCOL). Errors are GitError, in the user's terms,
with any credential scrubbed from git's own words."""
import base64
import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from stacks.lib.errors import SeamError

TIMEOUT = 60  # seconds for one git command
SCHEMES = ("https", "http", "ssh", "file")
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class GitError(SeamError):
    pass


def check_url(url):
    """The URL as given when git may fetch it; GitError says why not."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise GitError(f"{url}: use an https://, ssh:// or file:// URL.", permanent=True)
    if parts.scheme in ("http", "https") and (parts.password or parts.username):
        raise GitError("Put no credentials in the URL: give a token (--token-env) and it is kept as a secret.",
                       permanent=True)
    if parts.scheme == "file" and not parts.path.startswith("/"):
        raise GitError(f"{url}: a file:// URL needs an absolute path.", permanent=True)
    return url


def check_branch(branch):
    if not branch or branch.startswith("-") or not re.match(r"^[A-Za-z0-9._/-]+$", branch) or ".." in branch:
        raise GitError(f"{branch!r} is not a branch name git accepts here.", permanent=True)
    return branch


class _Session:
    """The environment of one git run: credentials in place, removed after."""

    def __init__(self, credentials):
        self.credentials = credentials or {}
        self.secrets = [v for k, v in self.credentials.items() if k in ("token", "ssh_key") and v]

    def __enter__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="panel-git-")
        home = Path(self.tmp.name)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C",
               "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
               "GIT_ALLOW_PROTOCOL": "http:https:ssh:file", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false"}
        config = [("core.hooksPath", os.devnull), ("protocol.file.allow", "always")]
        token = self.credentials.get("token")
        if token:
            basic = base64.b64encode(f"{self.credentials.get('username') or 'git'}:{token}".encode()).decode()
            self.secrets.append(basic)
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
               "-o", f"UserKnownHostsFile={home / 'known_hosts'}"]
        key = self.credentials.get("ssh_key")
        if key:
            path = home / "key"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key if key.endswith("\n") else key + "\n")
            ssh += ["-i", str(path), "-o", "IdentitiesOnly=yes"]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (k, v) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = k, v
        self.env = env
        return self

    def __exit__(self, *exc):
        self.tmp.cleanup()

    def scrub(self, text):
        for secret in self.secrets:
            text = text.replace(secret, "•••")
        return text

    def run(self, args, cwd=None):
        try:
            out = subprocess.run(["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True,
                                 timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {TIMEOUT} s (is the repository reachable?).") from None
        except OSError as exc:
            raise GitError(f"git cannot run here: {exc.strerror}.", permanent=True) from None
        if out.returncode != 0:
            raise GitError(_explain(self.scrub(out.stderr.strip()) or f"git {args[0]} failed ({out.returncode})."))
        return out.stdout


def _explain(stderr):
    """git's last words, with a hint for the usual causes."""
    last = stderr.splitlines()[-1] if stderr else stderr
    low = stderr.lower()
    if "authentication failed" in low or "could not read username" in low or "permission denied" in low \
            or "403" in low or "401" in low:
        return f"The repository refused the credentials: {last}"
    if "could not resolve" in low or "connection refused" in low or "timed out" in low \
            or "does not appear to be a git repository" in low or "not found" in low:
        return f"The repository is unreachable: {last}"
    return last


def remote_head(url, branch, credentials=None):
    """The commit `branch` points at on the remote (one ls-remote, no download)."""
    check_url(url), check_branch(branch)
    with _Session(credentials) as git:
        out = git.run(["ls-remote", "--heads", "--", url, f"refs/heads/{branch}"])
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}" and SHA.match(sha):
            return sha
    raise GitError(f"The repository has no branch {branch!r}.", permanent=True)


def checkout(url, branch, dest, credentials=None):
    """The tip of `branch` checked out (files only, depth 1) into the empty
    directory `dest`; returns its commit."""
    check_url(url), check_branch(branch)
    with _Session(credentials) as git:
        git.run(["clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags", "--branch", branch,
                 "--", url, str(dest)])
        sha = git.run(["rev-parse", "HEAD"], cwd=dest).strip()
    if not SHA.match(sha):
        raise GitError(f"git rev-parse gave {sha!r}.")
    return sha


def display_url(url):
    """The URL without any user info, for pages and logs."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc).geturl()
    return url
