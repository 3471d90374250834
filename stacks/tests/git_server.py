"""A real Git server for tests: Debian's `git http-backend` (smart HTTP, as a
forge serves it) behind a small WSGI-to-CGI shim on 127.0.0.1, optionally
demanding a token by HTTP basic auth; and a team's repository with a working
clone to commit and push from."""
import base64
import os
import subprocess
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def git(*args, cwd=None):
    env = {**os.environ, "GIT_AUTHOR_NAME": "Team", "GIT_AUTHOR_EMAIL": "team@example.org",
           "GIT_COMMITTER_NAME": "Team", "GIT_COMMITTER_EMAIL": "team@example.org", "GIT_CONFIG_GLOBAL": os.devnull}
    out = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


class Repo:
    """A bare repository (what the forge holds) and a working clone of it."""

    def __init__(self, root, branch="main"):
        self.bare = Path(root) / "srv" / "team.git"
        self.work = Path(root) / "work"
        self.branch = branch
        self.bare.parent.mkdir(parents=True)
        git("init", "--quiet", "--bare", "-b", branch, str(self.bare))
        git("init", "--quiet", "-b", branch, str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    @property
    def url(self):
        return f"file://{self.bare}"

    def write(self, files):
        for path, text in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def push(self, files, message="change"):
        """Commit `files` ({path: text}) and push; returns the new commit."""
        self.write(files)
        git("add", "-A", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", self.branch, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class HttpGit:
    """`git http-backend` for the repositories under `root`, on 127.0.0.1."""

    def __init__(self, root, token=None):
        self.root, self.token, self.requests = str(root), token, []

    def app(self, environ, start_response):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        self.requests.append((environ["PATH_INFO"], auth))
        if self.token:
            try:
                user_token = base64.b64decode(auth.removeprefix("Basic ")).decode()
            except ValueError:
                user_token = ""
            if not auth.startswith("Basic ") or user_token.partition(":")[2] != self.token:
                start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
                return [b"token required\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1",
               "REQUEST_METHOD": environ["REQUEST_METHOD"], "PATH_INFO": environ["PATH_INFO"],
               "QUERY_STRING": environ.get("QUERY_STRING", ""), "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
               "CONTENT_LENGTH": str(len(body)), "REMOTE_USER": "tester", "REMOTE_ADDR": "127.0.0.1",
               "GIT_HTTP_MAX_REQUEST_BUFFER": "100M", "GIT_CONFIG_GLOBAL": os.devnull}
        if environ.get("HTTP_CONTENT_ENCODING"):
            env["HTTP_CONTENT_ENCODING"] = environ["HTTP_CONTENT_ENCODING"]
        if environ.get("HTTP_GIT_PROTOCOL"):
            env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60)
        head, _, payload = out.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.stdout.partition(b"\n\n")
        status, headers = "200 OK", []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = value.strip()
            elif key:
                headers.append((key.strip(), value.strip()))
        start_response(status, headers)
        return [payload]

    def __enter__(self):
        self.server = make_server("127.0.0.1", 0, self.app, server_class=_Threading, handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def url(self, name):
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
