"""Which suppression groups (indicator periods) must share one hidden pattern: see
`linked_groups` and pipelines/suppress.py."""

from __future__ import annotations

from collections.abc import Callable


def linked_groups(spans: list[tuple[int, int]], when: list[tuple], keys: list[tuple],
                  den: list[int], num: list[int]) -> list[list[tuple[int, int]]]:
    """Sets of groups (indicator periods) whose counts an attacker can equate: a group G and the
    groups of another indicator whose periods lie within G's (`when`: initiative, indicator,
    period start, end; the period label stands in for both when a table has no dates) when the
    numerator, denominator or complement of G equals, in every cell, the sum of one of theirs
    (a cascade's numerator that is the next indicator's denominator; a shared denominator; a
    yearly indicator over events that a quarterly one counts by quarter). Absent cells are 0."""
    cache: dict[tuple[int, int], list[frozenset]] = {}

    def vectors(members: list[tuple[int, int]]) -> list[frozenset]:
        if len(members) == 1 and members[0] in cache:
            return cache[members[0]]
        sums: list[dict] = [{}, {}, {}]
        for lo, hi in members:
            for i in range(lo, hi):
                for k, c in enumerate((den[i], num[i], den[i] - num[i])):
                    sums[k][keys[i]] = sums[k].get(keys[i], 0) + c
        found = [frozenset((key, c) for key, c in x.items() if c) for x in sums]
        if len(members) == 1:
            cache[members[0]] = found
        return found

    # Equal vectors have equal sums: only groups whose sums match are compared cell by cell.
    sums = {(lo, hi): (sum(den[lo:hi]), sum(num[lo:hi])) for lo, hi in spans}

    def totals(members: list[tuple[int, int]]) -> set[int]:
        d, n = (sum(sums[m][k] for m in members) for k in (0, 1))
        return {x for x in (d, n, d - n) if x}

    parent = {span: span for span in spans}

    def root(span: tuple[int, int]) -> tuple[int, int]:
        while parent[span] != span:
            span = parent[span]
        return span

    by_indicator: dict[tuple, list[tuple[int, int]]] = {}
    for span in spans:
        by_indicator.setdefault(when[span[0]][:2], []).append(span)
    for (initiative, indicator), coarse in by_indicator.items():
        others = [g for (i, j), g in by_indicator.items() if i == initiative and j != indicator]
        for g in coarse:
            _, _, start, stop = when[g[0]]
            own = [v for v in vectors([g]) if v] if totals([g]) else []
            for groups in others:
                inside = [h for h in groups if when[h[0]][2] >= start and when[h[0]][3] <= stop]
                if (inside and own and totals([g]) & totals(inside)
                        and set(own) & set(vectors(inside))):
                    for h in inside:
                        parent[root(h)] = root(g)
    components: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for span in spans:
        components.setdefault(root(span), []).append(span)
    return [c for c in components.values() if len(c) > 1]


def share_hidden(components: list[list[tuple[int, int]]], keys: list[tuple], hidden: list[bool],
                 protect: Callable[[int, int, set[int]], None]) -> None:
    """Hide in every group of a component the cells hidden in any of them (`protect(lo, hi,
    forced)` hides a group's forced cells and protects them), until nothing changes."""
    for component in components:
        changed = True
        while changed:
            keys_hidden = {keys[i] for lo, hi in component for i in range(lo, hi) if hidden[i]}
            changed = False
            for lo, hi in component:
                if any(keys[i] in keys_hidden and not hidden[i] for i in range(lo, hi)):
                    # Everything hidden so far is forced, so no complement is chosen twice.
                    protect(lo, hi, {i - lo for i in range(lo, hi)
                                     if keys[i] in keys_hidden or hidden[i]})
                    changed = True
