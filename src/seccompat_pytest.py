"""pytest plugin: run a test session, or one test, as it would run in a container.

``pytest --seccomp-profile=PATH [--seccomp-runtime=R]`` installs what runtime R
installs for that OCI or Docker profile; ``pytest --seccomp-deny-newer-than=X.Y
[--seccomp-errno=E]`` an allow-list written for Linux X.Y (as ``seccompat run``).
The ini keys ``seccomp_profile``, ``seccomp_runtime``, ``seccomp_deny_newer_than``
and ``seccomp_errno`` do the same.  The filter goes into the pytest process at
configure time, so every subprocess and xdist worker inherits it (seccomp(2):
filters pass across fork and execve); a worker that finds it already in place
does not stack a second copy.  The session header names the filter.

``@pytest.mark.seccomp(profile=..., runtime=..., deny=[...], deny_newer_than=...,
errno=...)`` runs one test in a forked child under its filter; the rest of the
session is untouched.

Registered through the ``pytest11`` entry point.  Unless one of these is used it
installs nothing and imports nothing beyond this module, which is why it lives
beside the ``seccompat`` package rather than in it.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable

import pytest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from seccompat.bpf import Filter

_ENV = "SECCOMPAT_PYTEST_FILTER"
_DESCRIPTION = pytest.StashKey[str]()
_BUILT = pytest.StashKey["tuple[Filter, str]"]()  # a marked test's filter, built at collection
_MARKER = ("seccomp(profile=None, runtime=None, deny=(), deny_newer_than=None, errno='EPERM'): "
           "run this test in a forked child under that seccomp filter")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seccomp", "run the session under a seccomp filter (seccompat)")
    group.addoption("--seccomp-profile", metavar="PATH",
                    help="install what a container runtime installs for this OCI or Docker "
                         "seccomp profile")
    group.addoption("--seccomp-runtime", metavar="R",
                    help="the runtime for --seccomp-profile: NAME:VERSION[+NAME:VERSION]")
    group.addoption("--seccomp-deny-newer-than", metavar="X.Y",
                    help="allow only syscalls that existed in Linux X.Y")
    group.addoption("--seccomp-errno", metavar="E",
                    help="errno for --seccomp-deny-newer-than (default EPERM)")
    for name, text in (("seccomp_profile", "seccomp profile for the whole session"),
                       ("seccomp_runtime", "runtime for seccomp_profile"),
                       ("seccomp_deny_newer_than", "allow only syscalls of Linux X.Y"),
                       ("seccomp_errno", "errno for seccomp_deny_newer_than")):
        parser.addini(name, text)


def _setting(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(name) or config.getini(name)
    return str(value) if value else None


def build(profile: str | None = None, runtime: str | None = None,
          deny: str | Iterable[str] = (), deny_newer_than: str | None = None,
          errno: str | int | None = None) -> tuple[Filter, str]:
    """The filter and a one-line description; ValueError/OSError for bad settings."""
    from seccompat.bpf import Action, parse_errno
    from seccompat.policy import container_filter, describe_denial
    from seccompat.syscalls import parse_version

    if isinstance(deny, str):
        deny = [deny]
    if profile is not None:
        if deny or deny_newer_than or errno:
            raise ValueError("a seccomp profile replaces deny, deny_newer_than and errno")
        from seccompat.profiles import load, translate

        translation = translate(load(profile), runtime)
        return translation.filter, f"profile {profile} as {translation.runtime.label()} " \
                                   "installs it"
    if runtime is not None:
        raise ValueError("a seccomp runtime applies to a profile")
    if not deny and not deny_newer_than:
        raise ValueError("give a profile, deny or deny_newer_than")
    action = Action.errno(parse_errno(errno or "EPERM"))
    newer = parse_version(deny_newer_than) if deny_newer_than else None
    try:
        flt = container_filter(deny=list(deny), newer_than=newer, action=action)
    except LookupError as exc:  # (ValueError passes as it is)
        raise ValueError(exc.args[0]) from None
    return flt, describe_denial(deny, newer, action)


def _own_traceback(exc: BaseException, test: object) -> str:
    """*exc* as Python prints it, from the test function's frame down (the plugin's
    own frames above it are not the test's)."""
    tb = exc.__traceback__
    code = getattr(test, "__code__", None)
    while tb is not None and tb.tb_frame.f_code is not code:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def _seccomp_mode() -> int:
    from seccompat._proc import seccomp_mode

    return seccomp_mode()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)
    profile = _setting(config, "seccomp_profile")
    newer = _setting(config, "seccomp_deny_newer_than")
    if profile is None and newer is None:
        for name, applies in (("seccomp_runtime", "--seccomp-profile"),
                              ("seccomp_errno", "--seccomp-deny-newer-than")):
            if _setting(config, name):
                raise pytest.UsageError(f"seccomp: --{name.replace('_', '-')} applies to "
                                        f"{applies}, which is not given")
        return
    from seccompat.bpf import compile_filter
    from seccompat.bpf.load import install

    try:
        flt, description = build(profile, _setting(config, "seccomp_runtime"),
                                 deny_newer_than=newer,
                                 errno=_setting(config, "seccomp_errno"))
        if os.environ.get(_ENV) != description or _seccomp_mode() != 2:
            install(compile_filter(flt))
    except (ValueError, OSError) as exc:
        raise pytest.UsageError(f"seccomp: {exc}") from None
    os.environ[_ENV] = description
    config.stash[_DESCRIPTION] = description


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A marker that cannot build its filter (a misspelt syscall, a bad errno) fails
    at collection, with the suggestion, before anything runs."""
    for item in items:
        marker = item.get_closest_marker("seccomp")
        if marker is None:
            continue
        try:
            item.stash[_BUILT] = build(*marker.args, **marker.kwargs)
        except (ValueError, OSError, TypeError) as exc:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.seccomp: {exc}") from None


def pytest_report_header(config: pytest.Config) -> str | None:
    description = config.stash.get(_DESCRIPTION, None)
    return None if description is None else f"seccomp: {description} (seccompat)"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    marker = pyfuncitem.get_closest_marker("seccomp")
    if marker is None:
        return None
    from seccompat._launch import call_in_child
    from seccompat.bpf import compile_filter

    built = pyfuncitem.stash.get(_BUILT, None)
    flt, description = built if built is not None else build(*marker.args, **marker.kwargs)
    program = compile_filter(flt)
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    def test() -> tuple[str, str | None]:
        try:
            pyfuncitem.obj(**kwargs)
        except pytest.skip.Exception as exc:  # outcomes do not pickle: carried as text
            return ("skip", exc.msg)
        except pytest.xfail.Exception as exc:
            return ("xfail", exc.msg)
        except pytest.fail.Exception as exc:
            return ("text", exc.msg)
        except BaseException as exc:  # the test's own failure: its traceback, from its frame
            return ("text", _own_traceback(exc, pyfuncitem.obj))
        return ("ok", None)

    done = call_in_child(test, program, timeout=24 * 3600)
    if done.signal is not None:
        pytest.fail(f"killed by signal {done.signal} under the seccomp filter "
                    f"({description})", pytrace=False)
    if done.error is not None or not isinstance(done.value, tuple):
        pytest.fail(f"the test's child exited with status {done.exit_status} under "
                    f"the seccomp filter ({description}) before reporting", pytrace=False)
    kind, value = done.value
    if kind == "skip":
        pytest.skip(value)
    if kind == "xfail":
        pytest.xfail(value)
    if kind == "text":
        pytest.fail(f"under the seccomp filter ({description}):\n{value}", pytrace=False)
    return True
