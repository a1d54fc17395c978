"""Findings about a profile: stable codes, a severity, the JSON path, a one-line fix.

Checks on the file itself (names, errno values, argument tests, architectures) and
on what a runtime makes of it (:func:`~.runtimes.translate`): which calls fall to
an EPERM default where userspace expects ENOSYS, and which argument rules overlap.
"""

from __future__ import annotations

import difflib
import errno as _errno
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .._fallbacks import FALLBACKS
from .._oracle import UNFILTERED
from .._probes import PROBES
from ..bpf.insn import RET
from ..bpf.ir import Action
from ..syscalls import Arch, arch, known, lookup, names
from .argset import satisfiable
from .conversion import DropReason, Translation, arg_cmp, translate
from .explain import Reason, explain
from .model import Profile, ProfileError, SyscallRule, errno_or_eperm, oci_view
from .runtimes import Runtime, libseccomp_release

__all__ = ["CHECKS", "Finding", "lint"]

#: code -> (severity, title).  Codes are stable: new checks get new codes.
CHECKS: dict[str, tuple[str, str]] = {
    "SC101": ("error", "a call with a userspace ENOSYS fallback falls to an EPERM default"),
    "SC102": ("warning", "calls newer than the profile fall to an EPERM default"),
    "SC201": ("warning", "unknown syscall name"),
    "SC202": ("note", "names an older libseccomp cannot resolve"),
    "SC301": ("warning", "overlapping argument rules with different actions"),
    "SC302": ("warning", "a rule that never applies: an unconditional rule for the call comes "
                         "first"),
    "SC303": ("warning", "a rule libseccomp drops: an earlier rule of the call decides where it "
                         "would"),
    "SC401": ("warning", "no architectures: only the native ABI is covered"),
    "SC402": ("warning", "x86_64 covered without its i386 or x32 ABI"),
    "SC501": ("error", "errnoRet on an action other than ERRNO or TRACE"),
    "SC502": ("warning", "errno above 4095"),
    "SC503": ("warning", "errno 0: the call returns success without running"),
    "SC601": ("warning", "a rule that can never match"),
    "SC602": ("note", "a rule equal to the default action has no effect"),
    "SC701": ("error", "the runtime refuses the profile: the container does not start"),
    "SC702": ("warning", "Docker-format fields an OCI-only runtime drops"),
}


@dataclass(frozen=True)
class Finding:
    code: str
    path: str
    message: str
    fix: str

    @property
    def severity(self) -> str:
        return CHECKS[self.code][0]


def _name_paths(rule: SyscallRule) -> list[tuple[str, str]]:
    if rule.singular:
        return [(rule.names[0], f"{rule.path}.name")]
    return [(n, f"{rule.path}.names[{i}]") for i, n in enumerate(rule.names)]


def _unknown_names(profile: Profile) -> Iterable[Finding]:
    every = names()
    for rule in profile.syscalls:
        for name, path in _name_paths(rule):
            if known(name):
                continue
            close = difflib.get_close_matches(name, every, n=1, cutoff=0.75)
            fix = f"did you mean {close[0]}?" if close else "remove it: no kernel has this call"
            yield Finding("SC201", path, f"{name!r} is not a syscall on any ABI; runtimes drop "
                          "it silently", fix)


def _old_libseccomp(profile: Profile) -> Iterable[Finding]:
    by_release: dict[tuple[int, ...], list[tuple[str, str]]] = defaultdict(list)
    for rule in profile.syscalls:
        for name, path in _name_paths(rule):
            if not known(name):
                continue
            release = libseccomp_release(name)
            if release is None or release > (2, 5, 1):
                by_release[release or (9, 9, 9)].append((name, path))
    for release, items in sorted(by_release.items()):
        unique = sorted({n for n, _ in items})
        need = "no released libseccomp" if release == (9, 9, 9) else \
            f"libseccomp >= {'.'.join(map(str, release))}"
        yield Finding("SC202", items[0][1], f"{', '.join(unique)} need {need}; a runtime "
                      "linked with an older one drops them (runc release binaries before 1.1 "
                      "link 2.5.1)", "check the runtime's libseccomp (runc --version)")


def _errno_checks(profile: Profile) -> Iterable[Finding]:
    if profile.default_errno is not None and profile.default_errno > 4095:
        yield Finding("SC502", "defaultErrnoRet", f"errno {profile.default_errno} is above "
                      "4095: the kernel returns 4095", "use an errno below 4096")
    if profile.default_errno == 0:
        yield Finding("SC503", "defaultErrnoRet", "errno 0: every unlisted call returns 0 "
                      "without running, as if it succeeded", "use a real errno (EPERM, ENOSYS)")
    for rule in profile.syscalls:
        if rule.errno_ret is None:
            continue
        if rule.action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            yield Finding("SC501", f"{rule.path}.errnoRet", f"errnoRet on {rule.action}: runc "
                          "ignores it and crun refuses the profile", "remove errnoRet")
        elif rule.errno_ret > 4095:
            yield Finding("SC502", f"{rule.path}.errnoRet", f"errno {rule.errno_ret} is above "
                          "4095 (MAX_ERRNO): the kernel returns 4095",
                          "use an errno below 4096")
        elif rule.errno_ret == 0:
            yield Finding("SC503", f"{rule.path}.errnoRet", "errno 0: ERRNO(0) makes the call "
                          "return 0 without running it, so the program believes it succeeded",
                          "use a real errno (EPERM, ENOSYS) or allow the call")


