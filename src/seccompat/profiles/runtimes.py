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

Which names a libseccomp knows follows the kernel its table was generated from
(runc release binaries link it statically: 2.5.3 in 1.1.0, 2.5.5 in 1.1.15 and
1.2, 2.5.6 in 1.3, 2.6.1 after); crun links the system's, taken to be current.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from .._capabilities import CAPABILITIES
from ..bpf.ir import Action, ArchPolicy, ArgCmp, Filter, Op, Rule
from ..syscalls import Arch, arch, find, known, native_arch
from ..syscalls.arch import ARCHES
from .model import ArgSpec, Condition, Profile, ProfileError, SyscallRule

__all__ = ["DEFAULT_CAPS", "SCMP_OPS", "Outcome", "Runtime", "Translation", "arg_cmp",
           "libseccomp_release", "parse_runtime", "translate"]

Version = tuple[int, ...]

#: The capabilities a container gets by default (moby oci/caps, containers.conf).
DEFAULT_CAPS = {
    "docker": ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"),
    "podman": ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
               "CAP_SETUID", "CAP_SYS_CHROOT"),
}
ALL_CAPS = tuple(CAPABILITIES)

# libseccomp release -> the kernel its syscall table came from (git tags; MANIFEST).
_LIBSECCOMP_TABLE: dict[Version, tuple[int, int]] = {
    (2, 4, 2): (5, 4), (2, 4, 4): (5, 8), (2, 5, 0): (5, 8), (2, 5, 1): (5, 8),
    (2, 5, 2): (5, 14), (2, 5, 3): (5, 15), (2, 5, 4): (5, 17), (2, 5, 5): (6, 7),
    (2, 5, 6): (6, 13), (2, 6, 0): (6, 13), (2, 6, 1): (6, 17),
}
_GOARCH = {"x86_64": "amd64", "x86": "386", "aarch64": "arm64", "arm": "arm",
           "ppc64le": "ppc64le", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
           "mipsel64": "mips64le", "mips64": "mips64", "loongarch64": "loong64"}
_ERRNO_EPERM, _ERRNO_ENOSYS = 1, 38
_FINAL = 10_000  # a release sorts after its release candidates


@dataclass(frozen=True)
class Runtime:
    """``docker:20.10.7+runc:1.0.0``: an engine (optional) and a low-level runtime."""

    engine: str | None
    engine_version: Version | None
    low: str
    low_version: Version
    spelling: tuple[str | None, str | None] = field(default=(None, None), compare=False)
    """The versions as the user wrote them (engine, low-level), for :meth:`label`."""

    def label(self) -> str:
        """``docker:19.03.0+runc:1.0.0-rc92``: versions as the user spelt them."""
        def v(x: Version | None, spelt: str | None) -> str:
            if spelt:
                return spelt
            if x is None:
                return "latest"
            text = ".".join(str(p) for p in x[:-1])
            return text if x[-1] == _FINAL else f"{text}-rc{x[-1]}"

        engine_spelt, low_spelt = self.spelling
        low = f"{self.low}:{v(self.low_version, low_spelt)}"
        return f"{self.engine}:{v(self.engine_version, engine_spelt)}+{low}" if self.engine \
            else low

    @property
    def engine_drops_default_errno(self) -> bool:
        """Docker up to 20.10.x has no defaultErrnoRet field."""
        return self.engine == "docker" and self.engine_version is not None and \
            self.engine_version < (23, 0, 0, 0)

    @property
    def keeps_errno_ret(self) -> bool:
        """False for Docker 19.03 and 20.10.0-20.10.9, which drop every rule's errnoRet."""
        return not (self.engine == "docker" and self.engine_version is not None and
                    self.engine_version < (20, 10, 10, _FINAL))

    @property
    def low_honours_default_errno(self) -> bool:
        """runc from 1.0.0-rc95, crun from 0.19."""
        v = self.low_version
        return (self.low == "runc" and v >= (1, 0, 0, 95)) or \
            (self.low == "crun" and v >= (0, 19, 0, _FINAL))

    @property
    def honours_default_errno(self) -> bool:
        return self.low_honours_default_errno and not self.engine_drops_default_errno

    def for_profile(self, profile: Profile) -> Runtime:
        """Only an engine reads archMap, includes and excludes: a Docker-format
        profile given to a bare runtime goes through current Docker's conversion."""
        if profile.docker_format and self.engine is None:
            return Runtime("docker", _LATEST["docker"], self.low, self.low_version,
                           (None, self.spelling[1]))
        return self

    @property
    def libseccomp_kernel(self) -> tuple[int, int]:
        """The kernel whose calls the linked libseccomp can name."""
        return _table_kernel(_libseccomp(self))


