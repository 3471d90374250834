"""Where the panel writes on disk, and with which modes.

Every path of a bundle is resolved against its stack directory and must stay
inside it; symlinks are never followed (O_NOFOLLOW on every component we
create or open). The stacks directory and each stack directory are 0700: the
files carry passwords and tokens. Files and subdirectories inside stay 0644 and
0755, so that a container running as a non-root user (Prometheus and
Alertmanager as nobody, Grafana as 472) reads what is bind-mounted into it: a
bind mount reaches the file without traversing its host parents."""
import os
import shutil
import stat
from pathlib import Path, PurePosixPath

PRIVATE_DIR = 0o700
SHARED_DIR = 0o755
SHARED_FILE = 0o644


class UnsafePath(ValueError):
    """A path that would leave its directory, or go through a symlink."""


def relative_path_problem(path):
    """Why `path` cannot be a file of a stack's bundle, or '' when it can."""
    if not isinstance(path, str) or not path.strip():
        return "The path is empty."
    if "\0" in path or "\\" in path:
        return "The path contains a NUL byte or a backslash."
    pure = PurePosixPath(path)
    if pure.is_absolute():
        return f"{path!r} is absolute: use a path relative to the stack's directory."
    if ".." in pure.parts:
        return f"{path!r} contains '..': use a path inside the stack's directory."
    return ""


def relative_file_problem(path):
    """Why `path` cannot name a file of a stack's bundle, or '' when it can: a
    relative path inside the stack's directory that names something in it ('.',
    './.' and '' name the directory itself)."""
    problem = relative_path_problem(path)
    if problem:
        return problem
    if not PurePosixPath(path).parts or path.endswith("/"):
        return f"{path!r} names the stack's directory, not a file in it: give the file's name (e.g. config.yml)."
    return ""


def contained(directory, path):
    """The absolute path of `path` inside `directory`, resolved; raises UnsafePath
    when it would be outside (through '..', an absolute path or a symlink)."""
    problem = relative_path_problem(path)
    if problem:
        raise UnsafePath(problem)
    base = Path(directory).resolve()
    target = (base / path).resolve()
    if target != base and base not in target.parents:
        raise UnsafePath(f"{path!r} resolves outside the stack's directory.")
    return target


def is_inside(directory, path):
    """True when `path` (relative, may be '.') resolves inside `directory`:
    compares resolved paths, not strings ('../app2' is not inside 'app')."""
    base = Path(directory).resolve()
    target = (base / path).resolve()
    return target == base or base in target.parents


def private_dir(path):
    """Create `path` (and parents) owner-only; tighten it when it exists."""
    path = Path(path)
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath(f"{path} is a symlink.")
    if stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
        os.chmod(path, PRIVATE_DIR)
    return path


def _open_dir_nofollow(parent_fd, name):
    try:
        os.mkdir(name, SHARED_DIR, dir_fd=parent_fd)
        created = True
    except FileExistsError:
        created = False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError as exc:
        raise UnsafePath(f"{name!r} is not a directory of the stack (a symlink?): {exc.strerror}.") from None
    if created:
        os.fchmod(fd, SHARED_DIR)  # whatever the umask: containers traverse it
    return fd


def write_file(directory, path, text):
    """Write `text` at `path` inside `directory` without following any symlink.
    Returns True when the content changed. An existing file is rewritten in
    place (a container that bind-mounts it holds its inode)."""
    problem = relative_file_problem(path)
    if problem:
        raise UnsafePath(problem)
    contained(directory, path)
    parts = PurePosixPath(path).parts
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for name in parts[:-1]:
            if name == ".":
                continue
            next_fd = _open_dir_nofollow(dir_fd, name)
            os.close(dir_fd)
            dir_fd = next_fd
        data = text.data if hasattr(text, "data") else text.encode()  # render.BinaryFile: its bytes
        try:
            fd = os.open(parts[-1], os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, SHARED_FILE, dir_fd=dir_fd)
        except OSError as exc:
            raise UnsafePath(f"Cannot write {path!r}: {exc.strerror} (a symlink?).") from None
        with os.fdopen(fd, "r+b") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePath(f"{path!r} is not a regular file.")
            if stat.S_IMODE(st.st_mode) != SHARED_FILE:
                os.fchmod(f.fileno(), SHARED_FILE)  # whatever the umask: containers read it
            if f.read() == data:
                return False
            f.seek(0)
            f.write(data)
            f.truncate()
        return True
    finally:
        os.close(dir_fd)


def write_bundle(directory, files):
    """Write {relative path: text} into `directory` (created 0700). Every path is
    checked before anything is written. Returns the paths that changed."""
    directory = Path(directory)
    if not directory.parent.exists():
        private_dir(directory.parent)  # the stacks directory, created by us
    private_dir(directory)
    for path in files:
        contained(directory, path)
    return [path for path, text in files.items() if write_file(directory, path, text)]


def remove_dir(parent, name):
    """Remove directory `name` of `parent` and everything in it; a symlink is
    unlinked, never followed (shutil.rmtree works on file descriptors here).
    False when there was nothing to remove."""
    problem = relative_path_problem(name)
    if problem or len(PurePosixPath(name).parts) != 1:
        raise UnsafePath(problem or f"{name!r} is not a single directory name.")
    path = Path(parent) / name
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        path.unlink()
        return True
    shutil.rmtree(path)
    return True
