"""Hand-made profiles for the real-engine differential: each holds one case where a
model of libseccomp's rule semantics can go wrong (the corpus rarely has them).
They name calls neither the runtime nor the probe needs once the filter is loaded
(kcmp, syncfs, getpriority), so they run as they are."""

from __future__ import annotations

X86 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def _rule(name: str, action: str, errno: int | None = None,
          *args: tuple[int, str, int] | tuple[int, str, int, int]) -> dict[str, object]:
    rule: dict[str, object] = {"names": [name], "action": f"SCMP_ACT_{action}"}
    if errno is not None:
        rule["errnoRet"] = errno
    if args:
        rule["args"] = [{"index": a[0], "op": f"SCMP_CMP_{a[1]}", "value": a[2],
                         "valueTwo": a[3] if len(a) > 3 else 0} for a in args]
    return rule


def _profile(*rules: dict[str, object], default: str = "SCMP_ACT_ALLOW",
             arches: list[str] | None = None) -> dict[str, object]:
    return {"defaultAction": default, "architectures": arches or X86, "syscalls": list(rules)}


CASES: dict[str, dict[str, object]] = {
    # libseccomp tests the larger GT first: 6 at arg2 = 300, not the first rule's 5
    "case-overlapping-gt": _profile(_rule("kcmp", "ERRNO", 5, (2, "GT", 128)),
                                    _rule("kcmp", "ERRNO", 6, (2, "GT", 256))),
    # and the smaller LT first, whatever the order of the rules
    "case-overlapping-lt": _profile(_rule("kcmp", "ERRNO", 5, (1, "LT", 1000)),
                                    _rule("kcmp", "ERRNO", 6, (1, "LT", 100)),
                                    _rule("kcmp", "TRAP", None, (1, "LE", 5))),
    # a higher argument is tested before a lower one, EQ before GT
    "case-argument-order": _profile(_rule("kcmp", "TRAP", None, (0, "GT", 1 << 32)),
                                    _rule("kcmp", "ERRNO", 7, (1, "GE", 256)),
                                    _rule("kcmp", "ERRNO", 8, (0, "EQ", 3))),
    # (arg & value) == (valueTwo & value): kcmp(0x300) matches valueTwo 1000 = 0x3e8
    "case-masked-eq": _profile(_rule("kcmp", "ERRNO", 100, (0, "MASKED_EQ", 0xFF00, 1000))),
    # the first unconditional rule wins; an unconditional rule replaces conditionals
    "case-unconditional": _profile(_rule("getpriority", "ERRNO", 5),
                                   _rule("getpriority", "ERRNO", 6),
                                   _rule("syncfs", "ERRNO", 5, (0, "EQ", 3)),
                                   _rule("syncfs", "ERRNO", 7)),
    # a rule that goes on where an earlier one ends: the shorter decides
    "case-shorter-wins": _profile(_rule("kcmp", "ERRNO", 5, (0, "EQ", 1)),
                                  _rule("kcmp", "ERRNO", 6, (0, "EQ", 1), (1, "EQ", 2)),
                                  _rule("kcmp", "ERRNO", 9, (0, "NE", 7), (2, "EQ", 4))),
    # two rules ending on the same test with different actions: EEXIST, no container
    "case-conflict": _profile(_rule("kcmp", "ERRNO", 5, (0, "EQ", 1)),
                              _rule("kcmp", "ERRNO", 6, (0, "EQ", 1))),
    # ERRNO(0): the call "succeeds" with 0, not run
    "case-errno-zero": _profile(_rule("kcmp", "ERRNO", 0)),
    # a big-endian ABI cannot join an x86_64 filter: seccomp_arch_add EDOM
    "case-big-endian": _profile(_rule("kcmp", "ERRNO", 5),
                                arches=[*X86, "SCMP_ARCH_S390X"]),
}
