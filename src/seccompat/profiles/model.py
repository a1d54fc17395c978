"""Seccomp profiles as written: OCI ``linux.seccomp`` and Docker's format, validated.

Accepted: a plain OCI seccomp object (runtime-spec config-linux.md: defaultAction,
defaultErrnoRet, architectures, flags, listenerPath, syscalls[] with names,
action, errnoRet, args), a whole OCI ``config.json`` (its ``linux.seccomp``), and
Docker's format (moby profiles/seccomp: archMap with subArchitectures, ``name`` or
``names``, includes/excludes on caps, arches and minKernel, comment), including
the containers/common string fields ``defaultErrno`` and ``errno``.

Every validation error names its JSON path (``syscalls[12].args[0].op``) and the
fix.  Syscall names the table does not know are kept: they are findings for lint,
and runtimes drop them, they are not errors.
"""

from __future__ import annotations

import errno as E
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .._files import MAX_PROFILE_BYTES, read_regular
from ..errors import SeccompatError
from ..syscalls import Arch, arch, find

_T = TypeVar("_T")

__all__ = ["ACTIONS", "OPS", "ArgSpec", "Condition", "Profile", "ProfileError", "SyscallRule",
           "errno_or_eperm", "load", "oci_view", "parse"]

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",
           "SCMP_ACT_NOTIFY")
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
       "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
MAX_BYTES = MAX_PROFILE_BYTES
MAX_DEPTH = 32


class ProfileError(SeccompatError, ValueError):
    """The profile cannot be used: ``path`` is where, the message says what to do."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<profile>'}: {message}")
        self.path = path


@dataclass(frozen=True)
class ArgSpec:
    index: int
    value: int
    value_two: int
    op: str


@dataclass(frozen=True)
class Condition:
    """Docker's includes/excludes."""

    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        return not self.caps and not self.arches and self.min_kernel is None


@dataclass(frozen=True)
class SyscallRule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[ArgSpec, ...] = ()
    includes: Condition = field(default_factory=Condition)
    excludes: Condition = field(default_factory=Condition)
    comment: str = ""
    path: str = ""
    """Where the rule is in the file (``syscalls[3]``), for explanations."""
    singular: bool = False
    """Written with Docker's old ``name`` field rather than ``names``."""
    oci_errno_ret: int | None = None
    """``errnoRet`` alone: what an OCI reader takes (it ignores containers/common's
    ``errno``)."""


