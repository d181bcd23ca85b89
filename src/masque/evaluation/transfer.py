"""Black-box (transfer) vs white-box protection per FR model, from the runs of a leave-one-out evaluation.

In leave-one-out each model is held out once: the protection is optimised on the others and judged by it (black
box); the same protected crops are also judged by each model they were optimised against (white box). A protection
that only holds white-box does not protect against a recogniser in the wild, so the two are reported side by side.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def transfer_summary(runs: Sequence[dict]) -> list[dict]:
    """One row per (method, model): black-box verification PSR (model held out), mean white-box PSR over the
    rotations that optimised against it, and seconds per face of the black-box rotation."""
    rows = []
    keys = dict.fromkeys((r["method"], r["target"]) for r in runs if r["protocol"] in ("leave-one-out", "white-box"))
    for method, model in keys:
        black = [r for r in runs if r["method"] == method and r["target"] == model and r["protocol"] == "leave-one-out"]
        white = [r for r in runs if r["method"] == method and r["target"] == model and r["protocol"] == "white-box"]

        def psr(run: dict) -> float | None:
            return run["verification"][run["primary_threshold"]]["psr"]

        white_psr = [p for p in (psr(r) for r in white) if p is not None]
        rows.append({
            "method": method, "model": model,
            "threshold": black[0]["primary_threshold"] if black else (white[0]["primary_threshold"] if white else None),
            "black_box_psr": psr(black[0]) if black else None,
            "surrogates": black[0]["surrogates"] if black else [],
            "white_box_psr": float(np.mean(white_psr)) if white_psr else None,
            "seconds_per_face": black[0]["cost"]["seconds_per_image"] if black else None,
        })
    return rows
