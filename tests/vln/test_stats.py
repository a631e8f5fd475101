"""Paired comparison of two evaluations: McNemar's exact test and bootstrap intervals."""

import numpy as np
import pytest

from vln.stats import mcnemar_p, paired_comparison


def _rows(successes, spl=None, first_seed=0):
    spl = successes if spl is None else spl
    return [{"seed": first_seed + i, "success": s, "spl": p} for i, (s, p) in enumerate(zip(successes, spl))]


def test_mcnemar_exact_p_values():
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(10, 0) == pytest.approx(2 / 1024)  # all ten discordant episodes went B's way
    assert mcnemar_p(3, 7) == mcnemar_p(7, 3) == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)
    assert mcnemar_p(5, 5) == 1.0


def test_paired_comparison_measures_b_minus_a_on_shared_seeds():
    rng = np.random.default_rng(0)
    a = rng.random(400) < 0.5
    b = a.copy()
    b[np.flatnonzero(~a)[:60]] = True  # B also solves 60 episodes A failed, loses none
    result = paired_comparison(_rows(a.astype(int)), _rows(b.astype(int)) + _rows([1], first_seed=10_000))
    assert result["episodes"] == 400  # the extra seed only B has is left out
    assert result["success"]["diff"] == pytest.approx(60 / 400)
    lo, hi = result["success"]["ci95"]
    assert 0 < lo < 60 / 400 < hi
    assert result["mcnemar"] == {"gained": 60, "lost": 0, "p": pytest.approx(2 / 2**60)}
    same = paired_comparison(_rows(a.astype(int)), _rows(a.astype(int)))
    assert same["success"]["diff"] == 0 and same["success"]["ci95"] == [0, 0] and same["mcnemar"]["p"] == 1.0


def test_paired_comparison_rejects_unpaired_input():
    with pytest.raises(ValueError, match="share no episode seeds"):
        paired_comparison(_rows([1, 0]), _rows([1, 0], first_seed=50))
    with pytest.raises(ValueError, match="'spl'"):
        paired_comparison([{"seed": 0, "success": 1}], [{"seed": 0, "success": 0}])
    with pytest.raises(ValueError, match="once"):
        paired_comparison(_rows([1, 0]) * 2, _rows([1, 0]))

