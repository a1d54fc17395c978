"""seccompat: tell a seccomp filter's EPERM from a real one.

Container runtimes answer EPERM for every syscall their profile does not know;
userspace falls back only on ENOSYS.  seccompat classifies each syscall
(available, not implemented, filtered, killed, trapped, gated) with its evidence,
and reproduces container filters with its own BPF compiler.

The public API is what this module exports; everything else may change.
"""

from __future__ import annotations

from ._lazy import exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._classifier import Status, Verdict, eperm_is_filtered
    from ._isolate import classify, classify_isolated
    from ._proc import ProcessState, process_state
    from .errors import SeccompatError
    from .syscalls import Syscall, kernel_version, lookup, native_arch

__version__ = "0.1.0"

# No submodule shares a name with an export, so neither shadows the other.
__getattr__, __dir__ = exports(__name__, globals(), {
    "Status": "_classifier", "Verdict": "_classifier", "classify": "_isolate",
    "eperm_is_filtered": "_classifier", "classify_isolated": "_isolate",
    "ProcessState": "_proc", "process_state": "_proc", "Syscall": "syscalls",
    "SeccompatError": "errors",
    "kernel_version": "syscalls", "lookup": "syscalls", "native_arch": "syscalls",
})

__all__ = [
    "ProcessState",
    "SeccompatError",
    "Status",
    "Syscall",
    "Verdict",
    "__version__",
    "classify",
    "classify_isolated",
    "eperm_is_filtered",
    "kernel_version",
    "lookup",
    "native_arch",
    "process_state",
]
