"""What a runtime installs for a profile: the engine's conversion, then the
low-level runtime's, as a filter IR with the reason for every syscall's outcome.

The same file gives different filters under different runtimes.  Modelled, with
the sources in the reference notes (corpus/notes/how-runtimes-build-filters.md):

* ``docker`` (moby profiles/seccomp): archMap picks the host's entry (plus its
  subArchitectures); includes/excludes on caps (the bounding set), arches (the
  daemon's GOARCH name) and minKernel (the host kernel's major.minor); Docker up
  to 20.10.x drops defaultErrnoRet, and 19.03 and 20.10.0-20.10.9 drop errnoRet.
* ``podman`` (containers/common): the same conversion without minKernel (ignored,
  the rule always applies); the string fields errno and defaultErrno.
* ``runc``: skips rules whose action equals the default; drops names its linked
  libseccomp cannot resolve; one rule with every argument test (AND), or one rule
  per test when an index repeats (OR); from 1.0.0-rc93 the ENOSYS stub for numbers
  above the highest named on each covered ABI (from 1.2.0 the native ABI is always
  covered; before, a profile with no architectures got no stub); defaultErrnoRet
  from rc95; errnoRet on other actions ignored; SCMP_ACT_KILL kills the thread.
* ``crun``: the same rule handling, no stub, defaultErrnoRet from 0.19, and
  errnoRet on an action other than ERRNO or TRACE is an error.

The runtimes and their versions are :mod:`.runtimes`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from errno import ENOSYS, EPERM

from ..bpf.ir import Action, ArchPolicy, ArgCmp, Filter, Op, Rule
from ..syscalls import Arch, arch, find, known, native_arch
from .libseccomp_tree import CallTree, Conflict
from .model import ArgSpec, Condition, Profile, ProfileError, SyscallRule, oci_view
from .runtimes import DEFAULT_CAPS, IPC, MULTIPLEXED_ABIS, SOCKETCALL, Runtime, parse_runtime

__all__ = ["SCMP_OPS", "DropReason", "Dropped", "Outcome", "Translation", "arg_cmp", "as_read",
           "translate"]

_GOARCH = {"x86_64": "amd64", "x86": "386", "aarch64": "arm64", "arm": "arm",
           "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
           "mipsel64": "mips64le", "mips64": "mips64", "loongarch64": "loong64"}


class DropReason(str, enum.Enum):
    """Why a runtime left a rule's name out of the filter."""

    EXCLUDED = "excluded"
    """The rule's excludes hold (the engine drops it)."""
    INCLUDES_FAIL = "includes do not hold"
    """The rule's includes do not hold (the engine drops it)."""
    UNKNOWN_NAME = "unknown syscall"
    """No ABI has a call by that name."""
    LIBSECCOMP_TOO_OLD = "libseccomp does not know it"
    """The call exists, but the runtime's libseccomp cannot name it."""
    SHADOWED = "an unconditional rule for this call comes first"
    """libseccomp keeps the first unconditional rule added for a call, and it
    outranks every conditional one: this rule never applies."""


@dataclass(frozen=True)
class Dropped:
    """One rule's name the runtime left out: where, and why (``str()`` renders it)."""

    path: str
    reason: DropReason
    runtime: str = ""

    def __str__(self) -> str:
        if self.reason is DropReason.LIBSECCOMP_TOO_OLD:
            return f"{self.path}: {self.runtime}'s libseccomp does not know it"
        if self.reason is DropReason.INCLUDES_FAIL:
            return f"{self.path}: its includes do not hold"
        return f"{self.path}: {self.reason.value}"


@dataclass(frozen=True)
class Outcome:
    """Why a syscall gets what it gets (for explain)."""

    rules: tuple[tuple[str, Rule], ...]
    """(where in the file, the rule) that apply, in the order the filter tries them."""
    dropped: tuple[Dropped, ...] = ()
    """Why rules naming this call were left out (a condition, an unknown name)."""


