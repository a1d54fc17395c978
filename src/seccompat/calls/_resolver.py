"""A userspace resolver for openat2(2)'s RESOLVE_* flags, for when the kernel lacks
openat2 or a filter blocks it.

Threat model: another process may rename directories and swap symlinks inside the
tree while we resolve (it cannot change the root itself), and may live in its own
user and mount namespaces, where it can mount anything over paths it sees and so
choose how its objects *print* (readlink(2) of /proc/*/fd and magic links renders a
path as the object's own mount namespace sees it).  The guarantee is the
kernel's: a scoped resolution (RESOLVE_BENEATH, RESOLVE_IN_ROOT) never yields, and
never acts on, an object outside the root.  How:

* Nothing is decided by comparing path strings: positions are proven by the
  kernel's own identities (device and inode of descriptors we hold).
* The walk goes one component at a time with O_PATH|O_NOFOLLOW descriptors, each
  component looked up alone relative to its parent (so no intermediate symlink or
  procfs magic link is ever followed by the kernel for us), and follows symlinks
  itself (counted: ELOOP past 40, as the kernel).  ".." never
  opens "..": it pops a stack of the descriptors we descended through, and at the
  root it fails (BENEATH: EXDEV) or stays (IN_ROOT).  Absolute symlinks restart
  at the root (IN_ROOT) or fail (BENEATH: EXDEV).  So, lexically, nothing
  escapes.
* A directory we hold can still be moved out of the root while we walk.  So for
  the object found, and for a creation's parent, the position is checked against
  the root before anything is opened for real or created:
  the resolver re-walks the *lexical* path (plain names, no symlinks) from the
  root descriptor and requires the same object (device and inode).  A mismatch
  is a race: the resolution restarts, at most ``RETRIES`` times, then fails with
  EAGAIN, as the kernel does.  Every descriptor the walk opens is closed on every
  path out of it, refusals included.
* A symlink is checked and read through one descriptor (readlinkat(fd, "")), so
  a rename between the check and the read cannot substitute another link.
* Nothing is opened for real before that check: the final object is found as an
  O_PATH descriptor, checked, then reopened with the caller's flags through
  /proc/self/fd (only on a real procfs), which reaches exactly that inode (its
  identity is compared once more).
* O_CREAT creates with O_EXCL|O_NOFOLLOW in the checked parent and checks again.
  Without a trustworthy /proc a scoped resolution needing a real open is refused
  (EAGAIN): it never guesses.

The kernel's rules, in its order (fs/namei.c), and where each is applied here:

* path_init: an absolute path starts at "/" (BENEATH: EXDEV; IN_ROOT: the root);
  with RESOLVE_NO_XDEV the jump itself is allowed and crossings count from "/".
* link_path_walk: every component but the last must be a directory (ENOTDIR); a
  name followed by "." or ".." is not the last, so a symlink there is followed
  whatever O_NOFOLLOW says; "." and ".." are handled lexically (see above).
* a mount crossing, down or up, under RESOLVE_NO_XDEV: EXDEV (mount ids compared
  from /proc/self/fdinfo; one that cannot be read counts as a crossing).
* a symlink (pick_link): O_CREAT|O_EXCL or O_NOFOLLOW on the last component first
  (EEXIST, ELOOP, or the link itself with O_PATH); the 40-link budget (ELOOP);
  fs.protected_symlinks for the trailing link (may_follow_link: EACCES unless the
  follower's fsuid owns the link, the directory is not sticky and world-writable,
  or the directory's owner owns the link; the sysctl read at each such link);
  RESOLVE_NO_SYMLINKS, or a nosymfollow mount under the link (statfs(2) of the
  link's own descriptor: exact and current): ELOOP; then the link itself.
* a magic link: get_link()'s access check (EACCES), RESOLVE_NO_MAGICLINKS (ELOOP),
  a scoped resolution (EXDEV), the mount rule, then the jump; a component after
  it needs a directory (ENOTDIR).
* open_last_lookups and do_open: O_CREAT with a trailing slash (EISDIR), O_EXCL
  (EEXIST), a directory (EISDIR), O_DIRECTORY or a trailing slash on a
  non-directory (ENOTDIR).

Not applied, because userspace cannot see them: LSM hooks (SELinux, AppArmor,
Landlock rules on the walk itself), id-mapped mounts (protected_symlinks compares
the raw owner uid), and the dcache-only walk of RESOLVE_CACHED (always EAGAIN).

SAFETY gaps, stated: every check here runs after the lookup it checks, so a
directory moved out of the root and back again (ABA) between the two is not seen:
an object that was outside at lookup time but is reachable inside at check time
(for example an outside file hardlinked into a directory while it was moved out)
passes, and O_CREAT can leave a new empty file outside for a moment (the result is
refused, the file stays).  The kernel avoids this with rename and mount sequence
counters; userspace cannot.  Renames and symlink swaps alone never lead outside:
the race test runs 10,000 resolutions against them.  Magic links are
recognised by name on procfs ({exe, cwd, root}, and entries of fd/, map_files/,
ns/), which is what the kernel's nd_jump_link() serves; before the RESOLVE_* rule
refuses one, its access check runs (readlink(2), as the kernel's get_link() does),
so a link the caller may not follow answers EACCES there too.
"""

