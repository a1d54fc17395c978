"""The real container engines as oracles: run our probe (probe.c) in a container
under a seccomp profile and read what the engine's filter answered for each call.

A container needs no image: a rootfs folder holding the static probe and the list of
calls, given as an OCI bundle to runc and crun, to ``podman run --rootfs``, to
``ctr run --rootfs``, and ``docker import``ed from a tar.  dockerd and containerd are
started by :class:`Daemon` with their own data roots and sockets under a short
scratch path, and stopped by their own pid.

Facts of this machine the harness handles (the real-engines issue): crun refuses
hybrid cgroups unless run in a private mount namespace with /sys/fs/cgroup/unified
unmounted; podman 4.3 needs vfs storage, cgroupfs, file events and ulimits within
the VM's hard limits; a tiny profile must allow what the runtime needs after the
filter is loaded (:data:`RUNTIME_NEEDS`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
DOCKER = "/usr/bin/docker"  # Debian's client, the daemon's own version (not a newer one on PATH)

#: Calls the probe, runc's and crun's init need once the filter is loaded (found by
#: running them under strace with a profile that allows only these: without
#: noNewPrivileges, as docker and podman run it, runc loads the filter before it
#: switches user and checks the executable with faccessat2).
RUNTIME_NEEDS = (
    "access", "arch_prctl", "brk", "capget", "capset", "chdir", "clone", "close", "close_range",
    "dup2", "dup3", "epoll_ctl", "epoll_pwait", "epoll_wait", "execve", "exit",
    "exit_group", "faccessat", "faccessat2", "fchdir", "fcntl", "fork", "fstat", "fstatfs",
    "futex", "getcwd",
    "getdents64", "getegid", "geteuid", "getgid", "getpid", "getppid", "getrandom",
    "gettid", "getuid", "ioctl", "kill", "lseek", "madvise", "mmap", "mprotect",
    "munmap", "nanosleep", "newfstatat", "openat", "prctl", "prlimit64", "pselect6",
    "read", "readlink", "rseq", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "sched_getaffinity", "sched_yield", "seccomp", "set_robust_list",
    "set_tid_address", "setgid", "setgroups", "setresgid", "setresuid", "setsid", "setuid",
    "sigaltstack",
    "stat", "statfs", "tgkill", "uname", "wait4", "write",
)

#: Default capabilities of a container (moby's list), for the bundles we write.
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


@dataclass(frozen=True)
class Call:
    """One probe line: an ABI (x86_64, x32, x86), a number within it, five arguments."""

    abi: str
    nr: int
    args: tuple[int, ...] = (0, 0, 0, 0, 0)

    def line(self) -> str:
        return " ".join([self.abi, str(self.nr), *(hex(a) for a in self.args)])


class EngineFailed(RuntimeError):
    """The engine did not run the probe (its own error is the message)."""


def parse_output(calls: Sequence[Call], out: str) -> dict[Call, str]:
    """The probe's lines -> Call -> "errno 1" / "passes" / "trap 0" / "signal 31"."""
    by_line = {c.line(): c for c in calls}
    seen: dict[Call, str] = {}
    for text in out.splitlines():
        m = re.fullmatch(r"(.*) (errno|passes|trap|signal|ret|exit|lost|unparsed) (-?\d+)",
                         text)
        if not m or m.group(1) not in by_line:
            if text.startswith("nostack"):
                raise EngineFailed(f"the probe could not stack its filter: {text}")
            continue
        kind, value = m.group(2), m.group(3)
        seen[by_line[m.group(1)]] = "passes" if kind == "passes" else f"{kind} {value}"
    missing = [c for c in calls if c not in seen]
    if missing:
        raise EngineFailed(f"{len(missing)} calls not answered (first: {missing[0].line()}); "
                           f"output ended: {out[-300:]!r}")
    return seen


def build_probe(dest: Path) -> Path:
    """gcc -static probe.c (the container has no libc of its own)."""
    exe = dest / "probe"
    subprocess.run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-o", str(exe),
                    str(HERE / "probe.c")], check=True, capture_output=True)
    return exe


