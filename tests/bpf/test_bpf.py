"""The BPF compiler, emulator and loader: exact listings, reference semantics, the
kernel, and libseccomp as an independent compiler."""

from __future__ import annotations

import errno
import random
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seccompat._isolate import run_in_child
from seccompat.bpf import (
    RET,
    Action,
    ArchPolicy,
    ArgCmp,
    CompileError,
    Filter,
    Insn,
    InvalidProgram,
    Op,
    Rule,
    SeccompData,
    compile_filter,
    disassemble,
    dispatch_depth,
    install,
    parse_errno,
    run,
    validate,
)
from seccompat.bpf.insn import pack, unpack
from seccompat.raw import syscall
from seccompat.syscalls import AUDIT_ARCH, arch, lookup, syscalls

from ..kernel import in_child

X86_64 = AUDIT_ARCH["x86_64"]
MAGIC = 0x5EC0C0FFEE15BAD1  # both 32-bit halves matter


def test_exact_listing_for_a_small_filter() -> None:
    flt = Filter.simple(Action.allow(), {"faccessat2": Action.errno(errno.EPERM),
                                         "clone3": Action.errno(errno.ENOSYS)})
    assert disassemble(compile_filter(flt)) == """\
   0: ld [4]
   1: jeq #0xc000003e, 2, 12
   2: ld [0]
   3: jge #0x40000000, 10, 4
   4: jge #0x1b4, 6, 5
   5: jge #0x1b3, 9, 11
   6: jge #0x1b7, 7, 11
   7: jge #0x1b8, 11, 8
   8: ret ERRNO(1)
   9: ret ERRNO(38)
  10: jeq #0xffffffff, 11, 12
  11: ret ALLOW
  12: ret KILL_PROCESS"""


def test_exact_listing_with_an_argument_rule() -> None:
    rule = Rule(Action.errno(55), (ArgCmp(2, Op.EQ, 0x1_0000_0002),))
    flt = Filter((ArchPolicy(arch("x86_64"), Action.allow(),
                             {lookup("getppid").number: (rule,)}),), Action.kill_process())
    assert disassemble(compile_filter(flt)) == """\
   0: ld [4]
   1: jeq #0xc000003e, 2, 13
   2: ld [0]
   3: jge #0x40000000, 11, 4
   4: jge #0x6e, 5, 12
   5: jge #0x6f, 12, 6
   6: ld [36]
   7: jeq #0x1, 8, 12
   8: ld [32]
   9: jeq #0x2, 10, 12
  10: ret ERRNO(55)
  11: jeq #0xffffffff, 12, 13
  12: ret ALLOW
  13: ret KILL_PROCESS"""


def _policy_actions() -> st.SearchStrategy[Action]:
    return st.one_of(
        st.just(Action.allow()), st.just(Action.log()), st.just(Action.kill_process()),
        st.just(Action.kill_thread()), st.builds(Action.trap, st.integers(0, 0xFFFF)),
        st.builds(Action.errno, st.integers(1, 4095)),
        st.builds(Action.trace, st.integers(0, 0xFFFF)))


_values = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(
    [0, 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1, 0xFFFFFFFF00000000]))


@st.composite
def _cmps(draw: st.DrawFn) -> ArgCmp:
    return ArgCmp(draw(st.integers(0, 5)), draw(st.sampled_from(list(Op))), draw(_values),
                  draw(_values))


@st.composite
def _filters(draw: st.DrawFn) -> Filter:
    rules: dict[int, tuple[Rule, ...]] = {}
    for nr in draw(st.lists(st.integers(0, 520), max_size=40, unique=True)):
        rules[nr] = tuple(Rule(draw(_policy_actions()), tuple(draw(st.lists(_cmps(), max_size=3))))
                          for _ in range(draw(st.integers(1, 3))))
    above = draw(st.one_of(st.none(), st.tuples(st.integers(0, 530), _policy_actions())))
    return Filter((ArchPolicy(arch("x86_64"), draw(_policy_actions()), rules, above),),
                  draw(_policy_actions()))


def _boundary_args(flt: Filter, nr: int) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [(0,) * 6]
    for p in flt.policies:
        for rule in p.rules.get(nr, ()):
            for c in rule.conditions:
                for v in (c.value - 1, c.value, c.value + 1, c.value | ~c.mask & 2**64 - 1,
                          c.value ^ 1 << 32, c.value ^ 1):
                    args = [0] * 6
                    args[c.index] = v & 2**64 - 1
                    out.append(tuple(args))
    return out


