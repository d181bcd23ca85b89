"""Protect real photos end to end (DESIGN.md data flow):

    read → detect faces → align each to the generation crop → region mask from the prompt → engine.protect
    → paste back (pixels outside the mask untouched) → write atomically, plus a JSON sidecar.

`Protector` holds the loaded engine and FR models so a batch pays for loading once; `protect()` is the one-call form.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .adversarial import encode_anchors, pairwise_loss
from .embedders import FaceEmbedder, create_embedder, list_embedders
from .embedders.dlib_resnet import SAME_PERSON_DISTANCE
from .embedders.registry import TEST_ONLY
from .engines.auto import EngineChoice, build_engine, choose_engine
from .errors import InputError, MasqueError, NoFaceError, WeightsError
from .faces.align import AlignedFace, align_face, crop_to_tensor, tensor_to_crop
from .faces.detect import detect, detect_faces, select_faces
from .faces.paste import paste_back
from .faces.regions import RegionMasker, regions_for_prompt
from .faces.templates import generation_template
from .io import (
    DEFAULT_MAX_PIXELS,
    LoadedImage,
    check_output_path,
    default_output_path,
    read_image,
    sidecar_path,
    write_image,
)
from .store import parser_path
from .trace import CostTrace

DLIB_BIN = "dlib-bin"  # dlib's own detector + chip + ResNet: the independent judge of every protected photo

ProgressCallback = Callable[[str, int, int], None]


def available_embedders(device: str = "cpu") -> list[FaceEmbedder]:
    """Every registered FR model whose weights are present (dlib always is), test-only models excluded."""
    models = []
    for name in list_embedders():
        if name in TEST_ONLY:
            continue
        try:
            models.append(create_embedder(name, device=device))
        except WeightsError:
            continue
    return models


def load_embedders(names: Sequence[str] | None, device: str = "cpu") -> list[FaceEmbedder]:
    """``names=None``: all available models; otherwise exactly these (missing weights raise `WeightsError`)."""
    if names is None:
        models = available_embedders(device)
        if not models:
            raise WeightsError("no face-recognition model is available; run `masque models list` to see what to get.")
        return models
    return [create_embedder(n, device=device) for n in names]


@dataclass
class FaceReport:
    index: int
    box: list[int] | None
    anchor: str  # "pair:<file>" or "self" (single mode)
    similarity_before: dict[str, float] = field(default_factory=dict)
    similarity_after: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    mask_fraction: float = 0.0
    engine_info: dict = field(default_factory=dict)  # what the engine reports (losses, colour, timings)
    # dlib-bin's own verdict on the written photo (smallest descriptor distance to the anchors); None when dlib's
    # detector cannot find an anchor face or the input was an aligned crop
    dlib_bin_before: float | None = None
    dlib_bin_after: float | None = None

    @property
    def protected(self) -> dict[str, bool]:
        """Per judge: does the protected face fall outside its same-person rule against its anchor(s)?"""
        return {r["model"]: r["protected"] for r in self.rows()}

    def rows(self) -> list[dict]:
        """One row per judge: the surrogates (cosine on the crop, protected below the threshold) and dlib-bin (raw
        distance on the written photo, protected at or above 0.6)."""
        out = [{"model": m, "metric": "cosine", "before": self.similarity_before[m], "after": after,
                "threshold": self.thresholds[m], "protected": after < self.thresholds[m]}
               for m, after in self.similarity_after.items() if m in self.thresholds]
        if self.dlib_bin_after is not None:
            lost = self.dlib_bin_after == float("inf")  # dlib's detector no longer finds the face (JSON has no inf)
            out.append({"model": DLIB_BIN, "metric": "l2", "before": self.dlib_bin_before,
                        "after": None if lost else self.dlib_bin_after, "threshold": SAME_PERSON_DISTANCE,
                        "protected": self.dlib_bin_after >= SAME_PERSON_DISTANCE,
                        **({"note": "dlib's detector finds no face"} if lost else {})})
        return out

    def to_dict(self) -> dict:
        return {"index": self.index, "box": self.box, "anchor": self.anchor, "mask_fraction": self.mask_fraction,
                "similarity_before": self.similarity_before, "similarity_after": self.similarity_after,
                "thresholds": self.thresholds, "judges": self.rows(), "protected": self.protected,
                "engine": self.engine_info}


@dataclass
class ProtectReport:
    input: Path
    output: Path
    sidecar: Path
    faces_found: int
    faces: list[FaceReport]
    settings: dict
    trace: CostTrace
    seconds: float
    possibly_missed: list = field(default_factory=list)  # (box, score): near misses of the detector, not protected

    def to_dict(self) -> dict:
        return {
            "masque_version": __version__,
            "input": str(self.input),
            "output": str(self.output),
            "faces_found": self.faces_found,
            "faces_protected": len(self.faces),
            "faces_possibly_missed": [{"box": list(b), "score": round(s, 3)} for b, s in self.possibly_missed],
            "faces": [f.to_dict() for f in self.faces],
            "settings": self.settings,
            "cost": self.trace.to_dict(),
            "seconds": round(self.seconds, 3),
        }


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Protector:
    """A loaded engine plus its FR surrogates, reused across photos.

    ``engine_options`` go to the engine factory (``config=`` an engine config dataclass, ``model=`` the SD weights
    for the diffusion engine, ...).
    """

    prompt: str
    engine: str = "auto"  # "auto": diffusion when SD weights are present locally, else parametric (engines.auto)
    surrogates: Sequence[str] | None = None
    region: str | Sequence[str] | None = None
    faces: str | int = "all"
    detector: str = "hog"
    face_scale: float = 0.8
    parser: str | Path | None = None  # BiSeNet checkpoint; default: $MASQUE_HOME/parser/ when imported there
    seed: int = 0
    device: str = "cpu"
    keep_metadata: bool = False
    overwrite: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS  # per photo, checked from the header before decoding (bomb guard)
    engine_options: dict = field(default_factory=dict)
    engine_choice: EngineChoice | None = None  # already resolved (with matching engine_options), e.g. by the CLI

    def __post_init__(self) -> None:
        # 1. validate cheap things before loading anything heavy
        if not self.prompt or not self.prompt.strip():
            raise InputError("`prompt` must name the makeup, e.g. 'red lipstick'; got an empty prompt.")
        self.regions = regions_for_prompt(self.prompt, self.region)
        # 2. load models once
        self.embedders = load_embedders(self.surrogates, self.device)
        choice = self.engine_choice or choose_engine(self.engine, self.engine_options.get("model"))
        self._engine, self.engine_choice = build_engine(choice, self.embedders, self.engine_options)
        self.engine = self.engine_choice.name
        self.crop_size = int(self._engine.crop_size)
        self.template = generation_template(self.crop_size, self.face_scale)
        if self.parser is None and parser_path().is_file():
            self.parser = parser_path()
        self.masker = RegionMasker(parser=self.parser, device=self.device)

    def _judge_with_dlib_bin(self, original: np.ndarray, result: np.ndarray, reports: list[FaceReport],
                             pairs: list[LoadedImage]) -> None:
        """Fill each face's dlib-bin distances, measured by dlib's own pipeline on the photo as written."""
        from .embedders.dlib_chip import dlib_face_tools

        tools = dlib_face_tools()
        pair_desc = [d for d in (tools.face_descriptor(p.rgb) for p in pairs) if d is not None]
        for rep in reports:
            before = tools.face_descriptor(original, rep.box)
            after = tools.face_descriptor(result, rep.box)
            anchors = pair_desc if rep.anchor != "self" else ([before] if before is not None else [])
            if not anchors or before is None:
                continue
            rep.dlib_bin_before = min(float(np.linalg.norm(before - a)) for a in anchors)
            rep.dlib_bin_after = (float("inf") if after is None  # dlib no longer finds a face there
                                  else min(float(np.linalg.norm(after - a)) for a in anchors))

    @property
    def settings(self) -> dict:
        config = getattr(self._engine, "config", None)
        to_dict = getattr(config, "to_dict", None)
        from dataclasses import asdict, is_dataclass

        cfg = to_dict() if to_dict else (asdict(config) if is_dataclass(config) else None)
        return {"engine": self.engine, "engine_requested": self.engine_choice.requested,
                "engine_reason": self.engine_choice.reason, "prompt": self.prompt, "regions": list(self.regions),
                "seed": self.seed,
                "surrogates": [m.name for m in self.embedders], "faces": self.faces, "detector": self.detector,
                "face_scale": self.face_scale, "parser": str(self.parser) if self.parser else None,
                "crop_size": self.crop_size, "device": self.device,
                "engine_config": cfg, "model": getattr(self._engine, "model_id", None)}

    def with_prompt(self, prompt: str, region: str | Sequence[str] | None = None) -> Protector:
        """The same loaded engine, FR models and masker for another makeup prompt (no reload).

        The prompt only picks the regions here and is passed to ``engine.protect`` per call, so a server taking a
        new prompt per request shares one loaded Protector. Not for concurrent use: callers serialise runs.
        """
        if not prompt or not prompt.strip():
            raise InputError("`prompt` must name the makeup, e.g. 'red lipstick'; got an empty prompt.")
        other = copy.copy(self)
        other.prompt, other.region = prompt, region
        other.regions = regions_for_prompt(prompt, region)
        return other

    # -- helpers ------------------------------------------------------------------------------------------------
    def _align_largest(self, image: LoadedImage) -> AlignedFace:
        faces = detect_faces(image.rgb, detector=self.detector)
        if not faces:
            raise NoFaceError(f"no face found in `pair` photo {str(image.path)!r}; give a photo where the face is "
                              "clearly visible.")
        return align_face(image.rgb, select_faces(faces, "largest")[0], self.template)

    @torch.no_grad()
    def _similarity(self, crop: torch.Tensor, anchor_emb: dict) -> dict[str, float]:
        return pairwise_loss(self.embedders, crop, anchor_emb, backward=False).per_model

    def _plan_outputs(self, photo: Path, out: Path | None, inputs: Sequence[Path] = ()) -> tuple[Path, Path]:
        out = Path(out) if out is not None else default_output_path(photo)
        side = sidecar_path(out)
        for p in (out, side):
            check_output_path(p, inputs=[photo, *inputs], name="out")
        for p in (out, side):
            if p.exists() and not self.overwrite:
                raise InputError(f"`out` {str(p)!r} already exists; pass `--overwrite` or choose another path.")
        return out, side

    # -- the run ------------------------------------------------------------------------------------------------
    def protect_photo(
        self,
        photo: str | Path,
        *,
        out: str | Path | None = None,
        pair: Sequence[str | Path] = (),
        mask: str | Path | np.ndarray | None = None,
        aligned: bool = False,
        progress: ProgressCallback | None = None,
    ) -> ProtectReport:
        """Protect every selected face of ``photo`` (or the whole image when ``aligned``) and write the result.

        ``aligned=True`` (implied by ``mask``) treats the photo as an already aligned face crop: no detection,
        the mask (same size as the photo) defaults to the whole crop. ``pair``: other photos of the same person,
        the anchors of the pairwise objective; without them the face is pushed away from itself (single mode).
        """
        start = time.perf_counter()
        # 1. inputs and output paths (fail before any heavy work)
        photo = Path(photo)
        image = read_image(photo, max_pixels=self.max_pixels)
        out_path, side_path = self._plan_outputs(photo, out, [Path(p) for p in pair] +
                                                 ([Path(mask)] if isinstance(mask, (str, Path)) else []))
        pairs = [read_image(p, max_pixels=self.max_pixels) for p in pair]
        aligned = aligned or mask is not None
        mask_arr = _read_mask(mask, image.rgb.shape[:2]) if mask is not None else None

        # 2. faces → (aligned crop, region mask) jobs
        per_region: dict[int, dict[str, torch.Tensor]] = {}
        possibly_missed: list = []
        if aligned:
            jobs = [(None, image.rgb, mask_arr if mask_arr is not None else np.ones(image.rgb.shape[:2], np.float32))]
            faces_found = 1
            pair_crops = [crop_to_tensor(_resize_rgb(p.rgb, image.rgb.shape[:2])) for p in pairs]
        else:
            detection = detect(image.rgb, detector=self.detector)
            faces, possibly_missed = detection.faces, detection.possibly_missed
            faces_found = len(faces)
            chosen = select_faces(faces, self.faces)  # NoFaceError when empty
            jobs = []
            for face in chosen:
                al = align_face(image.rgb, face, self.template)
                jobs.append((al, al.crop, self.masker(al, self.regions)))
                if len(self.regions) > 1:
                    per_region[len(jobs) - 1] = {r: _mask_tensor(self.masker(al, [r])) for r in self.regions}
            pair_crops = [crop_to_tensor(self._align_largest(p).crop) for p in pairs]

        # 3. assign the pair photos to the face they match best; other faces use single mode
        crops = [crop_to_tensor(c) for _, c, _ in jobs]
        pair_owner = self._pair_owner(crops, pair_crops) if pair_crops else None

        # 4. protect each face and paste it back into the running result
        result_rgb = image.rgb.copy()
        trace, reports = CostTrace(), []
        for i, ((al, _crop, region_mask), crop_t) in enumerate(zip(jobs, crops, strict=True)):
            use_pair = pair_owner == i
            anchors = pair_crops if use_pair else [crop_t]
            anchor_emb = encode_anchors(self.embedders, anchors, trace)
            res = self._engine.protect(crop_t, _mask_tensor(region_mask), self.prompt, anchors, seed=self.seed + i,
                                       progress=_face_progress(progress, i, len(jobs)),
                                       region_masks=per_region.get(i))
            trace.merge(res.trace)
            protected = tensor_to_crop(res.image)
            result_rgb = protected if al is None else paste_back(result_rgb, al, protected, region_mask)
            reports.append(FaceReport(
                index=i,
                box=[int(v) for v in al.face.box] if al is not None and al.face is not None else None,
                anchor=("pair:" + ",".join(p.path.name for p in pairs)) if use_pair else "self",
                similarity_before=self._similarity(crop_t, anchor_emb),
                similarity_after=self._similarity(crop_to_tensor(protected), anchor_emb),
                thresholds={m.name: m.verdict_threshold for m in self.embedders},
                mask_fraction=float(np.mean(region_mask)),
                engine_info=res.info,
            ))

        # 5. write the photo, then the sidecar (both atomic)
        report = ProtectReport(photo, out_path, side_path, faces_found, reports,
                               {**self.settings, "pair": [str(p.path) for p in pairs], "aligned": aligned},
                               trace, time.perf_counter() - start, possibly_missed=possibly_missed)
        write_image(out_path, result_rgb, like=image, keep_metadata=self.keep_metadata)
        if not aligned:
            self._judge_with_dlib_bin(image.rgb, read_image(out_path).rgb, reports, pairs)
        report.seconds = time.perf_counter() - start
        _write_json_atomic(side_path, report.to_dict())
        return report

    @torch.no_grad()
    def _pair_owner(self, crops: list[torch.Tensor], pair_crops: list[torch.Tensor]) -> int:
        """Index of the face most similar to the pair photos (by the surrogates' mean cosine)."""
        if len(crops) == 1:
            return 0
        emb = encode_anchors(self.embedders, pair_crops)
        scores = [pairwise_loss(self.embedders, c, emb, backward=False).loss.item() for c in crops]
        return int(np.argmax(scores))


def _face_progress(progress: ProgressCallback | None, i: int, n: int) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"face {i + 1}/{n}: {stage}" if n > 1 else stage, done, total)