def make_rootfs(where: Path, probe: Path, calls: Sequence[Call]) -> Path:
    root = where / "rootfs"
    for d in ("proc", "dev", "sys", "tmp", "etc"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(probe, root / "probe")
    (root / "calls").write_text("".join(c.line() + "\n" for c in calls))
    for f in ("passwd", "group"):
        (root / "etc" / f).write_text("root:x:0:0::/:/probe\n" if f == "passwd" else
                                      "root:x:0:\n")
    return root


def oci_config(seccomp: dict[str, object] | None) -> dict[str, object]:
    """A minimal runtime-spec config.json that runs the probe."""
    linux: dict[str, object] = {
        "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
        "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
        "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
    }
    if seccomp is not None:
        linux["seccomp"] = seccomp
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0},
            "args": ["/probe", "/calls"], "cwd": "/",
            "env": ["PATH=/"],
            "capabilities": dict.fromkeys(("bounding", "effective", "permitted"), CAPS),
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "probe",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        ],
        "linux": linux,
    }


def _run(cmd: Sequence[str], timeout: float = 120, **kw: object) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          check=False, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise EngineFailed(f"{' '.join(cmd[:3])}... exited {proc.returncode}: "
                           f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return str(proc.stdout)


def version_of(cmd: Sequence[str], pattern: str = r"version v?(\d+\.\d+\.\d+)") -> str | None:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(pattern, out)
    return m.group(1) if m else None


@dataclass
class Engine:
    """One engine over one low-level runtime, as installed here."""

    name: str
    """runc, crun, podman+runc, podman+crun, docker, containerd (what the test id says)."""
    model: str
    """The runtime seccompat's model calls it: ``podman:4.3.1+crun:1.8.1``."""
    libseccomp: str | None
    """``host`` where the low-level runtime links this machine's libseccomp.so.2."""
    scratch: Path
    daemon: Daemon | None = None
    counter: list[int] = field(default_factory=lambda: [0])

    def run(self, profile: dict[str, object], calls: Sequence[Call], probe: Path
            ) -> dict[Call, str]:
        """What this engine's filter for *profile* answers for each of *calls*."""
        self.counter[0] += 1
        work = self.scratch / f"c{self.counter[0]}"
        work.mkdir(parents=True)
        try:
            make_rootfs(work, probe, calls)
            (work / "profile.json").write_text(json.dumps(profile))
            return parse_output(calls, self._probe(work, profile))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _probe(self, work: Path, profile: dict[str, object]) -> str:
        low = self.name.rpartition("+")[2]
        cid = f"seccompat-{os.getpid()}-{self.counter[0]}"
        if self.name in ("runc", "crun"):
            (work / "config.json").write_text(json.dumps(oci_config(profile)))
            return _run(_no_hybrid(low, [low, "--root", str(self.scratch / f"{low}-state"),
                                         "run", "--bundle", str(work), cid]))
        if self.name.startswith("podman"):
            return _run(_no_hybrid(low, [
                *podman_base(self.scratch), "--runtime", low, "run", "--rm", "--network",
                "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                "--security-opt", f"seccomp={work / 'profile.json'}", "--rootfs",
                str(work / "rootfs"), "/probe", "/calls"]))
        if self.name == "docker":
            assert self.daemon is not None
            return self.daemon.docker_run(work, cid)
        if self.name == "containerd":
            assert self.daemon is not None
            return self.daemon.ctr_run(work, cid)
        raise ValueError(self.name)


def _no_hybrid(low: str, cmd: list[str]) -> list[str]:
    """crun refuses hybrid cgroups: run it where /sys/fs/cgroup/unified is unmounted."""
    if low != "crun" or not os.path.ismount("/sys/fs/cgroup/unified"):
        return cmd
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'umount /sys/fs/cgroup/unified && exec "$@"', "sh", *cmd]


def podman_base(scratch: Path) -> list[str]:
    return ["podman", "--root", str(scratch / "podman-root"), "--runroot",
            str(scratch / "podman-run"), "--storage-driver", "vfs", "--cgroup-manager",
            "cgroupfs", "--events-backend", "file", "--tmpdir", str(scratch / "podman-tmp")]