def _dead_rules(profile: Profile, default: str, default_errno: int | None,
                ) -> Iterable[Finding]:
    for rule in profile.syscalls:
        if not rule.names:
            yield Finding("SC601", f"{rule.path}.names", "the rule names no syscall",
                          "name the calls or remove the rule")
            continue
        cmps = tuple(arg_cmp(a) for a in rule.args)
        indices = [c.index for c in cmps]
        if cmps and len(set(indices)) == len(indices) and not satisfiable(cmps):
            yield Finding("SC601", f"{rule.path}.args", "no argument values meet all these "
                          "comparisons: the rule never matches", "fix or remove the comparisons")
        same = rule.action == default and \
            errno_or_eperm(rule.errno_ret) == errno_or_eperm(default_errno)
        if same and not rule.args and rule.includes.empty and rule.excludes.empty:
            yield Finding("SC602", f"{rule.path}.action", "the rule gives what the default "
                          "gives; runc and crun skip it", "remove the rule")


def _arch_checks(profile: Profile) -> Iterable[Finding]:
    if profile.arch_map:
        listed = [[m, *subs] for m, subs in profile.arch_map]
        where = "archMap"
    elif profile.architectures:
        listed = [list(profile.architectures)]
        where = "architectures"
    else:
        yield Finding("SC401", "architectures", "no architectures: processes of another ABI "
                      "(i386 or x32 on x86_64) get the bad-arch action, and runc before 1.1.15 "
                      "adds no ENOSYS stub", "list SCMP_ARCH_X86_64, SCMP_ARCH_X86 and "
                      "SCMP_ARCH_X32 (or the archMap of Docker's default)")
        return
    for i, group in enumerate(listed):
        abis = {arch(a).name for a in group}
        if "x86_64" in abis and not {"x86", "x32"} <= abis:
            missing = sorted({"x86", "x32"} - abis)
            path = f"archMap[{i}]" if where == "archMap" else "architectures"
            yield Finding("SC402", path, f"x86_64 without {' and '.join(missing)}: those "
                          "processes are killed as a bad architecture",
                          "add " + " and ".join(f"SCMP_ARCH_{m.upper()}" for m in missing))


def _translated(profile: Profile, tr: Translation, abi: Arch) -> Iterable[Finding]:
    """SC101/SC102 from each call's verdict, then the overlaps."""
    label = tr.runtime.label()
    era = profile.newest_kernel(abi)
    broken: dict[tuple[int, int], list[str]] = defaultdict(list)
    newer: dict[tuple[int, int], list[str]] = defaultdict(list)
    unfiltered = UNFILTERED.get(abi.name, frozenset())
    for e in explain(tr, abi):
        outcome = tr.outcomes.get(e.name)
        if e.action is None or e.action.kind != RET.ERRNO or e.action.data == _errno.ENOSYS:
            continue
        on_purpose = outcome is not None and (outcome.rules or any(
            d.reason is not DropReason.LIBSECCOMP_TOO_OLD for d in outcome.dropped))
        if on_purpose or e.name in unfiltered or e.reason is not Reason.DEFAULT:
            continue  # allowed, denied, or dropped by a condition, on purpose
        since = lookup(e.name, abi).since
        spec = PROBES.get(e.name)
        if e.name in FALLBACKS and not (spec and spec.gates):
            # (A call with an EPERM gate, io_uring_setup's sysctl, is one whose
            # callers handle EPERM already.)
            broken[since].append(e.name)
        elif since > era > (0, 0):
            newer[since].append(e.name)
    err = _errno.errorcode.get(tr.default.data, str(tr.default.data))
    for since, calls in sorted(broken.items()):
        who = "; ".join(f"{c}: {FALLBACKS[c]}" for c in calls)
        yield Finding("SC101", "defaultAction", f"under {label}, Linux {since[0]}.{since[1]} "
                      f"calls get {err} where a kernel without them gives ENOSYS, so their "
                      f"fallbacks never run ({who})", _enosys_advice(tr.runtime, allow=True))
    for since, calls in sorted(newer.items()):
        yield Finding("SC102", "defaultAction", f"under {label}, Linux {since[0]}.{since[1]} "
                      f"calls newer than any the profile names get {err}, not ENOSYS: "
                      f"{', '.join(sorted(calls))}", _enosys_advice(tr.runtime))
    conditional = {r.path for r in profile.syscalls
                   if not (r.includes.empty and r.excludes.empty)}
    yield from _overlaps(tr, conditional)
    if profile.docker_format and not tr.runtime.reads_docker_format:
        _, lost = oci_view(profile)
        if lost:
            yield Finding("SC702", "archMap" if profile.arch_map else "syscalls",
                          f"{label} reads the OCI fields only: it drops {'; '.join(lost)}",
                          "run it through an engine that converts Docker's format (docker, "
                          "podman), or write the OCI fields: architectures, errnoRet")


