"""The equal-error threshold every package model's `eer` threshold comes from."""

from __future__ import annotations

import pytest

from masque.evaluation.calibration import equal_error_threshold


def test_separated_scores_split_in_the_middle_of_the_gap():
    threshold, error = equal_error_threshold([0.5, 0.7, 0.6], [0.1, 0.3, 0.2, 0.25])
    assert error == 0.0 and abs(threshold - 0.4) < 1e-9


def test_overlapping_scores_balance_the_two_error_rates():
    # One same-person pair (0.25) below one different-person pair (0.3): any cut errs once on each side at best.
    threshold, error = equal_error_threshold([0.25, 0.5, 0.6], [0.1, 0.2, 0.3])
    assert abs(error - 1 / 3) < 1e-9 and 0.25 < threshold <= 0.3
    with pytest.raises(ValueError, match="same-person and different-person"):
        equal_error_threshold([], [0.1])