@dataclass
class Daemon:
    """dockerd or containerd, started by hand with its own roots and socket."""

    kind: str
    base: Path
    proc: subprocess.Popen[bytes] | None = None
    containerd_proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.base / ("d.sock" if self.kind == "docker" else "c.sock")

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        log = open(self.base / "log", "wb")  # noqa: SIM115 (the daemon keeps it)
        if self.kind == "docker":
            # A containerd of its own, so dockerd does not look for a system one.
            self.containerd_proc = subprocess.Popen(
                ["containerd", "--address", str(self.base / "dc.sock"), "--root",
                 str(self.base / "dc-root"), "--state", str(self.base / "dc-state")],
                stdout=log, stderr=log, start_new_session=True)
            self._wait_for(self.base / "dc.sock", self.containerd_proc)
            self.proc = subprocess.Popen(
                ["dockerd", "--host", f"unix://{self.socket}", "--data-root",
                 str(self.base / "root"), "--exec-root", str(self.base / "x"), "--pidfile",
                 str(self.base / "pid"), "--containerd", str(self.base / "dc.sock"),
                 "--iptables=false", "--ip6tables=false", "--bridge=none",
                 "--storage-driver=vfs", "--ip-masq=false"],
                stdout=log, stderr=log, start_new_session=True)
        else:
            self.proc = subprocess.Popen(
                ["containerd", "--address", str(self.socket), "--root",
                 str(self.base / "root"), "--state", str(self.base / "state")],
                stdout=log, stderr=log, start_new_session=True)
        self._wait_for(self.socket, self.proc)
        if self.kind == "docker":
            deadline = time.monotonic() + 60
            while subprocess.run(self.docker("version"), capture_output=True,
                                 check=False).returncode:
                if time.monotonic() > deadline:
                    raise EngineFailed(f"dockerd did not answer: {self.log_tail()}")
                time.sleep(0.2)

    def log_tail(self) -> str:
        try:
            return (self.base / "log").read_text(errors="replace")[-800:]
        except OSError:
            return ""

    def _wait_for(self, sock: Path, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise EngineFailed(f"the {self.kind} daemon did not start: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        for p in (self.proc, self.containerd_proc):
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        # Shims and containers the daemons left: by their own pids, under our root.
        for pid in _pids_mentioning(str(self.base)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["umount", "-R", "-l", str(self.base)], capture_output=True, check=False)

    def docker(self, *args: str) -> list[str]:
        return [DOCKER, "--host", f"unix://{self.socket}", *args]

    def docker_run(self, work: Path, cid: str) -> str:
        tar = work / "rootfs.tar"
        with tarfile.open(tar, "w") as t:
            t.add(work / "rootfs", arcname=".")
        image = f"seccompat-probe:{cid}"
        _run(self.docker("import", str(tar), image))
        try:
            return _run(self.docker("run", "--rm", "--network", "none", "--security-opt",
                                    f"seccomp={work / 'profile.json'}", image, "/probe",
                                    "/calls"))
        finally:
            subprocess.run(self.docker("rmi", "-f", image), capture_output=True, check=False)

    def ctr(self, *args: str) -> list[str]:
        return ["ctr", "--address", str(self.socket), *args]

    def ctr_run(self, work: Path, cid: str) -> str:
        return _run(self.ctr("run", "--rm", "--seccomp", "--seccomp-profile",
                             str(work / "profile.json"), "--rootfs", str(work / "rootfs"), cid,
                             "/probe", "/calls"))


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry))
    return found


def links_host_libseccomp(program: str) -> bool:
    """Whether *program* loads libseccomp.so.2 (Debian's runc and crun do; a static
    release binary carries its own, whose version ``runc --version`` prints)."""
    path = shutil.which(program)
    if path is None:
        return False
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=False).stdout
    return "libseccomp.so.2" in out


def installed(scratch: Path) -> list[tuple[str, str | None, str]]:
    """(engine, its model label or None, why absent) for every engine we can drive."""
    runc = version_of(["runc", "--version"])
    crun = version_of(["crun", "--version"], r"crun version (\d+\.\d+(?:\.\d+)?)")
    podman = version_of(["podman", "--version"])
    docker = version_of(["dockerd", "--version"], r"version (\d+\.\d+\.\d+)")
    containerd = version_of(["containerd", "--version"], r" v?(\d+\.\d+\.\d+)")
    found: list[tuple[str, str | None, str]] = [
        ("runc", runc and f"runc:{runc}", "runc is not installed"),
        ("crun", crun and f"crun:{crun}", "crun is not installed"),
    ]
    for low, v in (("runc", runc), ("crun", crun)):
        found.append((f"podman+{low}", podman and v and f"podman:{podman}+{low}:{v}",
                      f"podman or {low} is not installed"))
    found.append(("docker", docker and runc and f"docker:{docker}+runc:{runc}",
                  "dockerd or runc is not installed"))
    found.append(("containerd", containerd and runc and f"containerd:{containerd}+runc:{runc}",
                  "containerd or runc is not installed"))
    return found


def names(profile: dict[str, object]) -> Iterable[str]:
    for rule in profile.get("syscalls") or []:  # type: ignore[attr-defined]
        yield from rule.get("names") or ([rule["name"]] if rule.get("name") else [])