from __future__ import annotations

import collections
import errno as E
import os
import stat

from .._proc import PROC_SUPER_MAGIC, fs_magic, fs_uid, mount_id, procfs_trusted
from ._kernel import os_dir_fd

__all__ = ["RETRIES", "resolve_open"]

RESOLVE_NO_XDEV, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS = 0x01, 0x02, 0x04
RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_CACHED = 0x08, 0x10, 0x20
MAXSYMLINKS = 40
RETRIES = 32
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_MAGIC_NAMES = {b"exe", b"cwd", b"root"}
_MAGIC_DIRS = {b"fd", b"map_files", b"ns"}


class _Race(Exception):
    """The tree changed under us: start again."""


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _mount_id(fd: int) -> int:
    mnt = mount_id(fd)
    if mnt is None:
        raise _err(E.EXDEV)  # cannot tell: refuse, as for a crossing
    return mnt


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _is_magic(parent: int, parent_name: bytes | None, name: bytes) -> bool:
    try:
        on_proc = fs_magic(parent) == PROC_SUPER_MAGIC
    except OSError:
        return False
    return on_proc and (name in _MAGIC_NAMES or parent_name in _MAGIC_DIRS)


class _Walk:
    """One attempt: the descriptor stack, the lexical names, the symlink budget."""

    def __init__(self, root: int, resolve: int) -> None:
        self.root = root
        self.resolve = resolve
        self.scoped = bool(resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT))
        self.mount = _mount_id(root) if resolve & RESOLVE_NO_XDEV else None
        self.stack = [os.dup(root)]
        self.names: list[bytes] = []
        self.links = 0
        # Whether the kernel's nd->root is set: an absolute path argument sets it at
        # once; a relative lookup sets it at its first jump to "/".
        self.root_set = False

    def close(self) -> None:
        for fd in self.stack:
            os.close(fd)
        self.stack = []

    def reset_to(self, fd: int) -> None:
        self.close()
        self.stack = [fd]
        self.names = []

    def check_mount(self, fd: int) -> int:
        """*fd* if it is on the starting mount (or RESOLVE_NO_XDEV is off); otherwise
        close it and raise EXDEV (an fd we cannot place counts as a crossing)."""
        if self.mount is not None:
            try:
                same = _mount_id(fd) == self.mount
            except OSError:
                same = False
            if not same:
                os.close(fd)
                raise _err(E.EXDEV)
        return fd

    def up(self) -> None:
        if len(self.stack) > 1:
            # Back to a directory we descended through (never a lookup of ".."). It
            # may have been moved out of the root since: nothing but lookups happen
            # until the object found (or a creation's parent) is verified, and that
            # verification re-walks the names from the root.
            os.close(self.stack.pop())
            self.names.pop()
            return
        if self.resolve & RESOLVE_BENEATH:
            raise _err(E.EXDEV)
        if self.resolve & RESOLVE_IN_ROOT:
            return  # ".." at the root is the root
        parent = os.open(b"..", _PATH | os.O_DIRECTORY, dir_fd=self.stack[0])
        self.check_mount(parent)
        self.reset_to(parent)

    def absolute(self, from_symlink: bool = False) -> None:
        if self.resolve & RESOLVE_BENEATH:
            raise _err(E.EXDEV)
        if not from_symlink and self.mount is not None and not self.resolve & RESOLVE_IN_ROOT:
            # nd_jump_root(): "Absolute path arguments to path_init() are allowed";
            # the walk then starts on the root's mount, and crossings count from there.
            top = os.open(b"/", _PATH | os.O_DIRECTORY)
            self.mount = _mount_id(top)
            self.root_set = True
            self.reset_to(top)
            return
        if from_symlink and self.mount is not None and not self.root_set:
            # fs/namei.c nd_jump_root(): with LOOKUP_NO_XDEV it compares the current
            # mount with nd->root before set_root() ran, so in a relative lookup the
            # first absolute symlink is always EXDEV.
            raise _err(E.EXDEV)
        self.root_set = True
        if self.resolve & RESOLVE_IN_ROOT:
            self.reset_to(os.dup(self.root))
            return
        top = os.open(b"/", _PATH | os.O_DIRECTORY)
        self.check_mount(top)
        self.reset_to(top)

    def verify(self, fd: int, final: bytes | None) -> None:
        """The object *fd* is what the lexical path names from the root now."""
        if not self.scoped:
            return
        cur = -1  # the descriptor held, once the first name is opened
        try:
            for name in [*self.names, *([final] if final is not None else [])]:
                try:
                    nxt = os.open(name, _PATH, dir_fd=self.root if cur < 0 else cur)
                except OSError:
                    raise _Race() from None
                if cur >= 0:
                    os.close(cur)
                cur = nxt
            if _identity(self.root if cur < 0 else cur) != _identity(fd):
                raise _Race()
        finally:
            if cur >= 0:
                os.close(cur)


