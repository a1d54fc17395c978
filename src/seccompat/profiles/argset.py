"""The values one syscall argument can take under several comparisons (AND).

Comparisons are the filter IR's (:class:`~seccompat.bpf.ir.ArgCmp`, unsigned 64-bit).
Bounds give an interval, masks fixed bits, NE single holes: :class:`ArgSet` keeps
the three, decides emptiness exactly (lint's overlap check), and splits itself
into intervals (fix's complement rules).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from ..bpf.ir import ArgCmp, Op

__all__ = ["TOP", "ArgSet", "satisfiable"]

TOP = 2**64 - 1


@dataclass(frozen=True)
class ArgSet:
    """``{x : lo <= x <= hi, x & mask == value, x not in excluded}``."""

    lo: int = 0
    hi: int = TOP
    mask: int = 0
    value: int = 0
    excluded: frozenset[int] = frozenset()

    @staticmethod
    def of(cmps: Iterable[ArgCmp]) -> ArgSet | None:
        """The set meeting every comparison, or None when two masks disagree."""
        lo, hi, mask, value, excluded = 0, TOP, 0, 0, set()
        for c in cmps:
            if c.op is Op.MASKED_EQ:
                if mask & c.mask & (value ^ c.value):
                    return None
                mask, value = mask | c.mask, value | c.value
            elif c.op is Op.NE:
                excluded.add(c.value)
            else:
                low, high = {Op.EQ: (c.value, c.value), Op.LT: (0, c.value - 1),
                             Op.LE: (0, c.value), Op.GT: (c.value + 1, TOP),
                             Op.GE: (c.value, TOP)}[c.op]
                lo, hi = max(lo, low), min(hi, high)
        return ArgSet(lo, hi, mask, value, frozenset(excluded))

    def smallest(self, start: int | None = None) -> int | None:
        """The smallest member (at least *start*), or None."""
        x = _next_fixed(max(self.lo, start or 0), self.mask, self.value)
        while x is not None and x <= self.hi and x in self.excluded:
            x = _next_fixed(x + 1, self.mask, self.value) if x < TOP else None
        return x if x is not None and x <= self.hi else None

    def intervals(self) -> list[tuple[int, int]]:
        """[lo, hi] without the excluded values, as closed intervals (masks aside)."""
        pieces, start = [], self.lo
        for point in sorted(x for x in self.excluded if self.lo <= x <= self.hi):
            if start <= point - 1:
                pieces.append((start, point - 1))
            start = point + 1
        if start <= self.hi:
            pieces.append((start, self.hi))
        return pieces


def _next_fixed(lo: int, mask: int, value: int) -> int | None:
    """The smallest x >= lo with ``x & mask == value``, or None."""
    if lo & mask == value:
        return lo
    for i in range(64):  # the lowest bit where x can rise above lo gives the smallest x
        bit = 1 << i
        if lo & bit or (mask & bit and not value & bit):
            continue
        above = ~((bit << 1) - 1) & TOP
        if lo & above & mask != value & above:
            continue
        return (lo & above) | bit | (value & (bit - 1))
    return None


def satisfiable(*groups: tuple[ArgCmp, ...]) -> bool:
    """Whether one call can meet every comparison of every group (AND), exactly:
    arguments are independent, so each index is decided on its own."""
    by_index: dict[int, list[ArgCmp]] = defaultdict(list)
    for group in groups:
        for c in group:
            by_index[c.index].append(c)
    for cmps in by_index.values():
        found = ArgSet.of(cmps)
        if found is None or found.smallest() is None:
            return False
    return True
