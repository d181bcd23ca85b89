"""Offline self-check: is a protected photo still recognised by the FR models available here?

The judges and the verdict rule are the ones `masque protect` writes into its sidecar (`masque.pipeline.judge`,
`masque.pipeline.verdict`): every face of ORIGINAL (largest first) is compared, on each available model and on
dlib-bin itself, with the same face in PROTECTED (cropped with ORIGINAL's alignment when the two photos have the same
size, else found again by detection) and with each reference photo (its largest face; the references belong to the
face they show best). A reference that did not match the original to begin with gets a warning and no "protected".

With ``aligned=True`` the inputs are generation-framed crops as written by `masque evaluate` (no detection, no
dlib-bin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, NoFaceError
from ..io import read_image
from ..pipeline import Judge, exit_code, overall, summarise
from ..pipeline.judge import JUDGE_SIZE
from ..pipeline.run import sidecar_surrogates
from ..pipeline.verdict import FaceVerdict
from .zoo import ModelRecord, load_models


@dataclass
class CheckReport:
    original: str
    protected: str
    references: list[str]
    aligned: bool
    faces_found: int
    faces: list[FaceVerdict]
    models: list[ModelRecord] = field(default_factory=list)

    @property
    def overall(self) -> str:
        return overall(self.faces)

    @property
    def exit_code(self) -> int:
        return exit_code(self.faces)

    def to_dict(self) -> dict:
        return {"original": self.original, "protected": self.protected, "references": self.references,
                "aligned_inputs": self.aligned, "overall": self.overall, "exit_code": self.exit_code,
                "summary": summarise(self.faces_found, self.faces), "faces": [f.to_dict() for f in self.faces],
                "unavailable": [{"model": r.name, "reason": r.reason} for r in self.models if not r.available],
                "weights": {r.name: {"path": r.weights, "sha256": r.sha256} for r in self.models if r.available}}


def _faces(rgb: np.ndarray, arg: str, path: Path) -> list:
    """Every face, largest first; `NoFaceError` naming the argument when there is none."""
    from ..faces.detect import detect_faces

    faces = detect_faces(rgb)
    if not faces:
        raise NoFaceError(value=path, rule=f"`{arg}` {str(path)!r}: no face found",
                          hint=lambda n: f"use a photo where the face is visible and at least ~80 px wide, or pass "
                                         f"aligned crops with {n.aligned}")
    return faces


@torch.no_grad()
def check_protection(original: str | Path, protected: str | Path, references: Sequence[str | Path] = (), *,
                     models: Sequence[str] | None = None, aligned: bool = False, size: int = JUDGE_SIZE,
                     threshold: str | None = None, device: str = "cpu") -> CheckReport:
    """Judge ``protected`` against ``original`` and ``references`` on every available FR model and dlib-bin."""
    # 1. inputs (cheap checks before loading any model)
    paths = {"ORIGINAL": Path(original), "PROTECTED": Path(protected)}
    for i, r in enumerate(references):
        paths[f"--reference[{i}]"] = Path(r)
    for arg, p in paths.items():
        if not p.is_file():
            raise InputError(f"`{arg}` must be an existing image file, got {str(p)!r}.")
    images = {arg: read_image(p).rgb for arg, p in paths.items()}
    ref_args = [a for a in paths if a.startswith("--reference")]
    if aligned:
        for arg, rgb in images.items():
            if abs(rgb.shape[0] - rgb.shape[1]) > 1:
                raise InputError(field="aligned", value=paths[arg], rule=f"expects square generation crops, but "
                                 f"`{arg}` {str(paths[arg])!r} is {rgb.shape[1]}x{rgb.shape[0]}",
                                 hint=lambda n: f"drop {n.aligned} to detect the face instead")
    # 2. judges: the available models (surrogates as the protected photo's sidecar names them) and dlib-bin
    nets, records = load_models(models, device=device)
    judge = Judge(list(nets.values()), sidecar_surrogates(paths["PROTECTED"]),
                  dlib_bin=not aligned and (models is None or "dlib" in models), threshold_key=threshold, size=size)
    # 3. before: the original's faces and the references, embedded once (`Judge.before`, as `FacePipeline.run` does)
    if aligned:
        before = judge.before_crop(images["ORIGINAL"], [(paths[a].name, images[a]) for a in ref_args])
    else:
        faces = _faces(images["ORIGINAL"], "ORIGINAL", paths["ORIGINAL"])
        before = judge.before(images["ORIGINAL"], faces,
                              [(paths[a].name, images[a], _faces(images[a], a, paths[a])[0]) for a in ref_args])
    # 4. after: each face of the protected photo, by the one verdict rule; a resized or re-encoded copy is not
    # pixel-aligned with the original, so its faces are found again rather than cut with the original's warp
    protected_rgb = images["PROTECTED"]
    moved = not aligned and protected_rgb.shape != images["ORIGINAL"].shape
    found_again = _faces(protected_rgb, "PROTECTED", paths["PROTECTED"]) if moved else None
    verdicts = judge.verdicts(before, protected_rgb, faces=found_again)
    found = len(before.faces)
    return CheckReport(str(paths["ORIGINAL"]), str(paths["PROTECTED"]), [str(Path(r)) for r in references], aligned,
                       found, verdicts, records)