@dataclass
class Translation:
    """The filter a runtime installs, and the evidence per syscall name."""

    runtime: Runtime
    filter: Filter
    default: Action
    stub: dict[str, int] = field(default_factory=dict)
    """ABI name -> the highest number the ENOSYS stub leaves to the filter."""
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rules: tuple[SyscallRule, ...] = ()
    """The rules the low-level runtime is handed, in order (the engine's conversion
    done): what runc and crun give libseccomp, one call at a time."""


def _applies(cond: Condition, caps: set[str], goarch: str, kernel: tuple[int, int],
             engine: str, include: bool) -> bool:
    """moby createSpecsSyscall's order, for one includes (True) or excludes block."""
    if include:
        if cond.arches and goarch not in cond.arches:
            return False
        if cond.caps and not set(cond.caps) <= caps:
            return False
        return not (engine == "docker" and cond.min_kernel and kernel < cond.min_kernel)
    if cond.arches and goarch in cond.arches:
        return True
    if cond.caps and set(cond.caps) & caps:
        return True
    return bool(engine == "docker" and cond.min_kernel and kernel >= cond.min_kernel)


_MAX_ERRNO = 4095  # libseccomp's _seccomp_action_valid: ERRNO data below MAX_ERRNO


def _action(rule_action: str, errno_ret: int | None, runtime: Runtime, path: str) -> Action:
    if errno_ret is not None and rule_action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") \
            and runtime.low == "crun":
        raise ProfileError(path, "crun refuses errnoRet on an action other than ERRNO or TRACE: "
                                 "remove it")
    if rule_action == "SCMP_ACT_ERRNO":
        if errno_ret is not None and errno_ret >= _MAX_ERRNO:
            raise ProfileError(path, f"libseccomp refuses ERRNO({errno_ret}) (it takes 0 to "
                                     f"{_MAX_ERRNO - 1}): {runtime.label()} fails to start the "
                                     "container")
        return Action.errno(errno_ret if errno_ret is not None else EPERM)
    if rule_action == "SCMP_ACT_TRACE":
        return Action.trace(errno_ret if errno_ret is not None else EPERM)
    return {"SCMP_ACT_ALLOW": Action.allow(), "SCMP_ACT_LOG": Action.log(),
            "SCMP_ACT_TRAP": Action.trap(), "SCMP_ACT_KILL": Action.kill_thread(),
            "SCMP_ACT_KILL_THREAD": Action.kill_thread(),
            "SCMP_ACT_KILL_PROCESS": Action.kill_process(),
            "SCMP_ACT_NOTIFY": Action.user_notif()}[rule_action]


#: OCI/libseccomp comparison names and the filter IR's operators.
SCMP_OPS = {"SCMP_CMP_EQ": Op.EQ, "SCMP_CMP_NE": Op.NE, "SCMP_CMP_LT": Op.LT, "SCMP_CMP_LE": Op.LE,
        "SCMP_CMP_GT": Op.GT, "SCMP_CMP_GE": Op.GE, "SCMP_CMP_MASKED_EQ": Op.MASKED_EQ}


def arg_cmp(a: ArgSpec) -> ArgCmp:
    """A profile's argument test as the filter IR's comparison."""
    if a.op == "SCMP_CMP_MASKED_EQ":
        # libseccomp masks the datum too: (arg & value) == (valueTwo & value)
        return ArgCmp(a.index, Op.MASKED_EQ, a.value_two & a.value, a.value)
    return ArgCmp(a.index, SCMP_OPS[a.op], a.value)


def _conditions(rule: SyscallRule) -> list[tuple[ArgCmp, ...]]:
    """One AND-group, or one group per test when an index repeats (runc, crun)."""
    cmps = [arg_cmp(a) for a in rule.args]
    indices = [c.index for c in cmps]
    if len(set(indices)) != len(indices):
        return [(c,) for c in cmps]
    return [tuple(cmps)]