@settings(max_examples=150, deadline=None)
@given(_filters())
def test_compiled_program_matches_the_reference_semantics(flt: Filter) -> None:
    program = compile_filter(flt)
    validate(program)
    numbers = {0, 529} | {n + d for n in flt.policies[0].rules for d in (-1, 0, 1)}
    if flt.policies[0].above is not None:
        numbers |= {flt.policies[0].above[0] + d for d in (-1, 0, 1)}
    for nr in sorted(n for n in numbers if n >= 0):
        for args in _boundary_args(flt, nr):
            assert run(program, SeccompData(nr, X86_64, args=args)) == \
                flt.decide(X86_64, nr, args).value, (nr, args)
    assert run(program, SeccompData(0, AUDIT_ARCH["aarch64"])) == flt.bad_arch.value


def _minus_one(programs: list[tuple[Insn, ...]]) -> list[int]:
    """syscall(-1) in this (child) process under each program in turn."""
    out = []
    for program in programs:
        install(program)
        out.append(syscall(-1)[1])
    return out


def test_syscall_minus_one_gets_the_native_default_as_libseccomp_gives_it() -> None:
    """-1 is the kernel's "skip" number, not an x32 call: libseccomp (and so runc)
    gives it the native ABI's default action, never the bad-architecture action."""
    seccomp = pytest.importorskip("pyseccomp")
    ours = Filter.simple(Action.errno(5), {"read": Action.allow()}, bad_arch=Action.kill_thread())
    theirs = seccomp.SyscallFilter(seccomp.ERRNO(5))
    theirs.add_rule(seccomp.ALLOW, "read")
    with tempfile.TemporaryFile() as f:
        theirs.export_bpf(f)
        f.seek(0)
        exported = unpack(f.read())
    program = compile_filter(ours)
    for prog in (program, exported):
        assert run(prog, SeccompData(0xFFFFFFFF, X86_64)) == RET.ERRNO | 5
        assert run(prog, SeccompData(0x40000000, X86_64)) == RET.KILL_THREAD  # x32: bad arch
    assert ours.decide(X86_64, 0xFFFFFFFF) == Action.errno(5)
    # In the kernel: ALLOW by default, so -1 reaches the kernel's own ENOSYS (before,
    # the bad-architecture KILL_THREAD took the child down).
    allowing = Filter.simple(Action.allow(), {"kexec_load": Action.errno(1)},
                             bad_arch=Action.kill_thread())
    assert in_child(_minus_one, [compile_filter(allowing)]).get() == [errno.ENOSYS]


def test_x32_numbers_are_guarded() -> None:
    only64 = Filter.simple(Action.allow(), {"read": Action.errno(1)}, bad_arch=Action.errno(99))
    both = Filter.simple(Action.allow(), {"read": Action.errno(1)}, arches=["x86_64", "x32"])
    p64, pboth = compile_filter(only64), compile_filter(both)
    x32_read = lookup("read", "x32").number
    assert run(p64, SeccompData(x32_read, X86_64)) == RET.ERRNO | 99  # bad arch
    assert run(p64, SeccompData(0, X86_64)) == RET.ERRNO | 1
    assert run(pboth, SeccompData(x32_read, X86_64)) == RET.ERRNO | 1
    assert run(pboth, SeccompData(x32_read + 1, X86_64)) == RET.ALLOW
    assert run(pboth, SeccompData(1, X86_64)) == RET.ALLOW


def test_400_rules_dispatch_in_logarithmic_depth() -> None:
    calls = [sc.name for sc in syscalls("x86_64")][:400]
    flt = Filter.simple(Action.errno(1), {n: Action.allow() for n in calls[::2]} |
                        {n: Action.errno(13) for n in calls[1::2]})
    program = compile_filter(flt)
    validate(program)
    # Alternating outcomes: ~400 intervals; depth log2(400) ~ 9, plus arch and x32.
    assert dispatch_depth(program) <= 12
    assert len(program) < 1000


def test_far_targets_use_trampolines() -> None:
    # Enough argument tests between a jump and its target to exceed 255.
    # Distinct rules per syscall, so no block is shared.
    rules = {sc.number: tuple(Rule(Action.errno(1 + k * 4 + i), (ArgCmp(i % 6, Op.GT, i * 2**32),))
                              for i in range(4))
             for k, sc in enumerate(syscalls("x86_64")[:60])}
    flt = Filter((ArchPolicy(arch("x86_64"), Action.allow(), rules),))
    program = compile_filter(flt)
    validate(program)
    assert len(program) > 600
    rng = random.Random(7)
    for _ in range(3000):
        nr = rng.randrange(0, 400)
        args = tuple(rng.choice([0, 2**32, 3 * 2**32 + 1, 2**64 - 1]) for _ in range(6))
        assert run(program, SeccompData(nr, X86_64, args=args)) == \
            flt.decide(X86_64, nr, args).value


