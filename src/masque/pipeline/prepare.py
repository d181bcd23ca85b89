"""The preparation stage: photo → detected faces → aligned crops and region masks → `FaceJob`s.

`make_job` is the one place a `FaceJob` is built (tests and benchmarks that start from a crop call it too); `Preparer`
does the photo-level part once per run: the engine's plan (`engine_plan`: products, effects and the regions to mask,
from the one vocabulary of `masque.makeup`) is resolved when it is made, each pair photo's anchor embeddings are
computed once and shared by the face they belong to. Every detected face is checked for occluders (`faces.occlusion`):
covered regions are left bare and the occluder's pixels are cut from the masks, so neither engine paints on hair, a
mask or sunglasses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..adversarial import encode_anchors
from ..engines.base import Engine, FaceJob
from ..errors import InputError, NoFaceError
from ..faces.align import AlignedFace, align_face, crop_to_tensor
from ..faces.detect import Detection, Face, detect
from ..faces.occlusion import Occlusion, OcclusionConfig, find_occlusion
from ..faces.regions import RegionMasker
from ..faces.templates import generation_template
from ..makeup.prompt import MakeupPlan
from ..paths import parser_path
from ..trace import CostTrace, StageTimes


def resolve_parser(parser: str | Path | None) -> str | Path | None:
    """The face-parser checkpoint to use: the one given, else the one imported under ``$MASQUE_HOME`` (if any)."""
    if parser is None and parser_path().is_file():
        return parser_path()
    return parser


def default_masker(parser: str | Path | None = None, device: str | None = None) -> RegionMasker:
    """The masker every front end uses: landmark polygons, refined by the BiSeNet face parser when one is given or
    imported (`masque models import face-parser`)."""
    return RegionMasker(parser=resolve_parser(parser), device=device)


def mask_tensor(mask: np.ndarray) -> torch.Tensor:
    """(S, S) float mask → (1, 1, S, S) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]


def engine_plan(engine: Engine, prompt: str, region: str | Sequence[str] | None = None) -> MakeupPlan:
    """The one caller of `Engine.plan`: what ``engine`` understood of ``prompt`` and the regions to mask (``region``:
    the user's explicit choice). Front ends never read a prompt themselves."""
    return engine.plan(prompt, region)


def make_job(engine: Engine, crop: torch.Tensor, mask: torch.Tensor, prompt: str, *,
             region_masks: Mapping[str, torch.Tensor] | None = None, regions: Sequence[str] | None = None,
             plan: MakeupPlan | None = None, anchors: Sequence[torch.Tensor] = (),
             anchor_embeddings: Mapping[str, torch.Tensor] | None = None, seed: int = 0, index: int = 0,
             anchor_label: str | None = None, aligned: AlignedFace | None = None,
             trace: CostTrace | None = None, source_embeddings: Mapping[str, torch.Tensor] | None = None,
             occlusion: Occlusion | None = None) -> FaceJob:
    """A `FaceJob` for ``crop`` (1, 3, S, S) and its union ``mask`` (1, 1, S, S).

    ``plan`` defaults to `engine_plan` (``regions``: an explicit region choice); ``region_masks`` default to the
    union mask for the plan's first region; no ``anchors`` means single mode (the crop itself).
    ``anchor_embeddings`` may be passed when the same anchors serve several jobs, so each is embedded once;
    ``source_embeddings`` (model -> (D,) or (1, D)) when the judges already embedded this very crop;
    ``occlusion``: what `faces.occlusion.find_occlusion` saw on the crop (the masks must already be cut by it).
    """
    if plan is None:
        plan = engine_plan(engine, prompt, regions or None)
    if region_masks is None:
        region_masks = {plan.regions[0]: mask}
    if not region_masks:
        raise InputError("`region_masks` must name at least one region.")
    single = not anchors
    anchors = (crop,) if single else tuple(anchors)
    names = [m.name for m in engine.embedders]
    if source_embeddings is not None and all(n in source_embeddings for n in names):
        source = {n: source_embeddings[n].reshape(1, -1) for n in names}
    else:
        source = encode_anchors(engine.embedders, [crop], trace)
    if anchor_embeddings is None:
        anchor_embeddings = source if single else encode_anchors(engine.embedders, anchors, trace)
    region_masks = region_masks if isinstance(region_masks, RegionMasks) else dict(region_masks)
    bare = occlusion.bare(tuple(region_masks)) if occlusion is not None else ()
    return FaceJob(crop=crop, mask=mask, region_masks=region_masks, prompt=prompt, plan=plan, anchors=anchors,
                   anchor_embeddings=anchor_embeddings, source_embeddings=source, seed=seed, index=index,
                   anchor_label=anchor_label or ("self" if single else "pair"), aligned=aligned, bare_regions=bare,
                   occlusion=occlusion)


