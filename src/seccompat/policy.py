"""Filters that reproduce what container runtimes install, from a few parameters.

``container_filter(newer_than=(5, 4))`` is an allow-list written for Linux 5.4:
every syscall the table says existed in 5.4 is allowed, everything else (newer
calls and numbers no table knows) gets the deny action, which is what an
EPERM-default Docker/Podman profile of that era does.  Without ``newer_than`` the
filter allows everything except the names in ``deny``.

On x86_64 the filter also covers the i386 and x32 ABIs (as Docker's profiles do),
and on aarch64 the 32-bit ARM ABI, so 32-bit programs see the same policy.
"""

from __future__ import annotations

from collections.abc import Iterable

from .bpf.ir import Action, ArchPolicy, Filter, Rule
from .syscalls import Arch, arch, find, known, lookup, native_arch, syscalls

__all__ = ["COMPAT_ABIS", "ESSENTIAL", "container_filter", "describe_denial"]

#: Calls no program can start or end without: a filter that denies them (unless
#: named on purpose) can only kill what it runs, silently (exit 139 after execve).
ESSENTIAL = ("execve", "exit", "exit_group", "rt_sigreturn")

#: ABIs a process on the key ABI can also use (int 0x80, x32, AArch32).
COMPAT_ABIS: dict[str, tuple[str, ...]] = {
    "x86_64": ("x86", "x32"),
    "aarch64": ("arm",),
    "ppc64": ("ppc",),
    "s390x": ("s390",),
    "mips64": ("mips", "mips64n32"),
    "mipsel64": ("mipsel", "mipsel64n32"),
}


def container_filter(
    *,
    deny: Iterable[str] = (),
    newer_than: tuple[int, int] | None = None,
    action: Action | None = None,
    target: str | Arch | None = None,
    bad_arch: Action | None = None,
) -> Filter:
    """A filter that denies *deny* and, with *newer_than*, every call newer than it.

    *action* is what a denied call gets (default ERRNO(EPERM)); *target* is the
    ABI (default: this process's), whose compat ABIs are covered too.  Raises
    ``LookupError`` for a name no ABI knows, and ``ValueError`` for a filter that
    would deny one of :data:`ESSENTIAL` without naming it in *deny*: a
    *newer_than* older than the table's oldest calls (Linux 3.0) does.
    """
    denied = action if action is not None else Action.errno(1)
    allow = Action.allow()
    deny = list(deny)
    for name in deny:
        if not known(name):
            lookup(name)  # raises LookupError with a close-match suggestion
    main = arch(target) if target is not None else native_arch()
    if newer_than is not None:
        essential = (find(name, main) for name in ESSENTIAL if name not in deny)
        lost = [sc.name for sc in essential if sc is not None and sc.since > newer_than]
        if lost:
            oldest = min(sc.since for sc in syscalls(main))
            raise ValueError(
                f"Linux {newer_than[0]}.{newer_than[1]} predates the syscall table "
                f"(its oldest calls are from {oldest[0]}.{oldest[1]}): that filter would "
                f"deny {', '.join(lost)} too, so nothing could run under it; use "
                f"{oldest[0]}.{oldest[1]} or later (or deny those calls by name)")
    policies = []
    for abi in (main, *(arch(n) for n in COMPAT_ABIS.get(main.name, ()))):
        rules: dict[int, tuple[Rule, ...]] = {}
        if newer_than is None:
            default = allow
        else:
            default = denied
            for sc in syscalls(abi):
                if sc.since <= newer_than:
                    rules[sc.number] = (Rule(allow),)
        for name in deny:
            found = find(name, abi)
            if found is not None:  # (a name may not exist on this ABI)
                rules[found.number] = (Rule(denied),)
        policies.append(ArchPolicy(abi, default, rules))
    return Filter(tuple(policies), bad_arch or Action.kill_process())


def describe_denial(deny: Iterable[str], newer_than: tuple[int, int] | None,
                    action: Action) -> str:
    """What a :func:`container_filter` denies, for logs and report headers:
    ``"denying syscalls newer than Linux 5.4 and clone3 with ERRNO(1)"`` (the
    version as it was used: ``6.8.0-45-generic`` is 6.8)."""
    what = [f"syscalls newer than Linux {newer_than[0]}.{newer_than[1]}"] if newer_than else []
    names = list(deny)
    what += [", ".join(names)] if names else []
    return f"denying {' and '.join(what) or 'nothing'} with {action}"
