"""How libseccomp (2.5 and later: what runc and crun link) decides one syscall's
argument rules: the decision tree its ``seccomp_rule_add`` builds, read back as
the ordered rules of the filter IR.

libseccomp does not keep rules as a list.  Each rule becomes a chain of 32-bit
word tests (a 64-bit argument is tested on its upper word, then its lower; on a
32-bit ABI only the lower word), and the chain is merged into the call's tree:

* the tests at one level are kept in a fixed order, whatever order the rules came
  in: higher argument first, the upper word before the lower, EQ/NE/MASKED_EQ
  before LT/LE before GT/GE, and within GT/GE the larger value first (LT/LE: the
  smaller) — so ``arg2 > 256`` is tested before ``arg2 > 128``;
* equal tests are shared, and a rule whose test sequence ends where an earlier
  one's goes on (or the reverse) keeps the shorter; two rules that end on the
  same test with different actions are refused (``EEXIST``: the runtime fails);
* the filter walks a level in order and takes the first test that leads to an
  action; a branch that leads nowhere goes on with the next test of the level
  above.

So the first match of the read-back rules is the verdict, and the rules are
exact: each is a conjunction of full-width comparisons (a test of an upper word
alone becomes a range of the 64-bit value).  The unconditional cases (the first
unconditional rule wins; an unconditional rule replaces every conditional one
before it) sit in :class:`CallTree` too.

Sources: libseccomp's ``src/db.c`` (the tree) and ``src/gen_bpf.c`` (its walk),
checked against the library itself in ``tests/profiles/test_libseccomp.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..bpf.ir import Action, ArgCmp, Op, Rule
from ..errors import SeccompatError

__all__ = ["CallTree", "Conflict"]

_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1


class Conflict(SeccompatError, ValueError):
    """libseccomp refuses the rule (``EEXIST``): it ends where an earlier rule of
    the call ends, with another action."""


@dataclass(frozen=True)
class _Leaf:
    action: Action
    where: str


@dataclass(eq=False)
class _Node:
    """One word test.  *t* and *f* are where its outcomes lead: an action, a test
    (the level it sits on, walked from that level's start), or nowhere.  As in
    libseccomp, a parent points at one test of a level, not at the level."""

    arg: int
    high: bool
    op: Op  # EQ, MASKED_EQ, GT or GE: libseccomp rewrites NE, LT and LE
    datum: int
    mask: int
    orig: Op  # the rule's own operator: it orders the level
    full: int  # the rule's 64-bit value
    t: _Leaf | _Node | None = None
    f: _Leaf | _Node | None = None
    level: list[_Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.level = [self]

    @property
    def key(self) -> tuple[int, bool, Op, int, int]:
        return (self.arg, self.high, self.op, self.datum, self.mask)

    def leaf(self) -> bool:
        return not isinstance(self.t, _Node) and not isinstance(self.f, _Node)


_OP_RANK = {Op.EQ: 3, Op.NE: 3, Op.MASKED_EQ: 3, Op.LT: 2, Op.LE: 2, Op.GT: 1, Op.GE: 1}


def _after(a: _Node, b: _Node) -> bool:
    """*a* is tested after *b* on a level (libseccomp's "a < b")."""
    ka, kb = (a.arg << 1) + a.high, (b.arg << 1) + b.high
    if ka != kb:
        return ka < kb
    if _OP_RANK[a.orig] != _OP_RANK[b.orig]:
        return _OP_RANK[a.orig] < _OP_RANK[b.orig]
    if a.orig in (Op.LT, Op.LE):
        return a.datum > b.datum
    return a.datum < b.datum


def _chain(conditions: tuple[ArgCmp, ...], leaf: _Leaf, long_bits: int
           ) -> _Node | None:
    """One rule as its chain of word tests (a level of one test, linked on); None
    when no test is left (an unconditional rule)."""
    head: _Node | None = None
    ends: list[tuple[_Node, bool]] = []  # the tests the rest hangs from, and on which side

    def link(node: _Node) -> None:
        nonlocal head
        if head is None:
            head = node
        _hang(ends, node)

    for c in sorted(conditions, key=lambda c: c.index):
        value = c.value if c.op is not Op.MASKED_EQ else c.value & c.mask
        mask = c.mask if c.op is Op.MASKED_EQ else _M64
        if long_bits == 32:
            if c.op is Op.MASKED_EQ and mask & _M32 == 0:
                continue  # a test of no bits: libseccomp emits nothing
            op = {Op.NE: Op.EQ, Op.LT: Op.GE, Op.LE: Op.GT}.get(c.op, c.op)
            node = _Node(c.index, False, op, value & mask & _M32, mask & _M32, c.op, value)
            link(node)
            ends = [(node, c.op not in (Op.NE, Op.LT, Op.LE))]
            continue
        if c.op is Op.MASKED_EQ and mask == 0:
            continue
        hi, lo, mhi, mlo = value >> 32, value & _M32, mask >> 32, mask & _M32
        if c.op in (Op.EQ, Op.NE, Op.MASKED_EQ):
            op = Op.MASKED_EQ if c.op is Op.MASKED_EQ else Op.EQ
            top = _Node(c.index, True, op, hi & mhi, mhi, c.op, value)
            low = _Node(c.index, False, op, lo & mlo, mlo, c.op, value)
            top.t = low
            link(top)
            ends = [(low, True)] if c.op is not Op.NE else [(top, False), (low, False)]
            continue
        above = _Node(c.index, True, Op.GT, hi, _M32, c.op, value)
        same = _Node(c.index, True, Op.EQ, hi, _M32, c.op, value)
        low = _Node(c.index, False, Op.GT if c.op in (Op.GT, Op.LE) else Op.GE, lo, _M32,
                    c.op, value)
        above.f = same
        same.t = low
        link(above)
        if c.op in (Op.GT, Op.GE):
            ends = [(above, True), (low, True)]
        else:
            ends = [(same, False), (low, False)]
    if head is None:
        return None
    _hang(ends, leaf)
    return head


def _hang(ends: list[tuple[_Node, bool]], to: _Leaf | _Node) -> None:
    """Lead each test of *ends* to *to*, on its true (True) or false side."""
    for node, side in ends:
        setattr(node, "t" if side else "f", to)


def _actions(to: _Leaf | _Node | None) -> Iterator[Action]:
    if isinstance(to, _Leaf):
        yield to.action
    elif to is not None:
        for node in to.level:
            yield from _actions(node.t)
            yield from _actions(node.f)


def _merge(holder: object, side: str, new: _Node) -> None:
    """Add *new* to the level *holder.side* points at, from that test on (libseccomp
    does not look back along the level); inserted before the first test it outranks."""
    start = getattr(holder, side)
    level = start.level
    for i in range(level.index(start), len(level)):
        x = level[i]
        if x.key == new.key:
            _merge_node(x, new)
            return
        if _after(x, new):
            level.insert(i, new)
            new.level = level
            if x is start:
                setattr(holder, side, new)
            return
    level.append(new)
    new.level = level


def _merge_node(x: _Node, n: _Node) -> None:
    for side in ("t", "f"):
        mine, theirs = getattr(x, side), getattr(n, side)
        if not isinstance(theirs, _Leaf):
            continue
        if not isinstance(mine, _Leaf):
            if any(a != theirs.action for a in _actions(mine)):
                raise Conflict
            setattr(x, side, theirs)
        elif mine.action != theirs.action:
            # an upper-word GT test keeps the action of the larger value
            if side == "t" and n.high and n.full > x.full:
                x.t = theirs
            if x.leaf() or n.leaf():
                raise Conflict
    for side in ("t", "f"):
        mine, theirs = getattr(x, side), getattr(n, side)
        if not isinstance(theirs, _Node):
            continue
        if isinstance(mine, _Node):
            _merge(x, side, theirs)
        elif mine is None:
            setattr(x, side, theirs)
        else:
            return  # the existing rule is shorter: it decides


@dataclass
class CallTree:
    """One call's rules as libseccomp holds them, added in the runtime's order."""

    long_bits: int = 64
    unconditional: _Leaf | None = None
    head: _Node | None = None
    added: list[str] = field(default_factory=list)

    def add(self, action: Action, conditions: tuple[ArgCmp, ...], where: str) -> None:
        """``seccomp_rule_add``; raises :class:`Conflict` where libseccomp refuses."""
        self.added.append(where)
        leaf = _Leaf(action, where)
        if self.unconditional is not None:
            return  # the first unconditional rule wins
        chain = _chain(conditions, leaf, self.long_bits)
        if chain is None:
            self.unconditional, self.head = leaf, None
        elif self.head is None:
            self.head = chain
        else:
            _merge(self, "head", chain)

    def rules(self) -> list[tuple[str, Rule]]:
        """The tree read back, in the order the filter tries it: the first rule
        whose comparisons all hold gives the verdict."""
        if self.unconditional is not None:
            return [(self.unconditional.where, Rule(self.unconditional.action))]
        out: list[tuple[str, Rule]] = []
        for tests, leaf in _paths(self.head):
            for conditions in _full_width(tests, self.long_bits):
                rule = Rule(leaf.action, conditions)
                if out and out[-1][1].action == leaf.action and \
                        (joined := _join(out[-1][1].conditions, conditions)) is not None:
                    out[-1] = (out[-1][0], Rule(leaf.action, joined))
                else:
                    out.append((leaf.where, rule))
        return out

    def shadowed(self, read_back: list[tuple[str, Rule]]) -> list[str]:
        """The rules added that decide nothing (libseccomp kept another), given
        :meth:`rules`' answer."""
        live = {where for where, _ in read_back}
        return [w for w in dict.fromkeys(self.added) if w not in live]


def _paths(to: _Node | None) -> Iterator[tuple[list[tuple[_Node, bool]], _Leaf]]:
    for node in to.level if to is not None else ():
        for side, outcome in ((node.t, True), (node.f, False)):
            if isinstance(side, _Leaf):
                yield [(node, outcome)], side
            elif isinstance(side, _Node):
                for rest, leaf in _paths(side):
                    yield [(node, outcome), *rest], leaf


# -- word tests back to comparisons of the whole argument -------------------------------

def _word_set(op: Op, datum: int, outcome: bool) -> list[tuple[int, int]]:
    """The 32-bit words where an EQ, GT or GE test has *outcome*, as intervals."""
    if op is Op.EQ:
        inside = [(datum, datum)]
        return inside if outcome else _minus([(0, _M32)], datum, datum)
    lo = datum + 1 if op is Op.GT else datum
    if outcome:
        return [(lo, _M32)] if lo <= _M32 else []
    return [(0, lo - 1)] if lo > 0 else []


def _minus(spans: list[tuple[int, int]], a: int, b: int) -> list[tuple[int, int]]:
    out = []
    for lo, hi in spans:
        if lo < a:
            out.append((lo, min(hi, a - 1)))
        if hi > b:
            out.append((max(lo, b + 1), hi))
    return out


def _meet(x: list[tuple[int, int]], y: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(max(a, c), min(b, d)) for a, b in x for c, d in y if max(a, c) <= min(b, d)]


def _span_cmps(index: int, lo: int, hi: int, top: int, width: int) -> tuple[ArgCmp, ...]:
    if lo == hi:
        return (ArgCmp(index, Op.EQ, lo, top, width),)
    out = []
    if lo > 0:
        out.append(ArgCmp(index, Op.GE, lo, top, width))
    if hi < top:
        out.append(ArgCmp(index, Op.LE, hi, top, width))
    return tuple(out)


def _full_width(tests: list[tuple[_Node, bool]], long_bits: int
                ) -> Iterator[tuple[ArgCmp, ...]]:
    """A path's word tests as conjunctions of comparisons (several when an outcome
    covers two ranges of the argument, such as an upper word that differs)."""
    width = 32 if long_bits == 32 else 64
    per_arg: dict[int, list[tuple[_Node, bool]]] = {}
    for node, outcome in tests:
        per_arg.setdefault(node.arg, []).append((node, outcome))
    options: list[list[tuple[ArgCmp, ...]]] = []
    for index in sorted(per_arg):
        masked: list[ArgCmp] = []
        words = {True: [(0, _M32)], False: [(0, _M32)]}
        for node, outcome in per_arg[index]:
            if node.op is Op.MASKED_EQ:
                shift = 32 if node.high else 0
                masked.append(ArgCmp(index, Op.MASKED_EQ, node.datum << shift,
                                     node.mask << shift) if width == 64 else
                              ArgCmp(index, Op.MASKED_EQ, node.datum, node.mask, width=32))
                continue
            words[node.high] = _meet(words[node.high], _word_set(node.op, node.datum, outcome))
        mask = masked[0] if masked else None
        for extra in masked[1:]:  # an upper and a lower word: one comparison
            assert mask is not None
            mask = ArgCmp(index, Op.MASKED_EQ, mask.value | extra.value,
                          mask.mask | extra.mask, width=mask.width)
        head = (mask,) if mask is not None else ()
        if width == 32:
            spans = words[False]
        elif words[False] == [(0, _M32)]:
            spans = [(a << 32, b << 32 | _M32) for a, b in words[True]]
        else:
            points = words[True]
            assert all(a == b for a, b in points), "a lower-word test under a range"
            spans = [(h << 32 | a, h << 32 | b) for h, _ in points for a, b in words[False]]
        top = _M32 if width == 32 else _M64
        options.append([head + _span_cmps(index, a, b, top, width) for a, b in spans])
    for parts in itertools.product(*options):
        yield tuple(c for part in parts for c in part)


def _bounds(cmps: tuple[ArgCmp, ...], index: int) -> tuple[int, int] | None:
    """The range a run of GE/LE/EQ comparisons of *index* allows (None: not a range)."""
    mine = [c for c in cmps if c.index == index]
    top = (1 << mine[0].width) - 1 if mine else _M64
    lo, hi = 0, top
    for c in mine:
        if c.op is Op.EQ:
            lo, hi = max(lo, c.value), min(hi, c.value)
        elif c.op is Op.GE:
            lo = max(lo, c.value)
        elif c.op is Op.LE:
            hi = min(hi, c.value)
        else:
            return None
    return lo, hi


def _join(a: tuple[ArgCmp, ...], b: tuple[ArgCmp, ...]) -> tuple[ArgCmp, ...] | None:
    """One conjunction for two consecutive rules of one action that differ only in
    adjacent ranges of one argument (the upper-word and lower-word halves of a GT)."""
    ia, ib = {c.index for c in a}, {c.index for c in b}
    differ = [i for i in ia | ib
              if tuple(c for c in a if c.index == i) != tuple(c for c in b if c.index == i)]
    if len(differ) != 1:
        return None
    index = differ[0]
    ra, rb = _bounds(a, index), _bounds(b, index)
    if ra is None or rb is None:
        return None
    (alo, ahi), (blo, bhi) = sorted([ra, rb])
    if blo > ahi + 1:
        return None
    width = next(c.width for c in (*a, *b) if c.index == index)
    top = (1 << width) - 1
    joined = _span_cmps(index, alo, max(ahi, bhi), top, width)
    rest = tuple(c for c in a if c.index != index)
    return tuple(sorted(rest + joined, key=lambda c: c.index))