def _version(text: str, what: str) -> Version:
    m = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-?rc\.?(\d+))?", text.strip())
    if not m:
        raise ValueError(f"{what}: {text!r} is not a version like 1.1.4 or 1.0.0-rc92")
    major, minor, patch, rc = (int(g) if g else 0 for g in m.groups())
    return (major, minor, patch, rc if m.group(4) else _FINAL)


_LATEST = {"runc": (1, 3, 0, _FINAL), "crun": (1, 21, 0, _FINAL), "docker": (28, 0, 0, _FINAL),
           "podman": (5, 4, 0, _FINAL)}


def parse_runtime(text: str | None) -> Runtime:
    """``runc:1.0.0-rc92``, ``docker:20.10.7+runc:1.0.0``, ``podman:3.3+crun:0.21``,
    ``docker`` (its usual runc).  Raises ValueError."""
    if not text:
        return Runtime(None, None, "runc", _LATEST["runc"])
    parts = text.split("+")
    if len(parts) > 2:
        raise ValueError(f"runtime {text!r}: at most ENGINE:VERSION+RUNTIME:VERSION")
    parsed = []
    spelt: list[str | None] = []
    for part in parts:
        name, _, version = part.partition(":")
        name = name.strip().lower()
        if name not in _LATEST:
            raise ValueError(f"runtime {name!r}: use docker, podman, runc or crun")
        parsed.append((name, _plausible(name, version, _version(version, name)) if version
                       else _LATEST[name]))
        spelt.append(version.strip().lstrip("v") if version else None)
    if parsed[0][0] in ("docker", "podman"):
        engine, engine_version = parsed[0]
        if len(parsed) == 2:
            low, low_version = parsed[1]
        else:
            low = "runc" if engine == "docker" else "crun"
            low_version = _LATEST[low] if engine_version == _LATEST[engine] else \
                _docker_runc(engine_version) if engine == "docker" else _LATEST["crun"]
            spelt.append(None)
        if low not in ("runc", "crun"):
            raise ValueError(f"runtime {text!r}: after + comes runc or crun")
        return Runtime(engine, engine_version, low, low_version, (spelt[0], spelt[1]))
    if len(parsed) == 2:
        raise ValueError(f"runtime {text!r}: the engine (docker, podman) comes first")
    return Runtime(None, None, parsed[0][0], parsed[0][1], (None, spelt[0]))


#: The versions modelled, per runtime: from the first with seccomp support to the
#: newest major release whose behaviour is known (docs/profiles.md has the sources).
_KNOWN: dict[str, tuple[Version, int, str]] = {
    "docker": ((1, 10, 0, _FINAL), 28, "1.10 (the first with seccomp) to 28.x"),
    "podman": ((1, 0, 0, _FINAL), 5, "1.0 to 5.x"),
    "runc": ((1, 0, 0, 1), 1, "1.0.0-rc1 to 1.x"),
    "crun": ((0, 1, 0, _FINAL), 1, "0.1 to 1.x"),
}


def _plausible(name: str, spelt: str, version: Version) -> Version:
    first, last_major, text = _KNOWN[name]
    if version < first or version[0] > last_major:
        raise ValueError(f"{name}:{spelt.strip()} is outside the versions modelled "
                         f"({name} {text})")
    return version


