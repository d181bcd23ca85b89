"""report.md and grid.png, generated from the results.json data only (so the two can never disagree)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NA = "n/a"


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", "| " + " | ".join(self.headers) + " |",
                 "|" + "|".join("---" for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def pct(value) -> str:
    """A rate in [0, 1] as a percentage with one decimal; missing values are "n/a", never 0."""
    return NA if value is None else f"{100 * float(value):.1f}"


def num(value, digits: int = 3) -> str:
    if value is None:
        return NA
    if value in ("inf", float("inf")):
        return "inf"
    return f"{float(value):.{digits}f}"


def _run_label(run: dict) -> list[str]:
    return [run["method"], run["target"], run["protocol"], ",".join(run["surrogates"]) or "-"]


def tables(results: dict) -> list[Table]:
    runs = results["runs"]
    models = Table("Face-recognition models", ["model", "available", "thresholds (cosine)", "weights sha256",
                                               "note"], [])
    for m in results["models"]:
        thr = ", ".join(f"{k}={v:.4f}" for k, v in m["thresholds"].items()) or NA
        models.rows.append([m["name"], "yes" if m["available"] else "no", thr,
                            (m["sha256"] or NA)[:16], (m["rule"] or m["reason"] or "").replace("|", "/")])
    head = ["method", "target", "protocol", "surrogates"]
    verification = Table("Verification (dodging PSR %, pairs with another photo of the same person)",
                         [*head, "threshold", "cosine", "PSR %", "pairs"], [])
    for run in runs:
        for key, v in run["verification"].items():
            verification.rows.append([*_run_label(run), key, f"{run['thresholds'][key]:.4f}", pct(v["psr"]),
                                      str(v["pairs"])])
    ident = Table("Identification (PSR %: true identity not in the top k)", [*head, "rank-1 PSR %", "rank-5 PSR %",
                                                                             "probes"], [])
    for run in runs:
        r1, r5 = run["identification"]["rank1"], run["identification"]["rank5"]
        ident.rows.append([*_run_label(run), pct(r1["psr"]), pct(r5["psr"]), str(r1["probes"])])
    transforms = [k for k in (runs[0]["robustness"] if runs else {}) if k != "threshold"]
    robust = Table("Robustness (verification PSR % at the primary threshold after a transform)",
                   [*head, "threshold", "none", *transforms], [])
    for run in runs:
        rb = run["robustness"]
        robust.rows.append([*_run_label(run), rb["threshold"], pct(run["verification"][rb["threshold"]]["psr"]),
                            *(pct(rb[t]["psr"]) for t in transforms)])
    quality = Table("Quality and cost (mean over protected crops)",
                    [*head, "PSNR dB", "SSIM", "LPIPS", "FID", "s/image", "NFE/image"], [])
    for run in runs:
        q, c = run["quality"], run["cost"]
        quality.rows.append([*_run_label(run), num(q["psnr"], 2), num(q["ssim"], 4), num(q["lpips"], 4),
                             num(q["fid"], 2), num(c["seconds_per_image"], 2), num(c["nfe_per_image"], 0)])
    return [models, verification, ident, robust, quality]


def render_report(results: dict) -> str:
    cfg, ds = results["config"], results["dataset"]
    white_box = any(r["protocol"] == "white-box" for r in results["runs"])
    lines = [
        "# MASQUE evaluation report", "",
        f"- masque {results['masque_version']}, torch {results['torch']}, Python {results['python']}; "
        f"created {results['created']}",
        f"- command: `{shlex.join(results['command']) if results['command'] else '(Python API)'}`",
        f"- dataset: {ds['layout']} `{ds['root']}` — {ds['items']} items, {ds['identities']} identities, "
        f"{ds['photos']} photos; crops {cfg['size']} px; seed {results['seed']} (item i uses seed + i)",
        f"- methods: {', '.join(cfg['methods'])}; prompt {cfg['prompt']!r}",
    ]
    if white_box:
        lines.append("- **white-box**: only one face-recognition model was evaluated, so protection was optimised "
                     "and judged on the same model; these PSRs are an upper bound, not transfer results.")
    for path, why in results["skipped_photos"].items():
        lines.append(f"- skipped `{path}`: {why}")
    unavailable = {k: v for r in results["runs"] for k, v in r["quality"].get("unavailable", {}).items()}
    for k, why in unavailable.items():
        lines.append(f"- {k.upper()}: {why}")
    lines.append("")
    for table in tables(results):
        lines += [table.markdown(), ""]
    return "\n".join(lines)


def write_report(results: dict, path: str | Path) -> Path:
    from ..atomic import write_atomic

    return write_atomic(path, render_report(results))


def grid_image(rows: Sequence[tuple[np.ndarray, np.ndarray]], amplify: float = 10.0, tile: int = 256) -> np.ndarray:
    """original | protected | amplified |difference|, one row per image, each tile ``tile`` px (uint8 RGB)."""
    from PIL import Image

    def fit(a: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(a).resize((tile, tile), Image.Resampling.BICUBIC))

    out = []
    for original, protected in rows:
        diff = np.abs(protected.astype(np.int16) - original.astype(np.int16)).astype(np.float32) * amplify
        out.append(np.concatenate([fit(original), fit(protected), fit(np.clip(diff, 0, 255).astype(np.uint8))], 1))
    if not out:
        return np.zeros((tile, 3 * tile, 3), np.uint8)
    return np.concatenate(out, 0)


def write_grid(path: str | Path, rows: Sequence[tuple[np.ndarray, np.ndarray]], amplify: float = 10.0) -> Path:
    from PIL import Image

    from ..atomic import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(grid_image(rows, amplify))
    return write_atomic(path, lambda tmp: image.save(tmp, format="PNG"))