def _mask_tensor(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]


def _resize_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == shape:
        return rgb
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize((shape[1], shape[0]), Image.Resampling.LANCZOS))


def _read_mask(mask: str | Path | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask image or array → (H, W) float32 in [0, 1]; it must match the photo's size."""
    if isinstance(mask, np.ndarray):
        arr = mask.astype(np.float32)
        arr = arr / 255.0 if arr.max(initial=0) > 1 else arr
        name = "array"
    else:
        loaded = read_image(mask)
        arr = loaded.rgb.astype(np.float32).mean(axis=2) / 255.0
        name = str(mask)
    if arr.ndim != 2 or arr.shape != tuple(shape):
        raise InputError(f"`mask` {name!r} must have the photo's size {shape[1]}x{shape[0]} (WxH); "
                         f"got {arr.shape[1] if arr.ndim > 1 else '?'}x{arr.shape[0]}.")
    if arr.max() <= 0:
        raise InputError(f"`mask` {name!r} is empty (all black); white marks the region to make up.")
    return arr


def protect(
    photo: str | Path,
    prompt: str,
    *,
    out: str | Path | None = None,
    pair: Sequence[str | Path] = (),
    mask: str | Path | np.ndarray | None = None,
    aligned: bool = False,
    progress: ProgressCallback | None = None,
    **options,
) -> ProtectReport:
    """Protect ``photo`` with makeup described by ``prompt``; see `Protector` for ``options``.

    >>> masque.protect("me.jpg", "red lipstick", pair=["me_too.jpg"], engine="parametric")  # doctest: +SKIP
    """
    try:
        protector = Protector(prompt=prompt, **options)
    except TypeError as exc:
        raise MasqueError(f"unknown option for `masque.protect`: {exc}") from exc
    return protector.protect_photo(photo, out=out, pair=pair, mask=mask, aligned=aligned, progress=progress)
