"""The one pairwise adversarial objective (DESIGN.md); both engines and the evaluator call it.

MASQUE protects by *dodging*: it lowers the similarity between the protected face and another photo of the same
person (the anchor), so no target identity is needed. For models m = 1..M with embedding f_m, anchors a_1..a_K,
optional source crop s and optional transforms T ~ EOT:

    L(x) = 1/M sum_m [ (1 - w) 1/K sum_k h_mk  +  w max_k h_mk  +  w_src * cos(f_m(T x), f_m(s)) ]     (minimised)

with h_mk = h_m(cos(f_m(T x), f_m(a_k))) and the closest anchor weighted w (`PairwiseConfig.worst_anchor`; with one
anchor both are the plain term). h_m(c) = c (or, calibrated, max((c - t_m) / (1 - t_m), floor) so every model's
range counts alike), or the hinge h_m(c) = max(0, c - (t_m - margin)) when a margin is set (t_m: the model's FAR 0.01
threshold, else its own same-person threshold), so models already pushed past their threshold stop dominating the
gradient. The expectation over T (Athalye et al. 2018, "expectation over transformation") averages ``samples``
seeded draws of a small random jitter of the alignment (shift, scale, rotation), resize, blur, colour and
differentiable JPEG (kornia); each model draws its own T (input diversity, Xie et al. 2019), which is what makes a
perturbation carry over to recognisers that were not optimised against. With no pair photo the anchor is the source
photo itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import kornia
import torch
import torch.nn.functional as F

from .embedders import FaceEmbedder
from .errors import InputError
from .trace import CostTrace


@dataclass
class PairwiseLoss:
    """The scalar objective plus each model's mean cosine to the anchors (detached, for logs and sidecars)."""

    loss: torch.Tensor
    per_model: dict[str, float]
    # each model's cosine to its closest anchor (the verdict's rule: matching any reference photo is recognition)
    worst: dict[str, float] = field(default_factory=dict)
    # each model's own term (the loss is their mean): what per-model gradient balancing differentiates one by one
    terms: dict[str, torch.Tensor] = field(default_factory=dict)


AnchorEmbeddings = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class EOTConfig:
    """Transform distribution of the expectation over transformation; each transform is applied with prob. ``p``."""

    samples: int = 2  # transformed copies averaged per call
    p: float = 0.5
    jpeg_quality: tuple[int, int] | None = (50, 95)
    resize_scale: tuple[float, float] | None = (0.5, 1.0)  # down-then-up resampling factor
    blur_sigma: tuple[float, float] | None = (0.3, 1.2)  # pixels of the crop
    # Alignment jitter (every draw): shift up to +-3 % of the crop, scale, rotation up to +-4 degrees -- the spread
    # between two landmark detectors' alignments of the same face.
    shift: float | None = 0.03
    scale: tuple[float, float] | None = (0.95, 1.05)
    rotation_deg: float | None = 4.0
    colour: float | None = 0.05  # brightness +-, contrast and saturation factors 1 +- (2x) this
    per_model: bool = True  # each surrogate sees its own draws (input diversity across models), same cost
    seed: int = 0


@dataclass(frozen=True)
class PairwiseConfig:
    """Optional extensions of the pairwise objective; the defaults give the plain mean cosine to the anchors."""

    source_weight: float = 0.0  # w_src: repulsion from the source crop's own embedding
    margin: float | None = None  # hinge at (threshold - margin) per model
    eot: EOTConfig | None = None
    # per-model calibration: each cosine c becomes max((c - t_m) / (1 - t_m), floor), t_m the model's verdict
    # threshold, so a model with a narrow cosine range (dlib: same person above 0.91) weighs as much as one with a
    # wide range, and a model already far past its threshold (below `floor`) stops pulling the gradient
    calibrated: bool = False
    floor: float = -1.0
    # with several anchors, the weight of the closest one (the rest of the weight is their mean): a judge holding
    # several photos of the person recognises the face when it matches any of them, so the mean alone let one photo
    # be pushed far while another still matched (`max`, alex1: mobileface-v3 at 0.37 / 0.14 to its two pairs,
    # threshold 0.24)
    worst_anchor: float = 0.0


# ---- surrogate selection ---------------------------------------------------------------------------------------------