def _docker_runc(version: Version) -> Version:
    """The runc a Docker static bundle shipped (moby hack/dockerfile/install/runc.installer)."""
    if version < (20, 10, 5, _FINAL):
        return (1, 0, 0, 92)
    if version < (20, 10, 8, _FINAL):
        return (1, 0, 0, 93)
    if version < (20, 10, 10, _FINAL):
        return (1, 0, 1, _FINAL)
    if version < (20, 10, 24, _FINAL):
        return (1, 0, 2, _FINAL)
    if version < (24, 0, 0, _FINAL):
        return (1, 1, 4, _FINAL)
    return _LATEST["runc"]


def _libseccomp(runtime: Runtime) -> Version:
    if runtime.low == "crun":
        return (2, 6, 1)
    v = runtime.low_version
    if v < (1, 1, 0, _FINAL):
        return (2, 5, 1)
    if v < (1, 1, 15, _FINAL):
        return (2, 5, 3)
    if v < (1, 3, 0, _FINAL):
        return (2, 5, 5)
    if v < (1, 4, 0, _FINAL):
        return (2, 5, 6)
    return (2, 6, 1)


def libseccomp_release(name: str) -> Version | None:
    """The first libseccomp release that resolves *name* (None: none we know of)."""
    since = min((sc.since for a in ARCHES for sc in [find(name, a)] if sc), default=None)
    if since is None:
        return None
    for version, kernel in sorted(_LIBSECCOMP_TABLE.items()):
        if kernel >= since:
            return version
    return None


def _table_kernel(libseccomp: Version) -> tuple[int, int]:
    best = (5, 0)
    for version, kernel in sorted(_LIBSECCOMP_TABLE.items()):
        if version <= libseccomp:
            best = kernel
    return best


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
    """(where in the file, the rule) that apply, most restrictive first."""
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


def _action(rule_action: str, errno_ret: int | None, runtime: Runtime, path: str) -> Action:
    if errno_ret is not None and rule_action not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") \
            and runtime.low == "crun":
        raise ProfileError(path, "crun refuses errnoRet on an action other than ERRNO or TRACE: "
                                 "remove it")
    if rule_action == "SCMP_ACT_ERRNO":
        return Action.errno(errno_ret if errno_ret is not None else _ERRNO_EPERM)
    if rule_action == "SCMP_ACT_TRACE":
        return Action.trace(errno_ret if errno_ret is not None else _ERRNO_EPERM)
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
    if a.op == "SCMP_CMP_MASKED_EQ":  # libseccomp: (arg & value) == valueTwo
        return ArgCmp(a.index, Op.MASKED_EQ, a.value_two, a.value)
    return ArgCmp(a.index, SCMP_OPS[a.op], a.value)


def _conditions(rule: SyscallRule) -> list[tuple[ArgCmp, ...]]:
    """One AND-group, or one group per test when an index repeats (runc, crun)."""
    cmps = [arg_cmp(a) for a in rule.args]
    indices = [c.index for c in cmps]
    if len(set(indices)) != len(indices):
        return [(c,) for c in cmps]
    return [tuple(cmps)]