def _components(path: bytes) -> collections.deque[bytes]:
    return collections.deque(p for p in path.split(b"/"))


def resolve_open(dir_fd: int, path: bytes, flags: int, mode: int, resolve: int) -> int:
    """Open *path* relative to *dir_fd* with openat2's RESOLVE_* semantics."""
    if not path:
        raise _err(E.ENOENT)
    if resolve & RESOLVE_CACHED:
        raise _err(E.EAGAIN)  # the kernel may answer this too: only the dcache walk
    root = os.open(b".", _PATH | os.O_DIRECTORY, dir_fd=os_dir_fd(dir_fd))
    try:
        for _ in range(RETRIES):
            walk = _Walk(root, resolve)
            try:
                return _attempt(walk, path, flags, mode)
            except _Race:
                continue
            finally:
                walk.close()
        raise _err(E.EAGAIN)
    finally:
        os.close(root)


def _attempt(walk: _Walk, path: bytes, flags: int, mode: int) -> int:
    """One walk of *path* from the walk's root, component by component."""
    left = _components(path)
    if path.startswith(b"/"):
        walk.absolute()
    must_be_dir = path.endswith(b"/")
    final: int | None = None
    final_name: bytes | None = None
    while left:
        name = left.popleft()
        if name in (b"", b"."):
            continue
        if name == b"..":
            walk.up()
            continue
        # A name followed by "." is not the last component: it must be a directory,
        # and a symlink there is followed (whatever O_NOFOLLOW says).
        last = not any(left)  # only empty names (trailing slashes) left
        if last and flags & os.O_CREAT and must_be_dir:
            raise _err(E.EISDIR)  # open_last_lookups(): before the last lookup itself
        parent = walk.stack[-1]
        try:
            fd = os.open(name, _PATH, dir_fd=parent)
        except FileNotFoundError:
            if last and flags & os.O_CREAT:
                return _create(walk, name, flags, mode, must_be_dir)
            raise
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):
            found = _symlink(walk, fd, name, left, flags, last and not must_be_dir, last)
            if found is None:
                continue
            final, final_name = found
            break
        walk.check_mount(fd)
        if last:
            final, final_name = fd, name
            break
        if not stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise _err(E.ENOTDIR)
        walk.stack.append(fd)
        walk.names.append(name)
    if final is None:  # the path named the directory we stand in
        final = os.dup(walk.stack[-1])
        if walk.names:
            final_name = walk.names.pop()
            os.close(walk.stack.pop())
    try:
        return _finish(walk, final, final_name, flags, must_be_dir)
    finally:
        os.close(final)


