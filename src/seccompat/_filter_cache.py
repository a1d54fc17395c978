"""A cache of the programs ``seccompat run --profile`` compiles.

Translating and compiling a profile, and importing what does it, costs ~100 ms;
a cached program costs one file read.  The key is a SHA-256 over everything the
program depends on: this version and the modification stamps of the modules that
build it, the profile's bytes, the runtime, kernel and capability options, and this
machine's ABI and kernel release.

The cache lives in ``$SECCOMPAT_CACHE_DIR``, else ``$XDG_CACHE_HOME/seccompat``,
else ``~/.cache/seccompat`` (``SECCOMPAT_NO_CACHE=1`` turns it off).  An entry is
used only when it and its directory belong to the caller and no one else can write
them: whoever can write there can already run code as the caller.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat

from . import __version__
from ._files import MAX_PROFILE_BYTES, read_regular

__all__ = ["Entry", "key", "load", "store"]

_FORMAT = 1
# The modules whose code decides the program (their stamps are part of the key).
_SOURCES = ("profiles/model.py", "profiles/runtimes.py", "profiles/conversion.py",
            "bpf/compile.py", "bpf/ir.py", "syscalls/__init__.py", "syscalls/_table.py",
            "syscalls/arch.py")

Entry = tuple[bytes, list[str], str, dict[str, int]]
"""(packed program, warnings, the --verbose description, syscall numbers it needs)."""


def _directory() -> str | None:
    if os.environ.get("SECCOMPAT_NO_CACHE") == "1":
        return None
    base = os.environ.get("SECCOMPAT_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                               ".cache")
        base = os.path.join(xdg, "seccompat")
    return os.path.join(base, "filters")


def key(profile: str, runtime: str | None, kernel: str | None, caps: str | None) -> str:
    """The cache key for ``run --profile PROFILE`` with these options (OSError if the
    profile cannot be read, FileRefused for a FIFO, a device or a file too large)."""
    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    uname = os.uname()
    stamps = []
    for name in _SOURCES:
        st = os.stat(os.path.join(here, name))
        stamps.append(f"{st.st_mtime_ns}:{st.st_size}")
    for part in (str(_FORMAT), __version__, *stamps, runtime or "", kernel or uname.release,
                 caps or "default", uname.machine):
        h.update(part.encode() + b"\0")
    h.update(read_regular(profile, MAX_PROFILE_BYTES))
    return h.hexdigest()


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def load(cache_key: str) -> Entry | None:
    """The entry for *cache_key*, or None (absent, unreadable, not private, stale format)."""
    directory = _directory()
    if directory is None:
        return None
    try:
        if not _private(os.stat(directory)):
            return None
        fd = os.open(os.path.join(directory, cache_key), os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as f:
            if not _private(os.fstat(f.fileno())):
                return None
            value = marshal.loads(f.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(value, tuple) or len(value) != 5 or value[0] != _FORMAT:
        return None
    _, program, warnings, description, numbers = value
    return program, list(warnings), description, dict(numbers)


def store(cache_key: str, entry: Entry) -> None:
    """Write *entry* atomically, private to the caller; failures are ignored (a cache)."""
    directory = _directory()
    if directory is None:
        return
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _private(os.stat(directory)):
            return
    except OSError:
        return
    tmp = os.path.join(directory, f".{cache_key}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps((_FORMAT, *entry)))
        os.replace(tmp, os.path.join(directory, cache_key))
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
