"""Rewrite a profile so the calls it did not know get ENOSYS, and prove it.

A profile's EPERM default answers two kinds of call alike: the ones its authors
denied on purpose, and the ones they never heard of (newer than the profile, or
with a userspace fallback that only runs on ENOSYS: lint's SC101).  The fix keeps
the first kind's errno and gives the second ENOSYS:

* where the runtime honours ``defaultErrnoRet``: the default becomes ENOSYS, and
  explicit denials keep the old errno for every call known when the profile was
  written, including the argument and capability cases where a named call fell
  to the default (the exact complement of its rules, as extra rules);
* where it does not (runc before 1.0.0-rc95, Docker up to 20.10): the default
  stays, and one ERRNO(ENOSYS) rule names every newer call this table knows;
  calls newer than the table still get the default, with a warning;
* Docker 19.03 and 20.10.0-20.10.9 drop every errnoRet: nothing can be fixed.

The proof translates original and fix under the runtime with no, default and all
capabilities and compares every call's verdict on the ABI.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from errno import ENOSYS

from .._fallbacks import FALLBACKS
from .._json import JsonObject
from .._probes import PROBES
from ..bpf.ir import Op
from ..errors import SeccompatError
from ..syscalls import Arch, arch, syscalls
from .complement import Group, complement, falls_to_default, unconditional
from .conversion import SCMP_OPS, as_read
from .edit import append_items, set_in_elements, set_member, spans
from .explain import Reason
from .model import Profile, SyscallRule, errno_or_eperm, parse
from .proof import Proof, explained, prove
from .runtimes import Runtime

__all__ = ["FixError", "FixResult", "Proof", "fix"]

_SCMP_NAMES = {op: name for name, op in SCMP_OPS.items()}


class FixError(SeccompatError, ValueError):
    """The profile cannot be fixed for that runtime (the message says why)."""


@dataclass
class FixResult:
    text: str
    strategy: str
    added_rules: int
    warnings: list[str]
    proof: Proof


def _rule_json(names: Sequence[str], errno: int, group: Group, docker: bool,
               comment: str) -> JsonObject:
    out: JsonObject = {"names": list(names), "action": "SCMP_ACT_ERRNO", "errnoRet": errno}
    if group.args:
        out["args"] = [{"index": c.index, "value": c.mask if c.op is Op.MASKED_EQ else c.value,
                        "valueTwo": c.value if c.op is Op.MASKED_EQ else 0,
                        "op": _SCMP_NAMES[c.op]}
                       for c in group.args]
    if docker:
        out["comment"] = comment
        inc: JsonObject = {}
        exc: JsonObject = {}
        if group.inc_caps:
            inc["caps"] = sorted(group.inc_caps)
        if group.inc_arches is not None:
            inc["arches"] = sorted(group.inc_arches)
        if group.inc_kernel:
            inc["minKernel"] = "{}.{}".format(*group.inc_kernel)
        if group.exc_caps:
            exc["caps"] = sorted(group.exc_caps)
        if group.exc_arches:
            exc["arches"] = sorted(group.exc_arches)
        if group.exc_kernel:
            exc["minKernel"] = "{}.{}".format(*group.exc_kernel)
        if inc:
            out["includes"] = inc
        if exc:
            out["excludes"] = exc
    return out


# --- which calls the profile knew ---------------------------------------------------

def _unknown_to_profile(profile: Profile, abis: list[Arch], keep: Iterable[str]) -> set[str]:
    """Calls the profile does not name and did not know: newer than every call it
    names, or with an ENOSYS fallback its EPERM default breaks (lint's SC101)."""
    era = profile.newest_kernel(abis[0])
    named = profile.named()
    kept = set(keep)
    out = set()
    for abi in abis:
        for sc in syscalls(abi):
            if sc.name in named or sc.name in kept:
                continue
            spec = PROBES.get(sc.name)
            if sc.since > era or (sc.name in FALLBACKS and not (spec and spec.gates)):
                out.add(sc.name)
    return out


# --- the rewrite ----------------------------------------------------------------------

def _like_the_default(profile: Profile) -> set[int]:
    """The positions of the rules equal to the default (ERRNO with its errno), which
    runc and crun skip: with the default moved to ENOSYS they would start to apply."""
    old = errno_or_eperm(profile.default_errno)
    return {_index(rule) for rule in profile.syscalls
            if rule.action == "SCMP_ACT_ERRNO" and errno_or_eperm(rule.errno_ret) == old}


def _index(rule: SyscallRule) -> int:
    """The rule's position in the profile's syscalls array (its path ends ``[N]``)."""
    return int(rule.path.rsplit("[", 1)[1].rstrip("]"))


def _rewrite(text: str, default_errno: bool, added: list[JsonObject],
             skipped: set[int]) -> str:
    """The input text with the new default and rules, every other byte kept; the
    rules at *skipped* (equal to the old default) get the new one's errno, so that
    they stay equal to it and skipped."""
    where = spans(text)
    base: tuple[str, ...] = ("linux", "seccomp") if ("linux", "seccomp") in where and \
        ("defaultAction",) not in where else ()
    array = (*base, "syscalls")
    if default_errno:
        text = set_member(text, base, "defaultErrnoRet", ENOSYS, after="defaultAction")
        if (*base, "defaultErrno") in spans(text):
            text = set_member(text, base, "defaultErrno", "ENOSYS")
        if skipped:
            text = set_in_elements(text, array, skipped, "errnoRet", ENOSYS, after="action")
    current = spans(text).get(array)
    if current is not None and text[current.value_start] == "[":
        return append_items(text, array, added)
    return set_member(text, base, "syscalls", added, after="defaultAction") if added else text


def fix(text: str | bytes, runtime: Runtime | str | None = None, *,
        target: str | Arch | None = None, kernel: tuple[int, int] = (6, 18),
        keep: Iterable[str] = (), complement_budget: int = 8) -> FixResult:
    """The fixed profile's text, the strategy, warnings, and the proof.

    A call allowed only for some arguments keeps the old errno for the others
    through complement rules when they take at most *complement_budget* rules;
    beyond that (personality's five allowed values take 83 aligned blocks, three
    ABIs of which overflow the kernel's 4096 instructions) those arguments get
    ENOSYS, as in containers/common's ENOSYS-default profile, and the proof lists
    the call under ``args_enosys``.

    Raises ProfileError for a bad profile and FixError when it cannot be fixed.
    """
    rt, profile, _ = as_read(parse(text), runtime)
    host = arch(target) if target is not None else arch(None)
    if profile.default_action != "SCMP_ACT_ERRNO":
        raise FixError(f"the default is {profile.default_action}: only an ERRNO default "
                       "answers unknown calls with an errno to fix")
    old_errno = errno_or_eperm(profile.default_errno)
    if old_errno == ENOSYS:
        raise FixError("the default is already ENOSYS: nothing to fix")
    if not rt.keeps_errno_ret:
        raise FixError(f"{rt.label()} drops every errnoRet, so no profile can give ENOSYS "
                       "there: upgrade to Docker 20.10.10 or later")
    abis = profile.abis(host)
    # The original's verdicts, under each capability set: for the stub and the proof.
    before = explained(profile, rt, host, kernel)
    unknown = _unknown_to_profile(profile, abis, keep)
    either: set[str] = set()  # calls where ENOSYS and the old errno are both faithful
    args_enosys: set[str] = set()
    warnings: list[str] = []
    added: list[JsonObject] = []
    docker = profile.docker_format
    if rt.honours_default_errno:
        strategy = "defaultErrnoRet ENOSYS, with explicit denials of the calls the profile knew"
        names = {sc.name for abi in abis for sc in syscalls(abi)}
        by_name: dict[str, list[SyscallRule]] = {}
        skipped = _like_the_default(profile)
        for rule in profile.syscalls:
            for n in rule.names:
                # A rule equal to the default never applies: where it matches, the
                # default answers; it names the call all the same.
                by_name.setdefault(n, []).extend(() if _index(rule) in skipped else (rule,))
        # Calls runc's stub answers ENOSYS whatever the capabilities stay that way.
        stubbed = set.intersection(*({e.name for e in explained if e.reason is Reason.STUB}
                                     for explained in before.values()))
        unnamed = sorted(n for n in names - unknown - stubbed if n not in by_name)
        # Named, but newer than the runtime's libseccomp: it falls to the default
        # whatever the rules say, so ENOSYS there is as faithful as the old errno.
        either |= {n for n in by_name if n in names and all(
            not rt.resolves(sc) for abi in abis for sc in syscalls(abi)
            if sc.name == n)}
        if unnamed:
            added.append(_rule_json(unnamed, old_errno, Group(), docker,
                                    "seccompat fix: what the original default denied"))
        complements: dict[Group, list[str]] = {}  # one rule per condition, many names
        for name in sorted(by_name):
            named_rules = by_name[name]
            if any(unconditional(r, rt) for r in named_rules):
                continue
            groups = complement(falls_to_default(named_rules, rt), complement_budget)
            if groups is None:
                args_enosys.add(name)  # as containers/common's ENOSYS-default profile does
                continue
            for group in groups:
                complements.setdefault(group, []).append(name)
        for group, group_names in complements.items():
            added.append(_rule_json(group_names, old_errno, group, docker,
                                    "seccompat fix: where the original rules did not apply"))
    else:
        strategy = "default kept (the runtime ignores defaultErrnoRet), newer calls named ENOSYS"
        warnings.append(f"{rt.label()} ignores defaultErrnoRet: calls newer than this table "
                        f"still get the default errno {old_errno}")
        unresolved = {n for n in unknown
                      if all(not rt.resolves(sc)
                             for abi in abis for sc in syscalls(abi) if sc.name == n)}
        if unresolved:
            warnings.append(f"{rt.label()}'s libseccomp cannot name "
                            f"{', '.join(sorted(unresolved))}: they keep errno {old_errno} "
                            "unless runc's stub answers them")
            unknown -= unresolved
            either |= unresolved
        if unknown:
            added.append(_rule_json(sorted(unknown), ENOSYS, Group(), docker,
                                    "seccompat fix: calls the profile did not know"))
    source = text.decode() if isinstance(text, bytes) else text
    new_text = _rewrite(source, rt.honours_default_errno, added, _like_the_default(profile))
    proof = prove(profile, before, parse(new_text), rt, host, kernel, unknown, either,
                  args_enosys)
    return FixResult(new_text, strategy, len(added), warnings, proof)