def test_too_long_is_a_compile_error() -> None:
    rules = {sc.number: tuple(Rule(Action.errno(1 + i), (ArgCmp(0, Op.EQ, k),))
                              for i in range(30))
             for k, sc in enumerate(syscalls("x86_64")[:200])}
    with pytest.raises(CompileError, match="4096"):
        compile_filter(Filter((ArchPolicy(arch("x86_64"), Action.allow(), rules),)))


@pytest.mark.parametrize(("program", "message"), [
    ([], "length"),
    ([Insn(0x20, 0, 0, 0)], "not a ret"),
    ([Insn(0x20, 0, 0, 2), Insn(0x06, 0, 0, 0)], "unaligned"),
    ([Insn(0x20, 0, 0, 64), Insn(0x06, 0, 0, 0)], "outside seccomp_data"),
    ([Insn(0x15, 5, 0, 0), Insn(0x06, 0, 0, 0)], "past the end"),
    ([Insn(0x05, 0, 0, 1), Insn(0x06, 0, 0, 0)], "past the end"),
    ([Insn(0x34, 0, 0, 0), Insn(0x06, 0, 0, 0)], "division by constant zero"),
    ([Insn(0x60, 0, 0, 3), Insn(0x06, 0, 0, 0)], "read before written"),
    ([Insn(0x30, 0, 0, 0), Insn(0x06, 0, 0, 0)], "not allowed"),  # ld byte
    ([Insn(0x60, 0, 0, 16), Insn(0x06, 0, 0, 0)], "out of range"),
])
def test_validation_rejects_what_the_kernel_rejects(program: list[Insn], message: str) -> None:
    with pytest.raises(InvalidProgram, match=message):
        validate(program)


def test_emulator_alu_memory_and_jumps() -> None:
    program = [
        Insn(0x20, 0, 0, 0),        # ld [nr]
        Insn(0x02, 0, 0, 3),        # st M[3]
        Insn(0x04, 0, 0, 10),       # add #10
        Insn(0x07, 0, 0, 0),        # tax
        Insn(0x61, 0, 0, 3),        # ldx M[3]  (X = nr)
        Insn(0x87, 0, 0, 0),        # txa       (A = nr)
        Insn(0x24, 0, 0, 3),        # mul #3
        Insn(0x45, 1, 0, 1),        # jset #1 -> odd
        Insn(0x06, 0, 0, RET.ALLOW),
        Insn(0x16, 0, 0, 0),        # ret a
    ]
    validate(program)
    assert run(program, SeccompData(4, X86_64)) == RET.ALLOW
    assert run(program, SeccompData(5, X86_64)) == 15
    # The kernel rejects this (a rejected program is never run).
    with pytest.raises(InvalidProgram):
        run([Insn(0x61, 0, 0, 0), Insn(0x06, 0, 0, 0)], SeccompData(0, X86_64))


def test_pack_round_trip() -> None:
    program = compile_filter(Filter.simple(Action.errno(1), {"read": Action.allow()}))
    assert unpack(pack(program)) == program
    with pytest.raises(ValueError, match="multiple of 8"):
        unpack(b"\0" * 7)


@pytest.mark.parametrize(("text", "value"), [
    ("allow", RET.ALLOW), ("kill", RET.KILL_PROCESS), ("kill-thread", RET.KILL_THREAD),
    ("errno", RET.ERRNO | 1), ("errno:ENOSYS", RET.ERRNO | 38), ("errno:55", RET.ERRNO | 55),
    ("trap", RET.TRAP), ("trace:7", RET.TRACE | 7), ("log", RET.LOG),
])
def test_parse_action(text: str, value: int) -> None:
    assert Action.parse(text).value == value


@pytest.mark.parametrize("bad", ["explode", "errno:EWHAT", "errno:0", "errno:70000", "allow:1"])
def test_parse_action_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match=r"unknown|out of range"):
        Action.parse(bad)


