"""Our own classic-BPF seccomp compiler, emulator and loader.

``ir`` describes a policy, ``compile`` turns it into a program, ``emulate`` runs a
program on a ``seccomp_data`` without the kernel, ``load`` installs it.
"""

from __future__ import annotations

from .._lazy import exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .compile import CompileError, compile_filter, dispatch_depth
    from .emulate import InvalidProgram, SeccompData, run, validate
    from .insn import RET, Insn, action_name, disassemble
    from .ir import Action, ArchPolicy, ArgCmp, Filter, Op, Rule, parse_errno
    from .load import FLAG_LOG, FLAG_NEW_LISTENER, FLAG_TSYNC, action_available, install

__getattr__, __dir__ = exports(__name__, globals(), {
    **dict.fromkeys(("CompileError", "compile_filter", "dispatch_depth"), "compile"),
    **dict.fromkeys(("InvalidProgram", "SeccompData", "run", "validate"), "emulate"),
    **dict.fromkeys(("RET", "Insn", "action_name", "disassemble"), "insn"),
    **dict.fromkeys(("Action", "ArchPolicy", "ArgCmp", "Filter", "Op", "Rule", "parse_errno"),
                    "ir"),
    **dict.fromkeys(("FLAG_LOG", "FLAG_NEW_LISTENER", "FLAG_TSYNC", "action_available",
                     "install"), "load"),
})

__all__ = [
    "FLAG_LOG",
    "FLAG_NEW_LISTENER",
    "FLAG_TSYNC",
    "RET",
    "Action",
    "ArchPolicy",
    "ArgCmp",
    "CompileError",
    "Filter",
    "Insn",
    "InvalidProgram",
    "Op",
    "Rule",
    "SeccompData",
    "action_available",
    "action_name",
    "compile_filter",
    "disassemble",
    "dispatch_depth",
    "install",
    "parse_errno",
    "run",
    "validate",
]
