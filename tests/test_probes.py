"""Every probe reaches the kernel's argument checks and leaves nothing behind."""

from __future__ import annotations

import errno
import os

import pytest

from seccompat._probes import NEVER_PROBE, PROBES
from seccompat.raw import errno_name, syscall
from seccompat.syscalls import kernel_version, lookup

from .kernel import in_child

# Calls a kernel may lack although it is new enough (configuration or boot options).
_MAY_BE_DISABLED = {"memfd_secret", "set_mempolicy_home_node", "name_to_handle_at",
                    "open_by_handle_at", "pkey_alloc", "pkey_mprotect", "pkey_free",
                    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
                    "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
                    "quotactl_fd", "io_uring_setup", "io_uring_enter", "io_uring_register",
                    "userfaultfd", "bpf", "perf_event_open"}

NATIVE = []
for _name in sorted(PROBES):
    try:
        NATIVE.append(lookup(_name).name)
    except LookupError:
        continue


@pytest.mark.parametrize("name", NATIVE)
def test_probe_reaches_argument_validation(name: str, no_filter: None) -> None:
    spec, sc = PROBES[name], lookup(name)
    result, err = syscall(sc.number, *spec.args)
    if err == 0 and spec.returns_fd and result >= 0:
        os.close(result)
        pytest.fail(f"{name} probe succeeded and returned fd {result}")
    if kernel_version() < sc.since:
        assert err == errno.ENOSYS
        return
    if err == errno.ENOSYS and name in _MAY_BE_DISABLED:
        pytest.skip(f"{name} is compiled out or disabled on this kernel")
    gate = spec.closed_gate()
    if gate:
        assert err == errno.EPERM, f"{name}: gate {gate!r} closed but got {errno_name(err)}"
        return
    assert err not in (errno.EPERM, errno.ENOSYS), f"{name}: {errno_name(err)}"
    # What was measured on 6.18; check orders change, so only this kernel family.
    if kernel_version() >= (6, 18):
        assert err in spec.expect, f"{name}: {errno_name(err)} not in " \
            f"{sorted(errno_name(e) for e in spec.expect)}"


def test_never_probed_calls_are_not_probes() -> None:
    assert not set(NEVER_PROBE) & set(PROBES)
    for name in NEVER_PROBE:
        lookup(name, "x86_64")  # known to the table


def test_every_probe_documents_its_safety() -> None:
    for spec in PROBES.values():
        assert spec.why, spec.name
        assert spec.expect, spec.name
        if spec.shape is not None:
            assert len(spec.shape) == len(spec.args), spec.name


def _snapshot() -> dict[str, object]:
    def children() -> list[str]:
        try:
            return open(f"/proc/self/task/{os.getpid()}/children").read().split()
        except OSError:
            return []

    return {
        "fds": sorted(os.listdir("/proc/self/fd")),
        "maps": open("/proc/self/maps").read(),
        "threads": sorted(os.listdir("/proc/self/task")),
        "children": children(),
        "cwd": sorted(os.listdir(".")),
        "status": [line for line in open("/proc/self/status").read().splitlines()
                   if line.split(":")[0] in ("Seccomp", "Seccomp_filters", "NoNewPrivs",
                                             "CapEff", "CapPrm", "Uid", "Gid", "Groups")],
    }


def _probe_everything_and_compare(tmp: str) -> list[str]:
    os.chdir(tmp)
    specs = [(lookup(n).number, PROBES[n]) for n in NATIVE]
    # Warm up anything the interpreter allocates lazily (the fd listing itself).
    _snapshot()
    before = _snapshot()
    for _ in range(3):
        for nr, spec in specs:
            result, err = syscall(nr, *spec.args)
            if err == 0 and spec.returns_fd and result >= 0:
                os.close(result)
                return [f"{spec.name} returned an fd"]
    after = _snapshot()
    return [key for key in before if before[key] != after[key]]


def test_probes_have_no_side_effects(tmp_path: object) -> None:
    # In a child, so any damage stays there; fds, mappings, threads, children,
    # files, credentials and seccomp state must all be as they were.
    changed = in_child(_probe_everything_and_compare, str(tmp_path)).get()
    assert changed == []
