"""Draw the protection frontier: leave-one-out protection against how visible the texture is, one curve per carrier.

    python benchmarks/frontier_plot.py ROWS.json [ROWS.json ...] --out docs/frontier.png

Reads the rows `benchmarks/protection_table.py --out` writes. x: 1 − texture SSIM on the face box (the output moved
back by its known reshape, so a shift that nobody sees as texture does not count as texture); y: the leave-one-out
PSR with its 95 % Wilson interval, and dlib-bin on the written file dashed. A carrier is what a row may change:
makeup alone (no finish, no reshape), makeup + finish, makeup + finish + reshape. Needs matplotlib (not a runtime
dependency: `pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def carrier(row: dict) -> str:
    if row.get("reshape"):
        return "makeup + finish + reshape" if row["finish"] else "makeup + reshape"
    return "makeup + finish" if row["finish"] else "makeup only"


def main(argv: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rows", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    from masque.makeup.expected import Outcome  # the product's own 95 % Wilson interval

    rows = [r for path in args.rows for r in json.loads(path.read_text())]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    for i, name in enumerate(sorted({carrier(r) for r in rows})):
        mine = sorted((r for r in rows if carrier(r) == name), key=lambda r: 1 - r["texture_ssim"])
        x = [1 - r["texture_ssim"] for r in mine]
        y = [100 * r["loo_psr"] for r in mine]
        lo_hi = [(o.low, o.high) for o in (Outcome.of(round(r["loo_psr"] * r["faces_n"]), r["faces_n"]) for r in mine)]
        err = [[v - 100 * lo for v, (lo, _) in zip(y, lo_hi, strict=True)],
               [100 * hi - v for v, (_, hi) in zip(y, lo_hi, strict=True)]]
        colour = f"C{i}"
        ax.errorbar(x, y, yerr=err, marker="o", color=colour, capsize=3, label=f"{name}: leave-one-out")
        dlib = [(xi, 100 * r["dlib_bin_psr"]) for xi, r in zip(x, mine, strict=True) if r["dlib_bin_psr"] is not None]
        if dlib:
            ax.plot(*zip(*dlib, strict=True), linestyle="--", marker="x", color=colour, alpha=0.6,
                    label=f"{name}: dlib-bin")
        for xi, yi, r in zip(x, y, mine, strict=True):
            ax.annotate(f"{r['strength']} ({r['faces_n']})", (xi, yi), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=colour)
    ax.set_xlabel("texture visibility: 1 − face SSIM after undoing the reshape")
    ax.set_ylabel("faces protected (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Protection against visibility, \"full glam\", rotating held-out judge", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
