"""The runtimes seccompat models, and what each version of them does with a profile.

``Runtime`` names an engine (docker, podman, containerd, or none) over a low-level runtime
(runc or crun), each at a version, and answers the questions the conversion asks
(does it honour defaultErrnoRet, keep errnoRet, which libseccomp does it link and
which kernel's syscall table does that carry).  The conversion itself is in
:mod:`.conversion`.

Which names a libseccomp knows follows the kernel its table was generated from
(runc release binaries link it statically: 2.5.3 in 1.1.0, 2.5.5 in 1.1.15 and
1.2, 2.5.6 in 1.3, 2.6.1 after); crun links the system's, taken to be current.
"""


from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field, replace
from functools import cache

from .._capabilities import CAPABILITIES
from ..syscalls import Syscall, arch, find, syscalls
from ..syscalls.arch import ARCHES
from .model import Profile

__all__ = ["ALL_CAPS", "DEFAULT_CAPS", "IPC", "MULTIPLEXED_ABIS", "SOCKETCALL", "Runtime",
           "Version", "host_libseccomp_names", "libseccomp_release", "parse_runtime"]

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
_FINAL = 10_000  # a release sorts after its release candidates

#: ABIs where libseccomp also writes a rule for a socket or SysV IPC call as an
#: argument rule on its multiplexer, socketcall(2) or ipc(2) (its arch-x86.c,
#: arch-s390*.c, arch-ppc*.c, arch-mips.c), with the call's code in argument 0.
MULTIPLEXED_ABIS = frozenset({"x86", "s390", "s390x", "ppc", "ppc64", "ppc64le", "mips",
                              "mipsel"})
#: <linux/net.h> SYS_* and <linux/ipc.h> call codes.
SOCKETCALL = {"socket": 1, "bind": 2, "connect": 3, "listen": 4, "accept": 5,
              "getsockname": 6, "getpeername": 7, "socketpair": 8, "send": 9, "recv": 10,
              "sendto": 11, "recvfrom": 12, "shutdown": 13, "setsockopt": 14,
              "getsockopt": 15, "sendmsg": 16, "recvmsg": 17, "accept4": 18, "recvmmsg": 19,
              "sendmmsg": 20}
IPC = {"semop": 1, "semget": 2, "semctl": 3, "semtimedop": 4, "msgsnd": 11, "msgrcv": 12,
       "msgget": 13, "msgctl": 14, "shmat": 21, "shmdt": 22, "shmget": 23, "shmctl": 24}


@dataclass(frozen=True)
class Runtime:
    """``docker:20.10.7+runc:1.0.0``: an engine (optional) and a low-level runtime."""

    engine: str | None
    engine_version: Version | None
    low: str
    low_version: Version
    spelling: tuple[str | None, str | None] = field(default=(None, None), compare=False)
    """The versions as the user wrote them (engine, low-level), for :meth:`label`."""
    chosen: bool = field(default=True, compare=False)
    """False when no runtime was named (the default stands in for one)."""
    libseccomp: Version | str | None = None
    """The libseccomp it links, where not the one its release shipped: a version, or
    ``"host"``, this machine's libseccomp.so.2 (distributions link it and patch its
    syscall table)."""

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
        text = f"{self.engine}:{v(self.engine_version, engine_spelt)}+{low}" if self.engine \
            else low
        if self.libseccomp is not None:
            ls = self.libseccomp
            text += f" with libseccomp {ls if isinstance(ls, str) else '.'.join(map(str, ls))}"
        return text

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

    @property
    def reads_docker_format(self) -> bool:
        """docker and podman convert Docker's format; runc, crun and containerd's
        ``ctr`` read a file as OCI (:func:`.model.oci_view`)."""
        return self.engine in ("docker", "podman")

    def for_profile(self, profile: Profile) -> Runtime:
        """With no runtime named, a Docker-format profile is taken to go through the
        engine it was written for: current Docker's conversion."""
        if profile.docker_format and not self.chosen:
            return Runtime("docker", _LATEST["docker"], self.low, self.low_version)
        return self

    def resolves(self, sc: Syscall) -> bool:
        """Whether the linked libseccomp can name *sc* (else the runtime drops it)."""
        if self.libseccomp == "host":
            return sc.name in host_libseccomp_names(sc.arch)
        version = self.libseccomp if isinstance(self.libseccomp, tuple) else _libseccomp(self)
        return sc.since <= _table_kernel(version)


def _version(text: str, what: str) -> Version:
    m = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-?rc\.?(\d+))?", text.strip())
    if not m:
        raise ValueError(f"{what}: {text!r} is not a version like 1.1.4 or 1.0.0-rc92")
    major, minor, patch, rc = (int(g) if g else 0 for g in m.groups())
    return (major, minor, patch, rc if m.group(4) else _FINAL)


