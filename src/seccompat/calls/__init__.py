"""Safe wrappers for new syscalls: the kernel first, a fallback only when the kernel
lacks the call or a seccomp filter blocks it, never after a genuine error.

See docs/compatibility.md for each wrapper's kernel version, fallback and the
fallback's differences.
"""

from ._call import call
from ._close_range import CLOSE_RANGE_CLOEXEC, CLOSE_RANGE_UNSHARE, close_range
from ._copy_file_range import copy_file_range
from ._faccessat2 import access, faccessat2
from ._fchmodat2 import fchmodat2
from ._getrandom import GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, getrandom
from ._kernel import (
                      AT_EACCESS,
                      AT_EMPTY_PATH,
                      AT_SYMLINK_NOFOLLOW,
                      FdOutOfRange,
                      SyscallUnavailable,
)
from ._openat2 import (
                      RESOLVE_BENEATH,
                      RESOLVE_CACHED,
                      RESOLVE_IN_ROOT,
                      RESOLVE_NO_MAGICLINKS,
                      RESOLVE_NO_SYMLINKS,
                      RESOLVE_NO_XDEV,
                      OpenHow,
                      open_beneath,
                      open_in_root,
                      openat2,
)
from ._pidfd import pidfd_getfd, pidfd_open, pidfd_send_signal
from ._renameat2 import RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, renameat2
from ._statx import STATX_BASIC_STATS, STATX_BTIME, STATX_MNT_ID, Statx, statx

__all__ = [
    "AT_EACCESS",
    "AT_EMPTY_PATH",
    "AT_SYMLINK_NOFOLLOW",
    "CLOSE_RANGE_CLOEXEC",
    "CLOSE_RANGE_UNSHARE",
    "GRND_INSECURE",
    "GRND_NONBLOCK",
    "GRND_RANDOM",
    "RESOLVE_BENEATH",
    "RESOLVE_CACHED",
    "RESOLVE_IN_ROOT",
    "RESOLVE_NO_MAGICLINKS",
    "RESOLVE_NO_SYMLINKS",
    "RESOLVE_NO_XDEV",
    "RENAME_EXCHANGE",
    "RENAME_NOREPLACE",
    "RENAME_WHITEOUT",
    "STATX_BASIC_STATS",
    "STATX_BTIME",
    "STATX_MNT_ID",
    "FdOutOfRange",
    "OpenHow",
    "Statx",
    "SyscallUnavailable",
    "access",
    "call",
    "close_range",
    "copy_file_range",
    "faccessat2",
    "fchmodat2",
    "getrandom",
    "open_beneath",
    "open_in_root",
    "openat2",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "renameat2",
    "statx",
]
