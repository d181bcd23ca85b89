"""Metric invariants: PSR counting, identity ranks, quality, robustness transforms, optional metrics never 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from masque.evaluation import metrics


def test_threshold_keys_order_far_levels_and_pick_primary():
    far = {"far0.001": 0.3, "far0.1": 0.1, "far0.01": 0.2}
    assert metrics.threshold_keys(far) == ["far0.1", "far0.01", "far0.001"]
    assert metrics.primary_threshold(far) == "far0.01"
    assert metrics.primary_threshold({"dlib_l2_0.6": 0.9}) == "dlib_l2_0.6"  # a model's own rule


def test_verification_counts_are_strictly_below_threshold():
    counts = metrics.verification_counts([0.1, 0.2, 0.3], {"t": 0.2})
    assert counts["t"].pairs == 3 and counts["t"].protected == 1  # 0.2 itself still matches
    assert metrics.PairCount().psr is None  # no pairs: unknown, not 0


def test_identity_rank_uses_each_identitys_best_photo():
    ids = ["a", "a", "b", "c"]
    assert metrics.identity_rank([0.9, 0.1, 0.5, 0.2], ids, "a") == 1
    assert metrics.identity_rank([0.1, 0.3, 0.5, 0.4], ids, "a") == 3
    assert metrics.identity_rank([0.5, 0.1, 0.5, 0.2], ids, "a") == 1  # ties count against the protection
    assert metrics.identity_rank([0.5, 0.2], ["b", "c"], "a") is None
    out = metrics.identification_psr([1, 3, None, 7], 5)
    assert out == {"psr": 1 / 3, "probes": 3, "protected": 1}


@pytest.mark.parametrize("k", [1, 5])
def test_rank_k_boundary_rank_equal_to_k_is_still_identified(k):
    """Mutant 7 of issue 10 (`r >= k`): a probe ranked exactly k is inside the top k, so it is not protected."""
    assert metrics.identification_psr([k], k) == {"psr": 0.0, "probes": 1, "protected": 0}
    assert metrics.identification_psr([k + 1], k) == {"psr": 1.0, "probes": 1, "protected": 1}
    # from similarities: the true identity's best photo ties with the k-th best other identity -> rank k at best
    others = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4][: k - 1]
    ids = [f"other{i}" for i in range(len(others))] + ["me", "next"]
    rank = metrics.identity_rank([*others, 0.45, 0.45], ids, "me")
    assert rank == k and metrics.identification_psr([rank], k)["protected"] == 0


def test_quality_metrics_on_a_real_image():
    from skimage.data import astronaut

    img = astronaut()[:128, :128]
    assert metrics.psnr(img, img) == math.inf and metrics.ssim(img, img) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = np.clip(img.astype(int) + rng.integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
    worse = np.clip(img.astype(int) + rng.integers(-32, 33, img.shape), 0, 255).astype(np.uint8)
    assert 25 < metrics.psnr(img, noisy) < 45
    assert metrics.psnr(img, worse) < metrics.psnr(img, noisy)
    assert metrics.ssim(img, worse) < metrics.ssim(img, noisy) < 1


def test_robustness_transforms_change_pixels_and_keep_format():
    from skimage.data import astronaut

    img = astronaut()[:128, :128]
    for name, transform in metrics.ROBUSTNESS.items():
        out = transform(img)
        assert out.dtype == np.uint8 and out.shape[2] == 3, name
        expected = (64, 64) if name.startswith("resize") else (128, 128)
        assert out.shape[:2] == expected, name
        if not name.startswith("resize"):
            assert not np.array_equal(out, img), name
    err75 = np.abs(metrics.jpeg(75)(img).astype(int) - img).mean()
    err50 = np.abs(metrics.jpeg(50)(img).astype(int) - img).mean()
    assert err50 > err75 > 0


def test_optional_metrics_report_a_reason_instead_of_a_number():
    status = metrics.optional_metric_status()
    assert set(status) == {"lpips", "fid"}
    for key, why in status.items():
        assert why is None or why.startswith("n/a"), key


def test_equal_error_threshold_splits_separated_scores_in_the_middle_of_the_gap():
    point = metrics.equal_error_threshold([0.5, 0.7, 0.6], [0.1, 0.3, 0.2, 0.25])
    assert point.eer == 0.0 and abs(point.threshold - 0.4) < 1e-9
    assert (point.same_pairs, point.different_pairs) == (3, 4)


def test_equal_error_threshold_balances_errors_on_overlapping_scores():
    from masque.evaluation.metrics import equal_error_threshold

    # One same-person pair (0.25) below one different-person pair (0.3): the best cut errs once on each side.
    point = equal_error_threshold([0.25, 0.5, 0.6], [0.1, 0.2, 0.3])
    assert abs(point.eer - 1 / 3) < 1e-9 and 0.25 < point.threshold < 0.3
    with pytest.raises(ValueError, match="at least one"):
        metrics.equal_error_threshold([], [0.1])