def _symlink(walk: _Walk, fd: int, name: bytes, left: collections.deque[bytes], flags: int,
             final_link: bool, last: bool) -> tuple[int, bytes | None] | None:
    """The symlink *fd* (an O_PATH descriptor of *name*, which this takes): followed
    (its target queued in *left*; None), or the walk's end (the descriptor found,
    and its name).  *final_link*: it is the last component, with no trailing slash;
    *last*: the trailing link (the kernel's WALK_TRAILING), with or without one.

    The kernel's order (fs/namei.c): O_EXCL and O_NOFOLLOW on the last component
    (open_last_lookups, do_open), the MAXSYMLINKS budget (reserve_stack),
    fs.protected_symlinks for a trailing link (may_follow_link: EACCES),
    RESOLVE_NO_SYMLINKS and a nosymfollow mount (pick_link: ELOOP), then the link
    itself: a procfs magic link's access check and jump, or the target."""
    parent = walk.stack[-1]
    try:
        if final_link and flags & os.O_CREAT and flags & os.O_EXCL:
            raise _err(E.EEXIST)  # O_EXCL never follows the last component
        if final_link and flags & os.O_NOFOLLOW:
            if not flags & os.O_PATH:
                raise _err(E.ELOOP)
            return fd, name
        walk.links += 1
        if walk.links > MAXSYMLINKS:
            raise _err(E.ELOOP)
        if last:
            _may_follow(fd, parent)
        if walk.resolve & RESOLVE_NO_SYMLINKS or _nosymfollow(fd):
            raise _err(E.ELOOP)
    except BaseException:
        os.close(fd)
        raise
    if _is_magic(parent, walk.names[-1] if walk.names else None, name):
        os.close(fd)
        return _magic_link(walk, parent, name, last)
    try:
        # readlinkat(fd, ""): the link checked above, not whatever has its name now.
        target = os.readlink(b"", dir_fd=fd)
    finally:
        os.close(fd)
    if not target:
        raise _err(E.ENOENT)
    left.extendleft(reversed(target.split(b"/")))
    if target.startswith(b"/"):
        walk.absolute(from_symlink=True)
    return None


_ST_NOSYMFOLLOW = 0x2000  # statfs(2) f_flag of a mount with MS_NOSYMFOLLOW (Linux 5.10)


def _nosymfollow(link: int) -> bool:
    """Whether the link's own mount refuses to follow symlinks (statfs(2) on the
    link's O_PATH descriptor: exact, and current, unlike a cached mountinfo)."""
    return bool(os.statvfs(link).f_flag & _ST_NOSYMFOLLOW)


def _may_follow(link: int, parent: int) -> None:
    """fs.protected_symlinks (may_follow_link): a trailing symlink in a sticky,
    world-writable directory is followed only by its owner, or when the directory's
    owner owns it; EACCES otherwise.  The sysctl is read at each such link."""
    directory = os.fstat(parent)
    if directory.st_mode & (stat.S_ISVTX | stat.S_IWOTH) != stat.S_ISVTX | stat.S_IWOTH:
        return  # (the cheap test first: the answer does not depend on the order)
    owner = os.fstat(link).st_uid
    if owner == directory.st_uid or not _protected_symlinks() or owner == _fsuid():
        return
    raise _err(E.EACCES)


