"""libseccomp itself (this machine's libseccomp.so.2, through pyseccomp): a
profile's rules added exactly as runc adds them, and the BPF it exports."""

from __future__ import annotations

import errno
import re
import struct
import tempfile

import pyseccomp as seccomp

from seccompat.bpf.insn import Insn, action_name
from seccompat.profiles.conversion import Translation
from seccompat.profiles.model import SyscallRule
from seccompat.syscalls import ARCHES

PS_ARCH = {name: getattr(seccomp.Arch, name.upper()) for name in ARCHES
           if hasattr(seccomp.Arch, name.upper())}
PS_OPS = {"SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT, "SCMP_CMP_LE": seccomp.LE,
          "SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_GE": seccomp.GE, "SCMP_CMP_GT": seccomp.GT,
          "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}


def _ps_action(action: str, errno_ret: int | None) -> object:
    e = 1 if errno_ret is None else errno_ret
    return {"SCMP_ACT_ALLOW": lambda: seccomp.ALLOW, "SCMP_ACT_LOG": lambda: seccomp.LOG,
            "SCMP_ACT_KILL": lambda: seccomp.KILL, "SCMP_ACT_KILL_THREAD":
            lambda: seccomp.KILL_THREAD, "SCMP_ACT_KILL_PROCESS": lambda: seccomp.KILL_PROCESS,
            "SCMP_ACT_TRAP": lambda: seccomp.TRAP, "SCMP_ACT_ERRNO": lambda: seccomp.ERRNO(e),
            "SCMP_ACT_TRACE": lambda: seccomp.TRACE(e),
            "SCMP_ACT_NOTIFY": lambda: seccomp.NOTIFY}[action]()


def _add(f: object, rule: SyscallRule, default: object) -> None:
    """One profile rule, as runc's InitSeccomp adds it."""
    action = _ps_action(rule.action, rule.errno_ret)
    if action == default:
        return
    indexes = [a.index for a in rule.args]
    args = [seccomp.Arg(a.index, PS_OPS[a.op], a.value, a.value_two) for a in rule.args]
    groups = [[a] for a in args] if len(set(indexes)) < len(indexes) else [args]
    for name in rule.names:
        for group in groups or [[]]:
            try:
                f.add_rule(action, name, *group)  # type: ignore[attr-defined]
            except (RuntimeError, ValueError):
                break  # a name this libseccomp cannot resolve: runc skips it
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise  # EEXIST: libseccomp refuses the rule, runc fails
                break


def libseccomp_filter(t: Translation) -> object:
    """A libseccomp filter holding *t*'s ABIs and rules, added as runc adds them
    (its default: the one the runtime gives, *t.default*)."""
    default = t.default.value
    f = seccomp.SyscallFilter(default)
    for p in t.filter.policies:
        if not f.exist_arch(PS_ARCH[p.arch.name]):
            f.add_arch(PS_ARCH[p.arch.name])
    if not any(p.arch.name == "x86_64" for p in t.filter.policies):
        f.remove_arch(seccomp.Arch.NATIVE)
    for rule in t.rules:
        _add(f, rule, default)
    return f


def libseccomp_program(t: Translation) -> tuple[Insn, ...]:
    """The BPF libseccomp exports for *t* (what runc loads)."""
    f = libseccomp_filter(t)
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)  # type: ignore[attr-defined]
        out.seek(0)
        raw = out.read()
    return tuple(Insn(*struct.unpack_from("=HBBI", raw, i)) for i in range(0, len(raw), 8))


def pfc_text(value: int) -> str:
    """A filter return value in libseccomp's PFC spelling."""
    name = action_name(value)
    return {"KILL_THREAD": "KILL", "TRAP(0)": "TRAP"}.get(name, name)


# -- libseccomp's PFC export: its decision tree, as it means it ---------------------------

_COND = re.compile(r"^\$(a(\d)(\.hi32|\.lo32)?|syscall|arch)(?: & (0x[0-9a-f]+))? "
                   r"(==|>=|>|<=|<|!=) (\d+)$")
_Stmt = tuple[object, ...]


