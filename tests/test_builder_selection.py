"""Builder selection modes and the shuffle: what each mode may return, and that the draws are fair.

Distribution checks draw thousands of times with the real CSPRNG and allow 6 standard deviations:
a biased shuffle (e.g. the classic `j = randbelow(n)` bug) or a wrong probability fails them,
chance almost never does (p < 1e-8 per check).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from intmax_core.builders.selection import SelectionPolicy, select_builders, shuffled

DRAWS = 6000
ALLOWED = [(f"0x{i:040x}", f"https://allowed-{i}.example") for i in range(1, 4)]
OTHERS = [(f"0x{i:040x}", f"https://other-{i}.example") for i in range(10, 16)]
ACTIVE = ALLOWED + OTHERS
ALLOWLIST = frozenset(address for address, _ in ALLOWED)


def policy(mode: str, **overrides: object) -> SelectionPolicy:
    values = {"mode": mode, "count": 3, "allowlist": ALLOWLIST, "min_allowlist_count": 1, "allowlist_probability": 0.5}
    return SelectionPolicy(**(values | overrides))  # type: ignore[arg-type]


def assert_close(observed: int, trials: int, probability: float) -> None:
    sigma = math.sqrt(trials * probability * (1 - probability))
    assert abs(observed - trials * probability) <= 6 * sigma, (observed, trials * probability)


def test_the_shuffle_draws_every_permutation_equally_often() -> None:
    # 60000 draws: enough to catch the classic biased swap (j drawn from the whole list), whose
    # permutation frequencies are 4/27 and 5/27 instead of 1/6.
    draws = 10 * DRAWS
    counts = Counter(tuple(shuffled("abc")) for _ in range(draws))
    assert set(counts) == set(itertools.permutations("abc"))
    for permutation in counts:
        assert_close(counts[permutation], draws, 1 / 6)


def test_random_takes_n_distinct_active_builders_uniformly() -> None:
    counts: Counter[str] = Counter()
    for _ in range(DRAWS):
        picked = select_builders(ACTIVE, policy("RANDOM"))
        assert len(picked) == 3 and len(set(picked)) == 3 and set(picked) <= set(ACTIVE)
        counts.update(address for address, _ in picked)
    for address, _ in ACTIVE:
        assert_close(counts[address], DRAWS, 3 / len(ACTIVE))


def test_allowlist_only_never_returns_others_and_nothing_without_allowlisted() -> None:
    counts: Counter[str] = Counter()
    for _ in range(DRAWS // 2):
        picked = select_builders(ACTIVE, policy("ALLOWLIST_ONLY", count=2))
        assert len(picked) == 2 and {address for address, _ in picked} <= ALLOWLIST
        counts.update(address for address, _ in picked)
    for address, _ in ALLOWED:
        assert_close(counts[address], DRAWS // 2, 2 / 3)
    assert select_builders(OTHERS, policy("ALLOWLIST_ONLY")) == []


def test_allowlist_priority_answers_one_allowlisted_builder_with_the_configured_probability() -> None:
    allowlisted = 0
    for _ in range(DRAWS):
        picked = select_builders(ACTIVE, policy("ALLOWLIST_PRIORITY", allowlist_probability=0.3))
        assert len(picked) == 1
        allowlisted += picked[0][0] in ALLOWLIST
    assert_close(allowlisted, DRAWS, 0.3)
    # Without others it falls back to an allowlisted builder; without allowlisted ones, to the others.
    assert {select_builders(ALLOWED, policy("ALLOWLIST_PRIORITY", allowlist_probability=0.0))[0][0]} <= ALLOWLIST
    assert select_builders(OTHERS, policy("ALLOWLIST_PRIORITY", allowlist_probability=1.0))[0] in OTHERS
    assert select_builders([], policy("ALLOWLIST_PRIORITY")) == []


def test_guaranteed_allowlist_always_includes_the_minimum_and_fills_fairly() -> None:
    positions: Counter[int] = Counter()
    others: Counter[str] = Counter()
    for _ in range(DRAWS):
        picked = select_builders(ACTIVE, policy("GUARANTEED_ALLOWLIST", min_allowlist_count=1))
        assert len(picked) == 3 and len(set(picked)) == 3
        assert sum(address in ALLOWLIST for address, _ in picked) >= 1
        # The result is shuffled: the guaranteed builder is not always first.
        positions.update(i for i, (address, _) in enumerate(picked) if address in ALLOWLIST)
        others.update(address for address, _ in picked if address not in ALLOWLIST)
    assert len(positions) == 3 and min(positions.values()) > DRAWS / 10
    # After the guaranteed one, 2 of the 8 remaining builders: each non-allowlisted one 2/8 of the time.
    for address, _ in OTHERS:
        assert_close(others[address], DRAWS, 2 / 8)
    # Two guaranteed when asked, fewer when fewer are active; nothing when nothing is active.
    for _ in range(200):
        picked = select_builders(ACTIVE, policy("GUARANTEED_ALLOWLIST", min_allowlist_count=2))
        assert sum(address in ALLOWLIST for address, _ in picked) >= 2
    assert sorted(
        select_builders(ALLOWED[:1] + OTHERS[:1], policy("GUARANTEED_ALLOWLIST", min_allowlist_count=5))
    ) == sorted(ALLOWED[:1] + OTHERS[:1])
    assert select_builders([], policy("GUARANTEED_ALLOWLIST")) == []


@pytest.mark.parametrize("mode", ["RANDOM", "ALLOWLIST_ONLY", "ALLOWLIST_PRIORITY", "GUARANTEED_ALLOWLIST"])
def test_no_mode_invents_a_builder_or_returns_more_than_n(mode: str) -> None:
    for _ in range(300):
        picked = select_builders(ACTIVE[:4], policy(mode, count=2))
        assert len(picked) <= 2 and set(picked) <= set(ACTIVE[:4]) and len(set(picked)) == len(picked)