def translate(profile: Profile, runtime: Runtime | str | None = None, *,
              target: str | Arch | None = None, kernel: tuple[int, int] = (6, 18),
              caps: Iterable[str] | None = None) -> Translation:
    """The filter *runtime* installs for *profile* on ABI *target* (default: this one)."""
    rt = runtime if isinstance(runtime, Runtime) else parse_runtime(runtime)
    warnings: list[str] = []
    if rt.for_profile(profile) is not rt:
        rt = rt.for_profile(profile)
        warnings.append("a Docker-format profile goes through an engine: converted as "
                        "current Docker would")
    host = arch(target) if target is not None else native_arch()
    engine = rt.engine or ""
    cap_set = set(caps if caps is not None else DEFAULT_CAPS.get(engine, DEFAULT_CAPS["docker"]))
    goarch = _GOARCH.get(host.name, host.name)

    # --- the engine's conversion -------------------------------------------------
    default_errno = profile.default_errno
    if rt.engine_drops_default_errno:
        if default_errno is not None:
            warnings.append("Docker up to 20.10 drops defaultErrnoRet: the default is EPERM")
        default_errno = None
    arch_names = profile.arch_names(host)
    rules: list[SyscallRule] = []
    dropped: dict[str, list[Dropped]] = {}
    for rule in profile.syscalls:
        if rt.engine in ("docker", "podman"):
            if not rule.excludes.empty and _applies(rule.excludes, cap_set, goarch, kernel,
                                                    engine, include=False):
                for n in rule.names:
                    dropped.setdefault(n, []).append(Dropped(rule.path, DropReason.EXCLUDED))
                continue
            if not rule.includes.empty and not _applies(rule.includes, cap_set, goarch, kernel,
                                                        engine, include=True):
                for n in rule.names:
                    dropped.setdefault(n, []).append(Dropped(rule.path,
                                                             DropReason.INCLUDES_FAIL))
                continue
        drop = not rt.keeps_errno_ret and rule.errno_ret is not None
        rules.append(replace(rule, errno_ret=None) if drop else rule)

    # --- the low-level runtime's ------------------------------------------------
    v = rt.low_version
    if default_errno is not None and not rt.low_honours_default_errno:
        warnings.append(f"{rt.label()} ignores defaultErrnoRet: the default is EPERM")
        default_errno = None
    default = _action(profile.default_action, default_errno, rt, "defaultAction")
    table_kernel = rt.libseccomp_kernel
    abis = profile.abis(host)  # (model.parse refuses unknown architectures)
    stub_arches = set(abis)
    if rt.low == "runc" and v < (1, 2, 0, 0) and host not in {arch(n) for n in arch_names}:
        stub_arches.discard(host)
    stub = rt.low == "runc" and v >= (1, 0, 0, 93) and profile.default_action not in (
        "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")

    policies = []
    outcomes: dict[str, Outcome] = {}
    stub_max: dict[str, int] = {}
    for abi in abis:
        table: dict[int, list[Rule]] = {}
        highest = -1
        for rule in rules:
            action = _action(rule.action, rule.errno_ret, rt, f"{rule.path}.action")
            for name in rule.names:
                sc = find(name, abi)
                if sc is None:
                    if not known(name):
                        dropped.setdefault(name, []).append(Dropped(rule.path,
                                                                    DropReason.UNKNOWN_NAME))
                    continue
                if sc.since > table_kernel:
                    dropped.setdefault(name, []).append(
                        Dropped(rule.path, DropReason.LIBSECCOMP_TOO_OLD, rt.label()))
                    continue
                highest = max(highest, sc.number)
                if action == default:
                    continue  # runc and crun skip rules equal to the default
                for group in _conditions(rule):
                    table.setdefault(sc.number, []).append(Rule(action, group))
                    if abi is host:
                        prev = outcomes.get(name, Outcome(()))
                        outcomes[name] = Outcome((*prev.rules, (rule.path, Rule(action, group))))
        above = None
        if stub and abi in stub_arches and highest >= 0:
            above = (highest, Action.errno(_ERRNO_ENOSYS))
            stub_max[abi.name] = highest
        policies.append(ArchPolicy(abi, default, {n: tuple(r) for n, r in table.items()}, above))
    for name, why in dropped.items():
        prev = outcomes.get(name, Outcome(()))
        outcomes[name] = Outcome(prev.rules, tuple(dict.fromkeys(why)))
    flt = Filter(_merge_x32(policies), bad_arch=Action.kill_thread())
    return Translation(rt, flt, default, stub_max, outcomes, warnings)


def _merge_x32(policies: list[ArchPolicy]) -> tuple[ArchPolicy, ...]:
    """One policy per ABI (a profile may name an ABI twice through archMap)."""
    seen: dict[str, ArchPolicy] = {}
    for p in policies:
        seen.setdefault(p.arch.name, p)
    return tuple(seen.values())