def as_read(profile: Profile, runtime: Runtime | str | None
            ) -> tuple[Runtime, Profile, list[str]]:
    """The runtime and the profile it reads: with no runtime named, a Docker-format
    profile goes through current Docker; a runtime that reads OCI only (runc, crun,
    ctr) drops Docker's fields (:func:`.model.oci_view`)."""
    rt = runtime if isinstance(runtime, Runtime) else parse_runtime(runtime)
    if rt.for_profile(profile) is not rt:
        return rt.for_profile(profile), profile, [
            "a Docker-format profile goes through an engine: converted as current Docker "
            "would"]
    if profile.docker_format and not rt.reads_docker_format:
        nameless = next((r for r in profile.syscalls if r.singular), None)
        if nameless is not None and rt.low == "crun":
            raise ProfileError(nameless.path, "crun refuses a rule without names (Docker's "
                                              "old name field is not OCI): use names")
        profile, lost = oci_view(profile)
        return rt, profile, [f"{rt.label()} reads the OCI fields only; it drops "
                             + "; ".join(lost)] if lost else []
    return rt, profile, []


def translate(profile: Profile, runtime: Runtime | str | None = None, *,
              target: str | Arch | None = None, kernel: tuple[int, int] = (6, 18),
              caps: Iterable[str] | None = None) -> Translation:
    """The filter *runtime* installs for *profile* on ABI *target* (default: this one)."""
    rt, profile, warnings = as_read(profile, runtime)
    host = arch(target) if target is not None else native_arch()
    engine = rt.engine or ""
    cap_set = set(caps if caps is not None else DEFAULT_CAPS.get(engine, DEFAULT_CAPS["docker"]))
    dropped: dict[str, list[Dropped]] = {}
    rules = _engine_rules(profile, rt, cap_set, _GOARCH.get(host.name, host.name), kernel,
                          dropped)
    default_errno = profile.default_errno
    if rt.engine_drops_default_errno:
        if default_errno is not None:
            warnings.append("Docker up to 20.10 drops defaultErrnoRet: the default is EPERM")
        default_errno = None
    if default_errno is not None and not rt.low_honours_default_errno:
        warnings.append(f"{rt.label()} ignores defaultErrnoRet: the default is EPERM")
        default_errno = None
    default = _action(profile.default_action, default_errno, rt, "defaultAction")
    v = rt.low_version
    abis = profile.abis(host)  # (model.parse refuses unknown architectures)
    other = [a.name for a in abis if a.little_endian != host.little_endian]
    if other:
        raise ProfileError("archMap" if profile.arch_map else "architectures",
                           f"libseccomp refuses {', '.join(other)} in a filter for "
                           f"{host.name} (an ABI of the other byte order: seccomp_arch_add "
                           f"fails with EDOM): {rt.label()} fails to start the container")
    stub_arches = set(abis)
    if rt.low == "runc" and v < (1, 1, 15, 0) and host not in {  # runc #4391
            arch(n) for n in profile.arch_names(host)}:
        stub_arches.discard(host)
    stub = rt.low == "runc" and v >= (1, 0, 0, 93) and profile.default_action not in (
        "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")
    policies = []
    outcomes: dict[str, Outcome] = {}
    stub_max: dict[str, int] = {}
    for abi in abis:
        table, highest = _abi_rules(abi, rules, rt, default, dropped,
                                    outcomes if abi is host else None)
        above = None
        if stub and abi in stub_arches and highest > 0:  # (0: runc sees no calls)
            above = (highest, Action.errno(ENOSYS))
            stub_max[abi.name] = highest
        policies.append(ArchPolicy(abi, default, table, above, ordered=True))
    for name, why in dropped.items():
        prev = outcomes.get(name, Outcome(()))
        outcomes[name] = Outcome(prev.rules, tuple(dict.fromkeys(why)))
    flt = Filter(_merge_x32(policies), bad_arch=Action.kill_thread())
    return Translation(rt, flt, default, stub_max, outcomes, warnings, tuple(rules))


def _engine_rules(profile: Profile, rt: Runtime, caps: set[str], goarch: str,
                  kernel: tuple[int, int], dropped: dict[str, list[Dropped]]
                  ) -> list[SyscallRule]:
    """The engine's conversion: the rules docker and podman keep (includes and
    excludes decided), errnoRet dropped where the engine drops it."""
    engine = rt.engine or ""
    rules: list[SyscallRule] = []
    for rule in profile.syscalls:
        if rt.engine in ("docker", "podman"):
            why = None
            if not rule.excludes.empty and _applies(rule.excludes, caps, goarch, kernel,
                                                    engine, include=False):
                why = DropReason.EXCLUDED
            elif not rule.includes.empty and not _applies(rule.includes, caps, goarch, kernel,
                                                          engine, include=True):
                why = DropReason.INCLUDES_FAIL
            if why is not None:
                for n in rule.names:
                    dropped.setdefault(n, []).append(Dropped(rule.path, why))
                continue
        drop = not rt.keeps_errno_ret and rule.errno_ret is not None
        rules.append(replace(rule, errno_ret=None) if drop else rule)
    return rules


