"""Argument vectors at the edges of a profile's comparisons: where a model of how a
runtime reads the rules can disagree with the runtime (shared by the libseccomp and
real-engine differentials)."""

from __future__ import annotations

from seccompat.profiles.model import Profile

M64 = (1 << 64) - 1


def boundaries(profile: Profile, count: int = 5) -> dict[str, set[tuple[int, ...]]]:
    """Per call name, vectors of *count* arguments (the rest zero): each compared
    argument at its value, one either side, the masked datum and a bit off it, with
    and without an upper word, and every comparison of a rule satisfied at once."""
    out: dict[str, set[tuple[int, ...]]] = {}
    for rule in profile.syscalls:
        specs = [a for a in rule.args if a.index < count]
        if not specs:
            continue
        values: dict[int, set[int]] = {}
        for a in specs:
            v, two = a.value, a.value_two
            got = {v, v - 1, v + 1, two, two & v, v | two, 0}
            if a.op == "SCMP_CMP_MASKED_EQ":
                low = v & -v if v else 1
                got |= {(two & v) ^ low, two ^ low}
            values.setdefault(a.index, set()).update(x & M64 for x in got)
        vectors: set[tuple[int, ...]] = set()
        for index, vals in values.items():
            for x in vals:
                for upper in (0, 1 << 32):
                    vec = [0] * count
                    vec[index] = (x | upper) & M64
                    vectors.add(tuple(vec))
        together = [0] * count
        for a in specs:
            together[a.index] = a.value_two & a.value if a.op == "SCMP_CMP_MASKED_EQ" \
                else a.value
        vectors.add(tuple(together))
        for name in rule.names:
            out.setdefault(name, set()).update(vectors)
    return out