def _enosys_advice(runtime: Runtime, allow: bool = False) -> str:
    """How to make calls the default denies get ENOSYS, in a way *runtime* honours
    (*allow*: allowing them is a fix too)."""
    label = runtime.label()
    or_allow = ", or allow them" if allow else ""
    if runtime.honours_default_errno:
        return ("set defaultErrnoRet to 38 (ENOSYS) and deny on purpose explicitly "
                f"(seccompat fix){or_allow}")
    if runtime.keeps_errno_ret:
        return (f"{label} ignores defaultErrnoRet but keeps a rule's errnoRet: name those calls "
                f"in an SCMP_ACT_ERRNO rule with errnoRet 38 (seccompat fix writes it){or_allow}")
    return (f"no profile change gives ENOSYS under {label}, which drops every errnoRet: "
            f"{'allow those calls, ' if allow else ''}upgrade the engine, or start the program "
            "through seccompat shim (it stacks a filter answering ENOSYS for them)")


def _overlaps(tr: Translation, conditional: set[str]) -> Iterable[Finding]:
    """SC301/SC302.  A rule under includes/excludes that overrides an allow is the
    engine's idiom for "deny unless the capability is held": not reported."""
    seen: set[tuple[str, str]] = set()
    for name, outcome in sorted(tr.outcomes.items()):
        rules = outcome.rules
        first = next(((p, r) for p, r in rules if not r.conditions), None)
        for gone in outcome.dropped:
            if gone.reason is not DropReason.SHADOWED or gone.path in conditional:
                continue
            if first is None:
                if ("", gone.path) not in seen:
                    seen.add(("", gone.path))
                    yield Finding("SC303", gone.path, f"{name}: libseccomp builds one decision "
                                  "tree per call and keeps the shorter of two rules that share "
                                  "their first tests: an earlier rule decides wherever this one "
                                  "would, and this rule never applies", "merge the two rules, "
                                  "or make their conditions disjoint")
                continue
            if (first[0], gone.path) in seen:
                continue
            seen.add((first[0], gone.path))
            yield Finding("SC302", gone.path, f"{name}: {_short(first[1].action)} ({first[0]}) "
                          "comes first, and libseccomp keeps the first unconditional rule for a "
                          "call over every other: this rule never applies",
                          "keep one rule per call")
        for i, (path_a, a) in enumerate(rules):
            for path_b, b in rules[i + 1:]:
                if a.action == b.action or (path_a, path_b) in seen:
                    continue
                if a.conditions and b.conditions and satisfiable(a.conditions, b.conditions):
                    seen.add((path_a, path_b))
                    yield Finding("SC301", path_b, f"{name}: argument rules {path_a} "
                                  f"({_short(a.action)}) and {path_b} ({_short(b.action)}) can "
                                  "match one call; libseccomp tries them in its own order (higher "
                                  "argument first, EQ before LT/LE before GT/GE, the larger GT "
                                  "first), not the profile's", "make the conditions disjoint")


def _short(action: Action) -> str:
    return str(action).lower()


def lint(profile: Profile, runtimes: Sequence[Runtime | str | None] = (None,), *,
         target: str | Arch | None = None, kernel: tuple[int, int] = (6, 18),
         caps: Iterable[str] | None = None) -> list[Finding]:
    """Every finding for *profile*, the runtime-dependent ones under each of *runtimes*."""
    abi = arch(target) if target is not None else arch(None)
    findings: list[Finding] = []
    findings += _unknown_names(profile)
    findings += _old_libseccomp(profile)
    findings += _errno_checks(profile)
    findings += _dead_rules(profile, profile.default_action, profile.default_errno)
    findings += _arch_checks(profile)
    cap_list = list(caps) if caps is not None else None
    for runtime in runtimes:
        try:
            tr = translate(profile, runtime, target=abi, kernel=kernel, caps=cap_list)
        except ProfileError as exc:
            said = bool(exc.path) and any(f.severity == "error" and f.path.startswith(exc.path)
                                          for f in findings)  # (SC501: why crun refuses)
            if not said:
                label = runtime if isinstance(runtime, str) else \
                    (runtime.label() if runtime is not None else "the default runtime")
                findings.append(Finding("SC701", exc.path or "defaultAction",
                                        f"under {label}: {str(exc).split(': ', 1)[-1]}",
                                        "change what the message names"))
            continue
        for f in _translated(profile, tr, abi):
            if f not in findings:
                findings.append(f)
    order = {"error": 0, "warning": 1, "note": 2}
    return sorted(findings, key=lambda f: (order[f.severity], f.code, f.path))