def _targets(name: str, abi: Arch, groups: list[tuple[ArgCmp, ...]]
             ) -> list[tuple[str, int, list[tuple[ArgCmp, ...]]]]:
    """Where libseccomp puts a rule for *name* on *abi*: (call, number, conditions)
    for the call itself and, for a multiplexed call, for its multiplexer, where
    argument 0 becomes the call's code (a test of the call's own argument 0 is lost)."""
    out = []
    sc = find(name, abi)
    if sc is not None:
        out.append((name, sc.number, groups))
    for mux, codes in (("socketcall", SOCKETCALL), ("ipc", IPC)):
        host = find(mux, abi)
        if abi.name in MULTIPLEXED_ABIS and name in codes and host is not None:
            code = ArgCmp(0, Op.EQ, codes[name])
            out.append((mux, host.number, [(code, *(c for c in g if c.index != 0))
                                           for g in groups]))
    return out


def _abi_rules(abi: Arch, rules: list[SyscallRule], rt: Runtime, default: Action,
               dropped: dict[str, list[Dropped]], outcomes: dict[str, Outcome] | None
               ) -> tuple[dict[int, tuple[Rule, ...]], int]:
    """The low-level runtime's rules on one ABI, by number, in the order libseccomp's
    filter tries them (:mod:`.libseccomp_tree`), and the highest number named (the
    stub's bound); *outcomes* (the host ABI's) records which rules apply."""
    trees: dict[int, CallTree] = {}
    calls: dict[int, str] = {}
    highest = -1
    for rule in rules:
        action = _action(rule.action, rule.errno_ret, rt, f"{rule.path}.action")
        groups = _conditions(rule)
        for name in rule.names:
            sc = find(name, abi)
            if sc is None and not known(name):
                dropped.setdefault(name, []).append(Dropped(rule.path, DropReason.UNKNOWN_NAME))
                continue
            if sc is not None and not rt.resolves(sc):
                dropped.setdefault(name, []).append(
                    Dropped(rule.path, DropReason.LIBSECCOMP_TOO_OLD, rt.label()))
                continue
            if sc is not None and not (abi.name in MULTIPLEXED_ABIS and
                                       (name in SOCKETCALL or name in IPC)):
                highest = max(highest, sc.number)  # runc's stub skips pseudo numbers
            if action == default:
                continue  # runc and crun skip rules equal to the default
            for call, nr, call_groups in _targets(name, abi, groups):
                tree = trees.setdefault(nr, CallTree(abi.long_bits))
                calls[nr] = call
                for group in call_groups:
                    try:
                        tree.add(action, group, rule.path)
                    except Conflict:
                        raise ProfileError(rule.path, f"libseccomp refuses this rule for "
                                           f"{call} on {abi.name}: it ends where an earlier "
                                           "rule of the call ends, with another action "
                                           f"(EEXIST): {rt.label()} fails to start the "
                                           "container") from None
    table = {}
    for nr, tree in trees.items():
        ordered = tree.rules()
        table[nr] = tuple(r for _, r in ordered)
        if outcomes is not None:
            call = calls[nr]
            for path in tree.shadowed(ordered):
                dropped.setdefault(call, []).append(Dropped(path, DropReason.SHADOWED))
            outcomes[call] = Outcome(tuple(ordered))
    return table, highest


def _merge_x32(policies: list[ArchPolicy]) -> tuple[ArchPolicy, ...]:
    """One policy per ABI (a profile may name an ABI twice through archMap)."""
    seen: dict[str, ArchPolicy] = {}
    for p in policies:
        seen.setdefault(p.arch.name, p)
    return tuple(seen.values())