class Pfc:
    """A PFC export parsed: ``decide(audit_arch, nr, args)`` walks it as written
    (an ``if`` whose branch reaches no action goes on with the next statement)."""

    def __init__(self, text: str) -> None:
        lines = [ln for ln in text.splitlines()
                 if ln.strip() and not ln.strip().startswith("#")]
        self.stmts, _ = self._block(lines, 0, 0)

    def _block(self, lines: list[str], i: int, indent: int) -> tuple[list[_Stmt], int]:
        out: list[_Stmt] = []
        while i < len(lines) and len(lines[i]) - len(lines[i].lstrip()) >= indent:
            text = lines[i].strip()
            if text.startswith("action "):
                out.append(("action", text[len("action "):-1]))
                i += 1
                continue
            if not (text.startswith("if (") and text.endswith(")")):
                raise ValueError(f"PFC line not understood: {text!r}")
            body, i = self._block(lines, i + 1, indent + 2)
            other: list[_Stmt] = []
            if i < len(lines) and lines[i].strip() == "else" and \
                    len(lines[i]) - len(lines[i].lstrip()) == indent:
                other, i = self._block(lines, i + 1, indent + 2)
            out.append(("if", text[4:-1], body, other))
        return out, i

    @staticmethod
    def _holds(cond: str, env: dict[str, int], args: tuple[int, ...]) -> bool:
        m = _COND.match(cond)
        if m is None:
            raise ValueError(f"PFC condition not understood: {cond!r}")
        if m.group(2) is not None:
            value = args[int(m.group(2))]
            value = value >> 32 if m.group(3) == ".hi32" else value & 0xFFFFFFFF
        else:
            value = env[m.group(1)]
        if m.group(4):
            value &= int(m.group(4), 16)
        datum, op = int(m.group(6)), m.group(5)
        return {"==": value == datum, "!=": value != datum, ">": value > datum,
                ">=": value >= datum, "<": value < datum, "<=": value <= datum}[op]

    def _run(self, stmts: list[_Stmt], env: dict[str, int], args: tuple[int, ...]
             ) -> str | None:
        for st in stmts:
            if st[0] == "action":
                return str(st[1])
            _, cond, body, other = st
            taken = body if self._holds(str(cond), env, args) else other
            got = self._run(taken, env, args)  # type: ignore[arg-type]
            if got is not None:
                return got
        return None

    def decide(self, audit_arch: int, nr: int, args: tuple[int, ...]) -> str:
        """The action's PFC text ("ERRNO(6)", "ALLOW", "KILL" ...) for a call with
        rules of its own (x86_64 and x32 share an arch: the section naming *nr*)."""
        env = {"arch": audit_arch, "syscall": nr}
        for section in self.stmts:
            if section[0] != "if" or not self._holds(str(section[1]), env, args):
                continue
            body: list[_Stmt] = section[2]  # type: ignore[assignment]
            for st in body:
                if st[0] == "if" and self._holds(str(st[1]), env, args):
                    got = self._run(st[2], env, args)  # type: ignore[arg-type]
                    return got if got is not None else str(body[-1][1])
        raise LookupError(f"no PFC section filters {audit_arch:#x} {nr}")


def libseccomp_pfc(t: Translation) -> Pfc:
    return Pfc(_pfc_text(libseccomp_filter(t)))


def in_child(t: Translation, seconds: int = 10) -> tuple[tuple[Insn, ...], Pfc] | OSError | None:
    """libseccomp's BPF and PFC for *t*, built in a forked child: None when it has
    not finished in *seconds* (some rule sets send libseccomp 2.5.4's tree merge into
    an endless loop, so a runtime would hang there too), the OSError it refuses with."""
    import os
    import pickle
    import signal

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: build, send, exit
        os.close(read)
        try:
            signal.alarm(seconds)
            try:
                f = libseccomp_filter(t)
                result: object = (libseccomp_program(t), _pfc_text(f))
            except OSError as exc:
                result = OSError(exc.errno, exc.strerror)
            os.write(write, pickle.dumps(result))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    if not data:
        return None
    got = pickle.loads(data)
    if isinstance(got, OSError):
        return got
    return got[0], Pfc(got[1])


def _pfc_text(f: object) -> str:
    with tempfile.TemporaryFile("w+") as out:
        f.export_pfc(out)  # type: ignore[attr-defined]
        out.seek(0)
        return out.read()