def test_ir_validation() -> None:
    with pytest.raises(ValueError, match="index"):
        ArgCmp(6, Op.EQ, 0)
    with pytest.raises(ValueError, match="out of range"):
        ArgCmp(0, Op.EQ, 2**64)
    with pytest.raises(ValueError, match="twice"):
        Filter((ArchPolicy(arch("x86"), Action.allow()), ArchPolicy(arch("x86"), Action.allow())))
    with pytest.raises(ValueError, match="out of range"):
        Action.errno(70000)
    assert parse_errno("enosys") == 38


# --- in the kernel ------------------------------------------------------------

# What the harness child itself needs after the filters are in place.
_ESSENTIAL = ["read", "write", "close", "clone", "clone3", "fork", "vfork", "wait4", "exit",
              "exit_group", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "pipe2", "mmap",
              "munmap", "mremap", "madvise", "brk", "futex", "getpid", "gettid", "newfstatat",
              "fstat", "fcntl", "lseek", "ioctl", "set_robust_list", "rseq", "getrandom",
              "sigaltstack", "kill", "tgkill", "alarm", "prctl", "seccomp", "openat", "getppid",
              "mprotect", "sched_yield", "restart_syscall", "poll", "dup", "dup3"]


_UNFILTERABLE = {lookup("uretprobe", "x86_64").number, lookup("uprobe", "x86_64").number}


def _observe(programs: list[tuple[Insn, ...]], numbers: list[int]) -> dict[int, str]:
    """In this (child) process: load *programs*, stack the TRACE oracle, and call each
    number with the magic argument.  Nothing is executed: TRACE with no tracer skips
    the call, and a more restrictive action of the tested filter wins."""
    for program in programs:
        install(program)
    # Keyed on args 0-2 being zero too: a syscall made right after a probe (the
    # signal handler's write(2)) still has the magic in its unused registers.
    key = (ArgCmp(0, Op.EQ, 0), ArgCmp(1, Op.EQ, 0), ArgCmp(2, Op.EQ, 0),
           ArgCmp(5, Op.EQ, MAGIC))
    oracle = Filter.simple(Action.allow(), {nr: [Rule(Action.trace(0), key)] for nr in numbers})
    install(compile_filter(oracle))
    outcomes = run_in_child([(nr, nr, (0, 0, 0, 0, 0, MAGIC), False) for nr in numbers])
    out = {}
    for nr, (kind, a, b) in outcomes.items():
        out[nr] = kind if kind == "trapped" else f"died {a}" if kind == "died" else f"errno {b}"
    return out


def _expected(value: int) -> str:
    action = value & RET.ACTION_FULL
    if action in (RET.ALLOW, RET.LOG, RET.TRACE):
        return "errno 38"  # our TRACE oracle answered
    if action == RET.ERRNO:
        return f"errno {min(value & RET.DATA, 4095)}"
    if action == RET.TRAP:
        return "trapped"
    return "died 31"


def _rule_set(seed: int) -> Filter:
    rng = random.Random(seed)
    essential = {lookup(n).number for n in _ESSENTIAL}
    # libseccomp refuses ERRNO(4095) (test_errno_is_capped covers large values).
    actions = [Action.errno(1), Action.errno(13), Action.errno(95), Action.errno(4000),
               Action.allow(), Action.log(), Action.trap(), Action.trace(3)]
    rules: dict[int, Action] = {}
    for nr in rng.sample(range(1024), 300):
        if nr not in essential:
            rules[nr] = rng.choice(actions)
    for nr in rng.sample(sorted(set(range(1024)) - essential - set(rules)), 3):
        rules[nr] = Action.kill_process()
    for nr in essential:
        rules[nr] = Action.allow()
    default = Action.errno(rng.choice([1, 22, 38 + 1]))
    return Filter.simple(default, rules)


def _libseccomp_program(flt: Filter) -> tuple[Insn, ...]:
    seccomp = pytest.importorskip("pyseccomp")
    policy = flt.policies[0]
    ctx = seccomp.SyscallFilter(policy.default.value)
    for nr, rules in policy.rules.items():
        (rule,) = rules
        if rule.action != policy.default:
            ctx.add_rule(rule.action.value, nr)
    with tempfile.TemporaryFile() as f:
        ctx.export_bpf(f)
        f.seek(0)
        return unpack(f.read())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_verdicts_as_libseccomp_emulated_and_in_the_kernel(seed: int) -> None:
    flt = _rule_set(seed)
    ours = compile_filter(flt)
    theirs = _libseccomp_program(flt)
    validate(theirs)
    numbers = list(range(1024))
    for nr in numbers:
        expected = flt.decide(X86_64, nr).value
        assert run(ours, SeccompData(nr, X86_64)) == expected, nr
        assert run(theirs, SeccompData(nr, X86_64)) == expected, nr
    # uretprobe and uprobe bypass seccomp on x86_64 (kernel/seccomp.c
    # seccomp_uprobe_exception): no filter sees them, so they cannot be observed.
    observable = [nr for nr in numbers if nr not in _UNFILTERABLE]
    want = {nr: _expected(flt.decide(X86_64, nr).value) for nr in observable}
    for program in (ours, theirs):
        assert in_child(_observe, [program], observable).get() == want


