"""Photo -> aligned generation crop through the face stack (io -> detect -> align), with an on-disk cache.

Detection on multi-megapixel photos takes seconds, and an evaluation touches every gallery photo once per method,
so aligned crops are cached by the photo's content hash and the crop size. Inputs that already are generation crops
(what `masque evaluate` writes, what `masque check --aligned` reads) skip detection and are only resized.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_atomic
from ..errors import NoFaceError
from ..faces.align import crop_to_tensor
from ..faces.templates import Template, generation_template
from ..paths import sha256sum


@dataclass
class FaceCrop:
    """A generation-framed crop of one photo's largest face.

    ``matrix`` (photo -> crop pixels) and ``landmarks68`` (crop pixels) are ``None`` for inputs given as crops.
    """

    path: Path
    crop: np.ndarray  # (S, S, 3) uint8
    template: Template
    matrix: np.ndarray | None = None
    landmarks68: np.ndarray | None = None

    def tensor(self) -> torch.Tensor:
        """(1, 3, S, S) float32 in [0, 1]."""
        return crop_to_tensor(self.crop)

    def recrop(self, rgb: np.ndarray) -> np.ndarray:
        """The same crop cut from another photo of the same geometry (the protected photo), with this alignment."""
        from ..faces.align import crop_with

        if self.matrix is None:
            raise NoFaceError(f"{str(self.path)!r} was given as an aligned crop; it has no alignment to re-apply.")
        return crop_with(rgb, self.matrix, self.crop.shape[0])

    def aligned(self):
        """The face stack's `AlignedFace` (for region masks); needs landmarks, so not for ``--aligned`` inputs."""
        from ..faces.align import AlignedFace

        if self.landmarks68 is None or self.matrix is None:
            raise NoFaceError(f"{str(self.path)!r} was given as an aligned crop, so it has no landmarks for a region "
                              "mask; pass the original photo instead.")
        return AlignedFace(crop=self.crop, matrix=self.matrix, template=self.template, landmarks68=self.landmarks68)


def detect_and_align(path: str | Path, size: int = 512, *, detector: str = "hog") -> FaceCrop:
    """Read a photo, find its largest face and warp it into the generation template at ``size`` px."""
    from ..faces.align import align_face
    from ..faces.detect import detect_faces
    from ..io import read_image

    path = Path(path)
    image = read_image(path)
    faces = detect_faces(image.rgb, detector=detector)
    if not faces:
        raise NoFaceError(value=path, rule=f"no face found in {str(path)!r}",
                          hint=lambda n: f"use a photo where the face is visible and at least ~80 px wide, or pass an "
                                         f"aligned crop with {n.aligned}")
    template = generation_template(size)
    aligned = align_face(image.rgb, faces[0], template)
    return FaceCrop(path, aligned.crop, template, np.asarray(aligned.matrix, float),
                    np.asarray(aligned.landmarks68, float))


class CropCache:
    """Aligned crops on disk: ``<dir>/<sha256[:16]>_<size>_<detector>.png`` plus a JSON (matrix, landmarks)."""

    def __init__(self, directory: str | Path | None, size: int = 512, detector: str = "hog"):
        self.directory = Path(directory) if directory is not None else None
        self.size = size
        self.detector = detector
        self._memory: dict[Path, FaceCrop] = {}

    def get(self, path: str | Path) -> FaceCrop:
        path = Path(path)
        if path in self._memory:
            return self._memory[path]
        face = self._load(self.directory, path) if self.directory is not None else None
        if face is None:
            face = detect_and_align(path, self.size, detector=self.detector)
            if self.directory is not None:
                self._save(self.directory, face)
        self._memory[path] = face
        return face

    def _stem(self, directory: Path, path: Path) -> Path:
        return directory / f"{sha256sum(path)[:16]}_{self.size}_{self.detector}"

    def _load(self, directory: Path, path: Path) -> FaceCrop | None:
        from PIL import Image

        stem = self._stem(directory, path)
        png, meta = stem.with_suffix(".png"), stem.with_suffix(".json")
        if not (png.is_file() and meta.is_file()):
            return None
        info = json.loads(meta.read_text())
        crop = np.asarray(Image.open(png).convert("RGB"))
        return FaceCrop(path, crop, generation_template(self.size), np.asarray(info["matrix"], float),
                        np.asarray(info["landmarks68"], float))

    def _save(self, directory: Path, face: FaceCrop) -> None:
        from PIL import Image

        directory.mkdir(parents=True, exist_ok=True)
        stem = self._stem(directory, face.path)
        # atomic, the JSON last: a crop is cached once both files are whole (`_load` needs both)
        write_atomic(stem.with_suffix(".png"), lambda tmp: Image.fromarray(face.crop).save(tmp, format="PNG"))
        write_atomic(stem.with_suffix(".json"), json.dumps({
            "source": str(face.path), "size": self.size, "detector": self.detector,
            "matrix": face.matrix.tolist(), "landmarks68": face.landmarks68.tolist()}))