@dataclass(frozen=True)
class Profile:
    default_action: str
    default_errno: int | None = None
    architectures: tuple[str, ...] = ()
    arch_map: tuple[tuple[str, tuple[str, ...]], ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str | None = None
    syscalls: tuple[SyscallRule, ...] = ()
    docker_format: bool = False
    oci_default_errno: int | None = None
    """``defaultErrnoRet`` alone (an OCI reader ignores ``defaultErrno``)."""

    def newest_kernel(self, abi: Arch) -> tuple[int, int]:
        """The newest kernel version among the calls the profile names: its era."""
        newest = (0, 0)
        for rule in self.syscalls:
            for name in rule.names:
                sc = find(name, abi)
                if sc is not None:
                    newest = max(newest, sc.since)
        return newest

    def arch_names(self, host: Arch) -> tuple[str, ...]:
        """The architectures a runtime is given on *host*: ``architectures``, or the
        host's archMap entry with its subArchitectures (moby setupSeccomp)."""
        for main, subs in self.arch_map:
            if arch(main) == host:
                return (main, *subs)
        return self.architectures

    def abis(self, host: Arch) -> list[Arch]:
        """*host* first, then every other ABI the profile covers on it, once each."""
        out = [host]
        for name in self.arch_names(host):
            if arch(name) not in out:
                out.append(arch(name))
        return out

    def named(self) -> frozenset[str]:
        return frozenset(n for rule in self.syscalls for n in rule.names)


def errno_or_eperm(value: int | None) -> int:
    """The errno an ERRNO action returns: *value*, or EPERM when none is given (as
    runc and crun fill it); 0 stays 0."""
    return E.EPERM if value is None else value


def _type(value: object, kind: type[_T], path: str, what: str) -> _T:
    if isinstance(value, bool) and kind is int:
        raise ProfileError(path, f"{what} must be a number, not a boolean")
    if not isinstance(value, kind):
        names = {str: "a string", int: "a number", list: "a list", dict: "an object"}
        raise ProfileError(path, f"{what} must be {names.get(kind, str(kind))}, "
                                 f"not {type(value).__name__}")
    return value


def _errno(value: object, path: str) -> int:
    if isinstance(value, str):
        number = getattr(E, value.upper(), None) if value.upper().startswith("E") else None
        if not isinstance(number, int):
            raise ProfileError(path, f"unknown errno name {value!r}: use a name like EPERM")
        return number
    value = _type(value, int, path, "an errno")
    if not 0 <= value <= 0xFFFF:
        # (0 is accepted, as runc accepts it: ERRNO(0) returns 0 without running the
        # call, which lint reports)
        raise ProfileError(path, f"errno {value} is outside 0..65535 (the kernel caps at 4095)")
    return int(value)


def _action(value: object, path: str) -> str:
    value = _type(value, str, path, "an action")
    if value not in ACTIONS:
        raise ProfileError(path, f"unknown action {value!r}: use one of {', '.join(ACTIONS)}")
    return str(value)


def _strings(value: object, path: str, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    value = _type(value, list, path, what)
    for i, item in enumerate(value):
        _type(item, str, f"{path}[{i}]", f"each of {what}")
    return tuple(value)


def _arch(name: str, path: str) -> str:
    try:
        arch(name)
    except ValueError:
        raise ProfileError(path, f"unknown architecture {name!r}: use a libseccomp name "
                                 "like SCMP_ARCH_X86_64") from None
    return name


def _arches(value: object, path: str, what: str) -> tuple[str, ...]:
    return tuple(_arch(name, f"{path}[{i}]")
                 for i, name in enumerate(_strings(value, path, what)))


def _u64(value: object, path: str) -> int:
    value = _type(value, int, path, "an argument value")
    if not 0 <= value < 2**64:
        raise ProfileError(path, f"{value} is outside 0..2**64-1")
    return int(value)


def _condition(value: object, path: str) -> Condition:
    if value is None:
        return Condition()
    value = _type(value, dict, path, "includes/excludes")
    unknown = set(value) - {"caps", "arches", "minKernel"}
    if unknown:
        raise ProfileError(f"{path}.{sorted(unknown)[0]}",
                           "unknown field: includes/excludes take caps, arches, minKernel")
    kernel = value.get("minKernel")
    min_kernel = None
    if kernel not in (None, ""):
        kernel = _type(kernel, str, f"{path}.minKernel", "minKernel")
        try:
            major, minor = (int(p) for p in kernel.split(".")[:2])
        except ValueError:
            raise ProfileError(f"{path}.minKernel",
                               f"{kernel!r} is not a kernel version like 4.8") from None
        min_kernel = (major, minor)
    return Condition(_strings(value.get("caps"), f"{path}.caps", "caps"),
                     _strings(value.get("arches"), f"{path}.arches", "arches"), min_kernel)


def _rule(value: object, path: str) -> SyscallRule:
    value = _type(value, dict, path, "a syscall rule")
    if "name" in value and "names" in value:
        raise ProfileError(path, "use either name or names, not both")
    if "names" in value:
        names = _strings(value["names"], f"{path}.names", "names")
    elif "name" in value:
        names = (_type(value["name"], str, f"{path}.name", "name"),)
    else:
        raise ProfileError(path, "a rule needs names (a list of syscall names)")
    action = _action(value.get("action"), f"{path}.action")
    errno_ret = oci_errno = None
    if value.get("errnoRet") is not None:
        errno_ret = oci_errno = _errno(value["errnoRet"], f"{path}.errnoRet")
    if value.get("errno") not in (None, ""):  # containers/common: the name wins
        errno_ret = _errno(value["errno"], f"{path}.errno")
    args = []
    raw_args = value.get("args")
    if raw_args is not None:
        raw_args = _type(raw_args, list, f"{path}.args", "args")
        for i, raw_arg in enumerate(raw_args):
            apath = f"{path}.args[{i}]"
            arg = _type(raw_arg, dict, apath, "an argument comparison")
            index = _type(arg.get("index"), int, f"{apath}.index", "index")
            if not 0 <= index <= 5:
                raise ProfileError(f"{apath}.index", f"index {index} is outside 0..5")
            op = arg.get("op")
            op = _type(op, str, f"{apath}.op", "op")
            if op not in OPS:
                raise ProfileError(f"{apath}.op", f"unknown op {op!r}: use one of {', '.join(OPS)}")
            args.append(ArgSpec(index, _u64(arg.get("value", 0), f"{apath}.value"),
                                _u64(arg.get("valueTwo", 0), f"{apath}.valueTwo"), op))
    comment = value.get("comment") or ""
    comment = _type(comment, str, f"{path}.comment", "comment")
    return SyscallRule(names, action, errno_ret, tuple(args),
                       _condition(value.get("includes"), f"{path}.includes"),
                       _condition(value.get("excludes"), f"{path}.excludes"), comment, path,
                       "names" not in value, oci_errno)


def _check_depth(value: object, path: str = "", depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ProfileError(path, f"nested deeper than {MAX_DEPTH} levels: not a profile")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_depth(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_depth(item, f"{path}[{i}]", depth + 1)


def parse(text: str | bytes) -> Profile:
    """Parse and validate a profile (or an OCI config.json); raises ProfileError."""
    if len(text) > MAX_BYTES:
        raise ProfileError("", f"{len(text)} bytes: larger than {MAX_BYTES >> 20} MiB")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError("", f"not valid JSON: {exc.msg} at line {exc.lineno} "
                               f"column {exc.colno}") from None
    except RecursionError:
        raise ProfileError("", "nested too deeply to be a profile") from None
    _check_depth(data)
    base = ""
    if isinstance(data, dict) and "linux" in data and "defaultAction" not in data:
        linux = data.get("linux")
        if not isinstance(linux, dict) or not isinstance(linux.get("seccomp"), dict):
            raise ProfileError("linux.seccomp", "this config.json has no seccomp profile")
        data, base = linux["seccomp"], "linux.seccomp."
    data = _type(data, dict, base.rstrip("."), "a profile")

    def at(key: str) -> str:
        return base + key

    if "defaultAction" not in data:
        raise ProfileError(at("defaultAction"), "missing: every profile needs a defaultAction")
    default_action = _action(data["defaultAction"], at("defaultAction"))
    default_errno = oci_default = None
    if data.get("defaultErrnoRet") is not None:
        default_errno = oci_default = _errno(data["defaultErrnoRet"], at("defaultErrnoRet"))
    if data.get("defaultErrno") not in (None, ""):
        default_errno = _errno(data["defaultErrno"], at("defaultErrno"))
    if "archMap" in data and data.get("architectures"):
        raise ProfileError(at("archMap"), "use either archMap or architectures, not both")
    arch_map = []
    if data.get("archMap") is not None:
        _type(data["archMap"], list, at("archMap"), "archMap")
        for i, raw_item in enumerate(data["archMap"]):
            path = at(f"archMap[{i}]")
            item = _type(raw_item, dict, path, "an archMap entry")
            main = _arch(_type(item.get("architecture"), str, f"{path}.architecture",
                               "architecture"), f"{path}.architecture")
            arch_map.append((main, _arches(item.get("subArchitectures"),
                                              f"{path}.subArchitectures", "subArchitectures")))
    rules = []
    raw_rules = data.get("syscalls")
    raw_rules = [] if raw_rules is None else raw_rules
    raw_rules = _type(raw_rules, list, at("syscalls"), "syscalls")
    for i, rule in enumerate(raw_rules):
        rules.append(_rule(rule, at(f"syscalls[{i}]")))
    docker = bool(arch_map) or data.get("defaultErrno") not in (None, "") or any(
        any(k in r for k in ("includes", "excludes", "name", "errno"))
        for r in raw_rules if isinstance(r, dict))
    listener = data.get("listenerPath")
    if listener is not None:
        _type(listener, str, at("listenerPath"), "listenerPath")
    return Profile(default_action, default_errno,
                   _arches(data.get("architectures"), at("architectures"), "architectures"),
                   tuple(arch_map), _strings(data.get("flags"), at("flags"), "flags"), listener,
                   tuple(rules), docker, oci_default)


def oci_view(profile: Profile) -> tuple[Profile, tuple[str, ...]]:
    """What an OCI-only reader (runc, crun, containerd's ``ctr``) takes of a
    Docker-format profile, and what it drops: Go's JSON decoding ignores the
    fields runtime-spec's LinuxSeccomp lacks (archMap, name, includes, excludes,
    comment, containers/common's errno and defaultErrno)."""
    lost: list[str] = []
    if profile.arch_map:
        lost.append("archMap (only the native ABI is filtered)")
    if profile.default_errno != profile.oci_default_errno:
        lost.append("defaultErrno")
    rules = []
    by_kind: dict[str, list[str]] = {}
    for rule in profile.syscalls:
        if rule.singular:
            by_kind.setdefault("name (such a rule names no call)", []).append(rule.path)
            continue
        if not (rule.includes.empty and rule.excludes.empty):
            by_kind.setdefault("includes/excludes (the rule always applies)", []).append(
                rule.path)
        if rule.errno_ret != rule.oci_errno_ret:
            by_kind.setdefault("errno", []).append(rule.path)
        rules.append(SyscallRule(rule.names, rule.action, rule.oci_errno_ret, rule.args,
                                 path=rule.path, oci_errno_ret=rule.oci_errno_ret))
    for kind, paths in by_kind.items():
        where = paths[0] if len(paths) == 1 else f"{len(paths)} rules, {paths[0]} to {paths[-1]}"
        lost.append(f"{kind}: {where}")
    return Profile(profile.default_action, profile.oci_default_errno, profile.architectures,
                   (), profile.flags, profile.listener_path, tuple(rules), False,
                   profile.oci_default_errno), tuple(lost)


def read(path: str | Path) -> bytes:
    """The bytes of profile file *path*: a regular file of at most ``MAX_BYTES``;
    raises OSError, or FileRefused for a FIFO, a device (/dev/zero) or a larger file."""
    return read_regular(path, MAX_BYTES)


def load(path: str | Path) -> Profile:
    """Read and parse a profile file; raises OSError, FileRefused or ProfileError."""
    return parse(read(path))