class RegionMasks(Mapping[str, torch.Tensor]):
    """Each region's own mask of one aligned face, drawn on first access: an engine that paints only the union (the
    parametric engine) never pays for them (six masks of "full glam" cost 0.08 s). With ``occlusion``, bare regions
    are all zero and the occluder's pixels are cut from the others."""

    def __init__(self, masker: RegionMasker, aligned: AlignedFace, regions: Sequence[str],
                 occlusion: Occlusion | None = None):
        self._masker, self._aligned, self._regions = masker, aligned, tuple(regions)
        self._occlusion = occlusion
        self._drawn: dict[str, torch.Tensor] = {}

    def __getitem__(self, region: str) -> torch.Tensor:
        if region not in self._regions:
            raise KeyError(region)
        if region not in self._drawn:
            self._drawn[region] = mask_tensor(visible_mask(self._masker, self._aligned, [region], self._occlusion))
        return self._drawn[region]

    def __iter__(self):
        return iter(self._regions)

    def __len__(self) -> int:
        return len(self._regions)


@dataclass
class PairPhoto:
    """A photo of the same person (an anchor): its pixels, its largest face and a display name."""

    name: str
    rgb: np.ndarray
    face: Face | None  # None for aligned-crop inputs


class Preparer:
    """Turns photos into `FaceJob`s for one engine, prompt and masker; reusable across photos."""

    def __init__(self, engine: Engine, prompt: str, *, region: str | Sequence[str] | None = None,
                 masker: RegionMasker | None = None, detector: str = "auto", face_scale: float = 0.8,
                 whole_crop: bool = False, occlusion: OcclusionConfig | None = OcclusionConfig()):
        self.engine, self.prompt, self.region = engine, prompt, region
        self.plan = engine_plan(engine, prompt, region)  # resolved once per prompt (InputError for a bad one)
        self.regions = self.plan.regions
        self.masker = masker or RegionMasker()
        self.detector, self.face_scale, self.whole_crop = detector, face_scale, whole_crop
        self.occlusion = occlusion  # None: paint every region whatever covers it
        self.template = generation_template(int(engine.crop_size), face_scale)

    def with_engine(self, engine: Engine) -> Preparer:
        """The same prompt, region, masker and detector for another engine (e.g. the same one at another strength:
        the plan and the regions are resolved again)."""
        return Preparer(engine, self.prompt, region=self.region, masker=self.masker, detector=self.detector,
                        face_scale=self.face_scale, whole_crop=self.whole_crop, occlusion=self.occlusion)

    def rejob(self, job: FaceJob) -> FaceJob:
        """``job`` (made by another preparer of the same face) with this preparer's plan, and its masks when this
        preparer's regions differ; crops, anchors and their embeddings are kept (nothing is embedded again)."""
        if self.regions == job.regions or job.aligned is None:
            return replace(job, plan=self.plan)
        union, per_region, occlusion = self._masks(job.aligned)
        bare = occlusion.bare(tuple(per_region)) if occlusion is not None else ()
        return replace(job, plan=self.plan, mask=union, region_masks=per_region, bare_regions=bare,
                       occlusion=occlusion)

    def detection(self, rgb: np.ndarray) -> Detection:
        """Every face, largest first (landmarks included), and the regions the detector was unsure of."""
        return detect(rgb, detector=self.detector)

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Every face, largest first (landmarks included)."""
        return self.detection(rgb).faces

    def largest(self, rgb: np.ndarray, name: str) -> Face:
        faces = self.detect(rgb)
        if not faces:
            raise NoFaceError(f"no face found in `pair` photo {name!r}; give a photo where the face is clearly "
                              "visible.")
        return faces[0]

    def _masks(self, aligned: AlignedFace
               ) -> tuple[torch.Tensor, Mapping[str, torch.Tensor], Occlusion | None]:
        if self.whole_crop:
            ones = torch.ones(1, 1, *aligned.crop.shape[:2])
            return ones, {self.regions[0]: ones}, None
        occlusion = None if self.occlusion is None else occlusion_of(aligned, self.occlusion)
        union = mask_tensor(visible_mask(self.masker, aligned, self.regions, occlusion))
        if len(self.regions) == 1:
            return union, {self.regions[0]: union}, occlusion
        return union, RegionMasks(self.masker, aligned, self.regions, occlusion), occlusion

    def photo_jobs(self, rgb: np.ndarray, faces: Sequence[Face], pairs: Sequence[PairPhoto], owner: int | None, *,
                   seed: int, times: StageTimes, trace: CostTrace,
                   known: Sequence[Mapping[str, torch.Tensor]] | None = None) -> list[FaceJob]:
        """One job per face (face ``i`` gets seed ``seed + i``); the pair photos anchor face ``owner`` only, the
        others are protected in single mode. ``known[i]``: embeddings of face ``i``'s crop in this preparer's frame,
        already computed (by the judges), so no surrogate embeds the same crop twice."""
        with times("align_mask"):
            aligned = [align_face(rgb, f, self.template) for f in faces]
            masks = [self._masks(al) for al in aligned]
            pair_crops = [crop_to_tensor(align_face(p.rgb, p.face, self.template).crop) for p in pairs]
        jobs = []
        with times("anchors"):
            pair_emb = encode_anchors(self.engine.embedders, pair_crops, trace) if pairs else None
            label = "pair:" + ",".join(p.name for p in pairs)
            for i, (al, (union, per_region, occlusion)) in enumerate(zip(aligned, masks, strict=True)):
                mine = pair_emb is not None and owner == i
                jobs.append(make_job(
                    self.engine, crop_to_tensor(al.crop), union, self.prompt, region_masks=per_region,
                    plan=self.plan, anchors=pair_crops if mine else (), anchor_embeddings=pair_emb if mine else None,
                    seed=seed + i, index=i, anchor_label=label if mine else "self", aligned=al, trace=trace,
                    source_embeddings=known[i] if known is not None else None, occlusion=occlusion))
        return jobs

    def crop_job(self, crop: np.ndarray, mask: np.ndarray | None, pairs: Sequence[np.ndarray], *, seed: int,
                 names: Sequence[str], trace: CostTrace) -> FaceJob:
        """The job for an input that already is an aligned crop (no detection); ``mask`` defaults to the whole crop
        and colours the first region; pair crops are resized to the crop."""
        m = mask_tensor(mask if mask is not None else np.ones(crop.shape[:2], np.float32))
        anchors = [crop_to_tensor(resize_rgb(p, crop.shape[:2])) for p in pairs]
        return make_job(self.engine, crop_to_tensor(crop), m, self.prompt, region_masks={self.regions[0]: m},
                        plan=self.plan, anchors=anchors, seed=seed,
                        anchor_label=("pair:" + ",".join(names)) if pairs else "self", trace=trace)


def occlusion_of(aligned: AlignedFace, config: OcclusionConfig = OcclusionConfig()) -> Occlusion:
    """`faces.occlusion.find_occlusion` on an aligned face (its landmark spread mapped into crop pixels)."""
    spread = getattr(aligned.face, "landmark_spread", None)
    return find_occlusion(aligned.crop, aligned.landmarks68, None if spread is None else spread * aligned.scale,
                          config)


def visible_mask(masker: RegionMasker, aligned: AlignedFace, regions: Sequence[str],
                 occlusion: Occlusion | None) -> np.ndarray:
    """The soft mask of those of ``regions`` that are not bare, minus the occluder's pixels (zeros when all are)."""
    if occlusion is None:
        return masker(aligned, regions)
    bare = occlusion.bare(regions)
    shown = [r for r in regions if r not in bare]
    if not shown:
        return np.zeros(aligned.crop.shape[:2], np.float32)
    return occlusion.apply(masker(aligned, shown))


def resize_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == tuple(shape):
        return rgb
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize((shape[1], shape[0]), Image.Resampling.LANCZOS))