def _fsuid() -> int:
    """This thread's file-system uid (the id may_follow_link compares)."""
    uid = fs_uid()
    if uid is None:
        raise _err(E.EACCES)  # cannot tell: refuse, as the kernel would for a stranger
    return uid


def _protected_symlinks() -> bool:
    """fs.protected_symlinks; when it cannot be read, on (refuse rather than follow)."""
    try:
        with open("/proc/sys/fs/protected_symlinks", "rb") as f:
            return f.read().strip() != b"0"
    except OSError:
        return True


def _magic_link(walk: _Walk, parent: int, name: bytes, last: bool
                ) -> tuple[int, bytes | None] | None:
    """A procfs magic link: its access check, then the RESOLVE_* rules, then the
    jump (the walk's end when *last*, else the walk goes on from its target)."""
    # The kernel calls the link's get_link() (its ptrace access check: EACCES)
    # before nd_jump_link() applies the RESOLVE_* rules; readlink(2) makes the
    # same check.
    os.readlink(name, dir_fd=parent)
    if walk.resolve & RESOLVE_NO_MAGICLINKS:
        raise _err(E.ELOOP)
    if walk.scoped:
        raise _err(E.EXDEV)
    jumped = os.open(name, os.O_PATH | os.O_CLOEXEC, dir_fd=parent)
    walk.check_mount(jumped)
    if last:
        return jumped, None
    if not stat.S_ISDIR(os.fstat(jumped).st_mode):
        os.close(jumped)
        raise _err(E.ENOTDIR)  # link_path_walk(): the next component needs a directory
    walk.stack.append(jumped)
    walk.names.append(name)
    return None


def _finish(walk: _Walk, found: int, name: bytes | None, flags: int, must_be_dir: bool) -> int:
    """Check the O_PATH descriptor *found*, then open it with the caller's flags."""
    st = os.fstat(found)
    tmpfile = (flags & os.O_TMPFILE) == os.O_TMPFILE
    is_dir = stat.S_ISDIR(st.st_mode)
    # The kernel's order for O_CREAT on something that exists: a trailing slash is
    # EISDIR; then O_EXCL is EEXIST; then a directory is EISDIR.
    if flags & os.O_CREAT and must_be_dir:
        raise _err(E.EISDIR)
    if flags & os.O_CREAT and flags & os.O_EXCL:
        raise _err(E.EEXIST)
    if flags & os.O_CREAT and is_dir:
        raise _err(E.EISDIR)
    if (must_be_dir or flags & os.O_DIRECTORY) and not is_dir:
        raise _err(E.ENOTDIR)
    walk.verify(found, name)
    if flags & os.O_PATH:
        return os.dup(found)  # close-on-exec, as every fd we return
    if tmpfile:
        result = os.open(b".", flags, 0o600, dir_fd=found)
    elif procfs_trusted():
        # The magic link reaches exactly the inode we checked: no second lookup.
        result = os.open(f"/proc/self/fd/{found}", flags & ~(os.O_CREAT | os.O_EXCL
                                                               | os.O_NOFOLLOW))
    elif not walk.scoped and name is not None:
        result = os.open(name, flags | os.O_NOFOLLOW, dir_fd=walk.stack[-1])
    else:
        raise _err(E.EAGAIN)  # no way to open that exact inode: refuse, never guess
    # The reopen reached *found* itself (no lookup): its identity is the check.
    try:
        if not tmpfile and _identity(result) != _identity(found):
            raise _Race()
    except BaseException:
        os.close(result)
        raise
    return result


def _create(walk: _Walk, name: bytes, flags: int, mode: int, must_be_dir: bool) -> int:
    if must_be_dir:
        raise _err(E.EISDIR)
    parent = walk.stack[-1]
    walk.verify(parent, None)
    try:
        fd = os.open(name, flags | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (E.EEXIST, E.ELOOP) and not flags & os.O_EXCL:
            raise _Race() from None  # something appeared meanwhile: look again
        raise
    try:
        walk.verify(fd, name)
    except BaseException:
        os.close(fd)
        raise
    return fd
