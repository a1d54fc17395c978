"""Run a command under a seccomp filter, installed as late as possible.

The parent forks; the child installs the filter immediately before execve(2), so
nothing of ours runs under it.  Failures in the child travel back over a
close-on-exec pipe: an empty read means the exec happened.  The parent forwards
termination signals to the child and maps its end to an exit status as
``docker run`` does: the command's own status, 128+N when signal N killed it,
125 when we failed, 126 when the command cannot be executed, 127 when it is not
found.

:func:`call_in_child` is the same for a Python function: its value (or its
traceback, or how it died) comes back pickled on a pipe.
"""

from __future__ import annotations

import errno as E
import os
import signal
import stat
import sys
from collections.abc import Callable, Sequence

from .errors import SeccompatError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .bpf.insn import Insn

__all__ = ["EXIT_CANNOT_EXECUTE", "EXIT_NOT_FOUND", "EXIT_OURS", "ChildResult", "LaunchError",
           "call_in_child", "run_command"]

EXIT_OURS = 125
EXIT_CANNOT_EXECUTE = 126
EXIT_NOT_FOUND = 127

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
# The terminal sends these to the whole foreground group: the child gets its own.
_IGNORED_WHILE_WAITING = (signal.SIGINT, signal.SIGQUIT)


class LaunchError(SeccompatError):
    """The command could not be started; ``status`` is the exit status to use."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _resolve(command: str) -> str:
    """The file to execute, as a shell finds it: 127 when nothing by that name exists,
    126 when it exists but cannot be executed (permission denied, a directory)."""
    if "/" in command:
        try:
            st = os.stat(command)
        except OSError as exc:
            status = EXIT_NOT_FOUND if exc.errno == E.ENOENT else EXIT_CANNOT_EXECUTE
            raise LaunchError(status, f"{command}: {os.strerror(exc.errno or E.EIO)}") from None
        if stat.S_ISDIR(st.st_mode):
            raise LaunchError(EXIT_CANNOT_EXECUTE, f"{command}: is a directory")
        return command
    refused = None
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", command)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            refused = refused or candidate
    if refused is not None:
        raise LaunchError(EXIT_CANNOT_EXECUTE, f"{refused}: permission denied")
    raise LaunchError(EXIT_NOT_FOUND, f"{command}: command not found")


def run_command(argv: Sequence[str], prepare: Callable[[], object]) -> int:
    """Fork, call *prepare* in the child (it installs the filter), exec *argv*.

    Returns the exit status to use.  Raises :class:`LaunchError` when the command
    is not found, cannot be executed, or *prepare* failed in the child.
    """
    if not argv:
        raise LaunchError(EXIT_OURS, "no command given")
    path = _resolve(argv[0])
    r, w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, then execs
        stage = "prepare"
        try:
            os.close(r)
            prepare()
            stage = "exec"
            os.execv(path, list(argv))
        except BaseException as exc:  # report anything, then leave without cleanup
            err = exc.errno if isinstance(exc, OSError) and exc.errno else 0
            os.write(w, f"{stage} {err} {exc}".encode(errors="replace"))
        finally:
            os._exit(EXIT_OURS)
    os.close(w)
    previous = {s: signal.signal(s, lambda sig, _f: _forward(pid, sig)) for s in _FORWARDED}
    previous.update({s: signal.signal(s, signal.SIG_IGN) for s in _IGNORED_WHILE_WAITING})
    try:
        with os.fdopen(r, "rb") as pipe:
            report = pipe.read().decode(errors="replace")
        _, status = os.waitpid(pid, 0)  # PEP 475: retried across our handlers
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if report:
        stage, err_text, message = [*report.split(" ", 2), "", ""][:3]
        err = int(err_text or 0)
        if stage == "exec":
            code = EXIT_NOT_FOUND if err == E.ENOENT else EXIT_CANNOT_EXECUTE
            raise LaunchError(code, f"{argv[0]}: cannot execute: {os.strerror(err)}"
                              if err else f"{argv[0]}: cannot execute: {message}")
        raise LaunchError(EXIT_OURS, message or "failed to prepare the command")
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _forward(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class ChildResult:
    """How a :func:`call_in_child` child ended: the function's value, the traceback
    it raised, or the signal or exit status it died of before reporting.  (A plain
    class: ``seccompat run``'s fast path imports this module, not dataclasses.)"""

    def __init__(self, value: object = None, error: str | None = None,
                 signal: int | None = None, exit_status: int | None = None) -> None:
        self.value = value
        self.error = error
        self.signal = signal
        self.exit_status = exit_status


def call_in_child(fn: Callable[[], object], program: tuple[Insn, ...] | None = None,
                  timeout: int = 60) -> ChildResult:
    """``fn()`` in a forked child, with the packed filter *program* installed first
    (and SIGALRM after *timeout* seconds): its value, pickled back on a pipe.

    For Python code that must run under a filter (the pytest plugin's marked tests,
    the test suite's children); the value and a raised exception's traceback come
    back, and a death is reported as the signal or the exit status."""
    import contextlib
    import pickle
    import struct
    import traceback
    import warnings

    from .bpf.load import install

    r, w = os.pipe2(os.O_CLOEXEC)
    with warnings.catch_warnings():
        # Under xdist the worker has an I/O thread; the child only runs *fn* and
        # writes its pickled result to a pipe (3.12+ warns all the same).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.close(r)
            signal.alarm(timeout)
            if program is not None:
                install(program)
            payload: tuple[str, object] = ("ok", fn())
        except BaseException:
            payload = ("error", traceback.format_exc())
        try:
            data = pickle.dumps(payload)
        except Exception:
            data = pickle.dumps(("error", f"unpicklable result: {payload!r}"))
            code = 1
        with contextlib.suppress(OSError):
            os.write(w, struct.pack("=Q", len(data)) + data)
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        raw = pipe.read()
    _, status = os.waitpid(pid, 0)
    result = ChildResult()
    if os.WIFSIGNALED(status):
        result.signal = os.WTERMSIG(status)
    else:
        result.exit_status = os.WEXITSTATUS(status)
    if raw:
        (size,) = struct.unpack_from("=Q", raw)
        kind, value = pickle.loads(raw[8:8 + size])
        if kind == "ok":
            result.value = value
        else:
            result.error = str(value)
    return result