_LATEST = {"runc": (1, 3, 0, _FINAL), "crun": (1, 21, 0, _FINAL), "docker": (28, 0, 0, _FINAL),
           "podman": (5, 4, 0, _FINAL), "containerd": (2, 1, 0, _FINAL)}
_ENGINES = ("docker", "podman", "containerd")


def parse_runtime(text: str | None, libseccomp: str | None = None) -> Runtime:
    """``runc:1.0.0-rc92``, ``docker:20.10.7+runc:1.0.0``, ``podman:3.3+crun:0.21``,
    ``docker`` (its usual runc); *libseccomp* ``2.5.4`` or ``host`` overrides the
    libseccomp it links.  Raises ValueError."""
    if libseccomp is not None:
        return replace(parse_runtime(text), libseccomp=_libseccomp_option(libseccomp))
    if not text:
        return Runtime(None, None, "runc", _LATEST["runc"], chosen=False)
    parts = text.split("+")
    if len(parts) > 2:
        raise ValueError(f"runtime {text!r}: at most ENGINE:VERSION+RUNTIME:VERSION")
    parsed = []
    spelt: list[str | None] = []
    for part in parts:
        name, _, version = part.partition(":")
        name = name.strip().lower()
        if name not in _LATEST:
            raise ValueError(f"runtime {name!r}: use docker, podman, containerd, runc or crun")
        parsed.append((name, _plausible(name, version, _version(version, name)) if version
                       else _LATEST[name]))
        spelt.append(version.strip().lstrip("v") if version else None)
    if parsed[0][0] in _ENGINES:
        engine, engine_version = parsed[0]
        if len(parsed) == 2:
            low, low_version = parsed[1]
        else:
            low = "crun" if engine == "podman" else "runc"
            low_version = _LATEST[low] if engine_version == _LATEST[engine] else \
                _docker_runc(engine_version) if engine == "docker" else _LATEST[low]
            spelt.append(None)
        if low not in ("runc", "crun"):
            raise ValueError(f"runtime {text!r}: after + comes runc or crun")
        return Runtime(engine, engine_version, low, low_version, (spelt[0], spelt[1]))
    if len(parsed) == 2:
        raise ValueError(f"runtime {text!r}: the engine (docker, podman, containerd) comes "
                         "first")
    return Runtime(None, None, parsed[0][0], parsed[0][1], (None, spelt[0]))


#: The versions modelled, per runtime: from the first with seccomp support to the
#: newest major release whose behaviour is known (docs/profiles.md has the sources).
_KNOWN: dict[str, tuple[Version, int, str]] = {
    "docker": ((1, 10, 0, _FINAL), 28, "1.10 (the first with seccomp) to 28.x"),
    "podman": ((1, 0, 0, _FINAL), 5, "1.0 to 5.x"),
    "containerd": ((1, 0, 0, _FINAL), 2, "1.0 to 2.x"),
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


def _libseccomp_option(text: str) -> Version | str:
    if text.strip().lower() == "host":
        host_libseccomp_names("x86_64")  # ValueError here when there is none
        return "host"
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m or (int(m.group(1)), int(m.group(2))) < (2, 0):
        raise ValueError(f"--libseccomp {text!r}: a version like 2.5.4, or host")
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if version > max(_LIBSECCOMP_TABLE):
        raise ValueError(f"libseccomp {text.strip()} is newer than the releases modelled "
                         f"(up to {'.'.join(map(str, max(_LIBSECCOMP_TABLE)))})")
    return version


@cache
def _host_library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        raise ValueError("--libseccomp host: this machine has no libseccomp.so.2") from None
    lib.seccomp_syscall_resolve_name_arch.argtypes = (ctypes.c_uint32, ctypes.c_char_p)
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    return lib


@cache
def host_libseccomp_names(abi: str) -> frozenset[str]:
    """The names this machine's libseccomp resolves on *abi*
    (seccomp_syscall_resolve_name_arch(3)); ValueError when it has none."""
    resolve = _host_library().seccomp_syscall_resolve_name_arch
    # libseccomp's SCMP_ARCH_* is the AUDIT_ARCH value, but for x32: EM_X86_64 | LE.
    token = 0x4000003E if arch(abi).name == "x32" else arch(abi).audit_arch
    # -1 is __NR_SCMP_ERROR; other negative numbers are libseccomp's pseudo-syscalls:
    # a call it places on the multiplexer (socket on x86), or one it holds absent
    # from this ABI (its rules are ignored).
    muxed = set(SOCKETCALL) | set(IPC) if abi in MULTIPLEXED_ABIS else set()
    return frozenset(sc.name for sc in syscalls(abi)
                     if (n := resolve(token, sc.name.encode())) >= 0 or
                     (n < -1 and sc.name in muxed))


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