def test_argument_comparisons_in_the_kernel() -> None:
    # getppid ignores its arguments, so any values can be passed; both halves matter.
    getppid = lookup("getppid").number
    cmps = [ArgCmp(0, Op.EQ, 0x1_0000_0005), ArgCmp(1, Op.NE, 7), ArgCmp(2, Op.LT, 2**40),
            ArgCmp(3, Op.LE, 0xFFFF_FFFF), ArgCmp(4, Op.GT, 2**32 + 9),
            ArgCmp(5, Op.MASKED_EQ, 0x2_0000_0000, 0xF_0000_0001)]
    base = [0x2_0000_0005, 7, 2**41, 2**32, 2**32 + 9, 0]  # every comparison false
    flt = Filter.simple(Action.allow(), {"getppid": [Rule(Action.errno(10 + i), (c,))
                                                     for i, c in enumerate(cmps)]})
    cases = []
    for i, c in enumerate(cmps):
        for v in {c.value - 1, c.value, c.value + 1, c.value ^ 2**32, c.value ^ 1, 0, 2**64 - 1}:
            values = list(base)
            values[i] = v & 2**64 - 1
            cases.append(tuple(values))

    def body() -> list[tuple[int, int]]:
        from seccompat.raw import syscall

        install(compile_filter(flt))
        return [syscall(getppid, *a) for a in cases]

    results = in_child(body).get()
    for args, (_, err) in zip(cases, results, strict=True):
        decided = flt.decide(X86_64, getppid, args)
        assert err == (decided.data if decided.kind == RET.ERRNO else 0), args


def test_errno_is_capped_at_4095_by_the_kernel() -> None:
    flt = Filter.simple(Action.allow(), {"getppid": Action.errno(12345)})
    observed = in_child(_observe, [compile_filter(flt)], [lookup("getppid").number]).get()
    assert observed == {lookup("getppid").number: "errno 4095"}


def _stack_under(refusal: int) -> tuple[int, int]:
    """Under a filter that refuses seccomp(2) with *refusal*, install a filter making
    getppid fail with ENOMEM: (its errno, the errno of seccomp(2) itself)."""
    import os

    from seccompat.raw import syscall

    outer = Filter.simple(Action.allow(), {"seccomp": Action.errno(refusal)})
    install(compile_filter(outer))
    install(compile_filter(Filter.simple(Action.allow(), {"getppid": Action.errno(12)})))
    _, seccomp_err = syscall(lookup("seccomp").number, 0x7FFFFFFF, 0, 0)
    try:
        os.getppid()
    except OSError as exc:  # pragma: no cover - getppid never fails without a filter
        return exc.errno or 0, seccomp_err
    return syscall(lookup("getppid").number)[1], seccomp_err


@pytest.mark.parametrize("refusal", [errno.ENOSYS, errno.EPERM])
def test_install_falls_back_to_prctl_when_a_filter_refuses_seccomp(refusal: int) -> None:
    """A filter's ENOSYS, or its EPERM (which the classifier attributes to it), for
    seccomp(2) sends install() to prctl(PR_SET_SECCOMP); the new filter holds."""
    assert in_child(_stack_under, refusal).get() == (errno.ENOMEM, refusal)


def test_install_reports_a_genuine_refusal() -> None:
    """EACCES (no no_new_privs, no CAP_SYS_ADMIN) is the kernel's answer: raised."""
    import os

    def unprivileged() -> int:
        os.setresuid(1000, 1000, 1000)
        try:
            install(compile_filter(Filter.simple(Action.allow(), {})), no_new_privs=False)
        except OSError as exc:
            return exc.errno or 0
        return 0

    if os.geteuid() != 0:
        pytest.skip("dropping to uid 1000 needs root")
    assert in_child(unprivileged).get() == errno.EACCES