def select_surrogates(available: Sequence[str], surrogates: Sequence[str] | None = None,
                      black_box: str | Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Leave-one-out split of the FR models into (surrogates optimised against, held-out black boxes).

    ``surrogates=None`` takes every available model except the black box(es); the literature protocol optimises on
    three models and tests on the fourth. Without a black box and explicit surrogates, nothing is held out.
    """
    available = list(dict.fromkeys(available))
    held = [black_box] if isinstance(black_box, str) else list(black_box or [])
    unknown = [n for n in [*held, *(surrogates or [])] if n not in available]
    if unknown:
        raise InputError(f"`surrogates`/`black_box` must be among the available models {available}, got {unknown}; "
                         "see `masque models list`.")
    if surrogates is None:
        chosen = [n for n in available if n not in held]
    else:
        chosen = list(dict.fromkeys(surrogates))
        clash = [n for n in chosen if n in held]
        if clash:
            raise InputError(f"`surrogates` must not contain the black-box model(s) {clash}: a held-out model judges "
                             "transfer only.")
    if not chosen:
        raise InputError(f"`surrogates` is empty: available {available}, black box {held}; import another model "
                         "with `masque models import` or drop the black box.")
    held_out = held if held else ([n for n in available if n not in chosen] if surrogates is not None else [])
    return chosen, held_out


# ---- EOT: alignment jitter, resize, blur, colour, JPEG (kornia) ------------------------------------------------------

def diff_jpeg(x: torch.Tensor, quality: float) -> torch.Tensor:
    """Differentiable JPEG at ``quality`` (kornia: YCbCr, 4:2:0 chroma subsampling as real encoders do, 8x8 DCT,
    IJG tables, differentiable rounding); any size (kornia pads to the 16-px macroblock)."""
    q = torch.full((x.shape[0],), float(quality), dtype=x.dtype, device=x.device)
    return kornia.enhance.jpeg_codec_differentiable(x.clamp(0, 1), q)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    return kornia.filters.gaussian_blur2d(x, (2 * radius + 1,) * 2, (sigma, sigma), border_type="reflect")


def random_resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(8, round(h * scale)), max(8, round(w * scale))), mode="bilinear",
                          antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def jitter_alignment(x: torch.Tensor, shift: tuple[float, float], scale: float, angle_deg: float) -> torch.Tensor:
    """Similarity warp of the crop about its centre: ``shift`` in crop fractions, ``scale``, rotation in degrees.

    Each recogniser aligns the crop into its own template with a fixed transform; a recogniser in the wild uses its
    own detector and landmarks, so its alignment differs by a few pixels and degrees. Optimising under such jitter
    (Athalye et al. 2018; input diversity, Xie et al. 2019) keeps the makeup from over-fitting our exact alignment.
    """
    b, _, h, w = x.shape
    centre = torch.tensor([[(w - 1) / 2, (h - 1) / 2]], dtype=x.dtype, device=x.device).expand(b, 2)
    m = kornia.geometry.transform.get_affine_matrix2d(
        torch.tensor([[shift[0] * w, shift[1] * h]], dtype=x.dtype, device=x.device).expand(b, 2), centre,
        torch.full((b, 2), scale, dtype=x.dtype, device=x.device),
        torch.full((b,), angle_deg, dtype=x.dtype, device=x.device))
    return kornia.geometry.transform.warp_affine(x, m[:, :2], (h, w), padding_mode="border", align_corners=True)


class EOT:
    """Seeded sampler of differentiable transforms; keep one per optimisation so every call draws new ones."""

    def __init__(self, config: EOTConfig = EOTConfig()):
        if config.samples < 1 or not 0.0 <= config.p <= 1.0:
            raise InputError(f"`eot` needs samples >= 1 and 0 <= p <= 1, got samples={config.samples}, p={config.p}.")
        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)

    def _u(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=self.generator))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """One random draw: alignment jitter (always, when configured), then resize, blur, colour and JPEG, each
        with probability ``p``."""
        c = self.config
        if c.shift or c.scale or c.rotation_deg:
            s, r = c.shift or 0.0, c.rotation_deg or 0.0
            x = jitter_alignment(x, (self._u(-s, s), self._u(-s, s)), self._u(*(c.scale or (1.0, 1.0))),
                                 self._u(-r, r))
        if c.resize_scale and self._u(0, 1) < c.p:
            x = random_resize(x, self._u(*c.resize_scale))
        if c.blur_sigma and self._u(0, 1) < c.p:
            x = gaussian_blur(x, self._u(*c.blur_sigma))
        if c.colour and self._u(0, 1) < c.p:
            x = kornia.enhance.adjust_brightness(x, self._u(-c.colour, c.colour))
            x = kornia.enhance.adjust_contrast(x, self._u(1 - c.colour, 1 + c.colour))
            x = kornia.enhance.adjust_saturation(x, self._u(1 - 2 * c.colour, 1 + 2 * c.colour))
        if c.jpeg_quality and self._u(0, 1) < c.p:
            x = diff_jpeg(x, round(self._u(*c.jpeg_quality)))
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (samples * B, 3, H, W), sample-major."""
        return torch.cat([self.transform(x) for _ in range(self.config.samples)], dim=0)


# ---- the objective ---------------------------------------------------------------------------------------------------

def _device_of(model: FaceEmbedder, fallback: torch.device) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else fallback


@torch.no_grad()
def encode_anchors(
    embedders: Sequence[FaceEmbedder], anchors: Sequence[torch.Tensor], trace: CostTrace | None = None
) -> dict[str, torch.Tensor]:
    """Embed the anchor crops once per model: (K, D) per model name. Anchors are constants of the objective."""
    if not anchors:
        raise ValueError("`anchors` must hold at least one crop (use the source crop itself in single mode)")
    batch = torch.cat(list(anchors), dim=0)
    out = {}
    for model in embedders:
        out[model.name] = model(batch.to(_device_of(model, batch.device)))
        if trace is not None:
            trace.add(f"fr:{model.name}")
    return out


def margin_threshold(model: FaceEmbedder) -> float:
    """The threshold the margin hinges on: FAR 0.01 where defined, else the model's own (strictest) rule."""
    if not model.thresholds:
        raise InputError(f"`margin` needs thresholds on {model.name!r}; pass margin=None.")
    return model.verdict_threshold


def _calibrate(cos: torch.Tensor, model: FaceEmbedder, floor: float) -> torch.Tensor:
    t = margin_threshold(model)
    return ((cos - t) / max(1.0 - t, 1e-3)).clamp_min(floor)


def pairwise_loss(
    embedders: Sequence[FaceEmbedder],
    protected: torch.Tensor,
    anchors: Sequence[torch.Tensor] | AnchorEmbeddings,
    *,
    trace: CostTrace | None = None,
    backward: bool = True,
    source: torch.Tensor | AnchorEmbeddings | None = None,
    config: PairwiseConfig = PairwiseConfig(),
    eot: EOT | None = None,
) -> PairwiseLoss:
    """The objective above for ``protected`` (B, 3, H, W) generation crops; ``per_model`` = mean cosine to anchors.

    ``anchors``/``source`` may be raw crops or `encode_anchors` output (preferred inside optimisation loops).
    ``eot``: pass one `EOT` per optimisation so each step draws new transforms; without it a sampler seeded with
    ``config.eot.seed`` is built per call (the same draws every call). ``backward`` only tells the cost trace whether
    the caller will back-propagate through this call.
    """
    if not embedders:
        raise ValueError("`embedders` must hold at least one FaceEmbedder")
    anchor_emb = anchors if isinstance(anchors, Mapping) else encode_anchors(embedders, anchors, trace)
    if config.source_weight and source is None:
        raise InputError("`source` is required when `source_weight` is non-zero (pass the source crop).")
    source_emb = None
    if config.source_weight:
        source_emb = source if isinstance(source, Mapping) else encode_anchors(embedders, [source], trace)
    if eot is None and config.eot is not None:
        eot = EOT(config.eot)
    shared = eot(protected) if eot is not None else protected
    terms, per_model, worst = [], {}, {}
    for i, model in enumerate(embedders):
        x = eot(protected) if eot is not None and eot.config.per_model and i else shared
        emb = model(x.to(_device_of(model, x.device)))
        if trace is not None:
            trace.add(f"fr:{model.name}", backward=backward)
        cos = emb @ anchor_emb[model.name].to(emb).T  # (samples * B, K)
        per_model[model.name] = float(cos.detach().mean())
        worst[model.name] = float(cos.detach().mean(0).max())
        if config.calibrated:
            cos = _calibrate(cos, model, config.floor)  # the floor plays the margin's part
        elif config.margin is not None:
            cos = torch.relu(cos - (margin_threshold(model) - config.margin))
        term = (1 - config.worst_anchor) * cos.mean() + config.worst_anchor * cos.mean(0).max()
        if source_emb is not None:
            src = emb @ source_emb[model.name].to(emb).T
            term = term + config.source_weight * (_calibrate(src, model, config.floor) if config.calibrated
                                                  else src).mean()
        terms.append(term.to(protected.device))
    return PairwiseLoss(loss=torch.stack(terms).mean(), per_model=per_model, worst=worst,
                        terms={model.name: t for model, t in zip(embedders, terms, strict=True)})
