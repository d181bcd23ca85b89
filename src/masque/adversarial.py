"""The one pairwise adversarial objective (DESIGN.md); both engines and the evaluator call it.

MASQUE protects by *dodging*: it lowers the similarity between the protected face and another photo of the same
person (the anchor), so no target identity is needed. For models m = 1..M with embedding f_m, anchors a_1..a_K,
optional source crop s and optional transforms T ~ EOT:

    L(x) = 1/M sum_m [ 1/K sum_k h_m(cos(f_m(T x), f_m(a_k)))  +  w_src * cos(f_m(T x), f_m(s)) ]     (minimised)

with h_m(c) = c (or, calibrated, max((c - t_m) / (1 - t_m), floor) so every model's range counts alike), or the
hinge h_m(c) = max(0, c - (t_m - margin)) when a margin is set (t_m: the model's FAR 0.01
threshold, else its own same-person threshold), so models already pushed past their threshold stop dominating the
gradient. The expectation over T (Athalye et al. 2018, "expectation over transformation") averages ``samples``
seeded draws of differentiable JPEG, resize and blur. With no pair photo the anchor is the source photo itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


AnchorEmbeddings = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class EOTConfig:
    """Transform distribution of the expectation over transformation; each transform is applied with prob. ``p``."""

    samples: int = 2  # transformed copies averaged per call
    p: float = 0.5
    jpeg_quality: tuple[int, int] | None = (50, 95)
    resize_scale: tuple[float, float] | None = (0.5, 1.0)  # down-then-up resampling factor
    blur_sigma: tuple[float, float] | None = (0.3, 1.2)  # pixels of the crop
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


# ---- EOT: differentiable JPEG, resize, blur --------------------------------------------------------------------------

_JPEG_LUMA = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=torch.float32)
_JPEG_CHROMA = torch.full((8, 8), 99.0)
_JPEG_CHROMA[:4, :4] = torch.tensor([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]])


def _dct_matrix(n: int = 8) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    m = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.float()  # orthonormal DCT-II


def _soft_round(x: torch.Tensor) -> torch.Tensor:
    """round(x) + (x - round(x))^3 (Shin & Song 2017): JPEG's rounding with a useful gradient."""
    r = torch.round(x)
    return r + (x - r) ** 3


def diff_jpeg(x: torch.Tensor, quality: float) -> torch.Tensor:
    """Differentiable JPEG (YCbCr, 8x8 DCT, IJG quality-scaled tables, soft rounding; no chroma subsampling)."""
    b, c, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    xp = F.pad(x, (0, pw, 0, ph), mode="replicate") * 255.0
    rgb2ycc = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
                           dtype=x.dtype, device=x.device)
    shift = torch.tensor([0.0, 128.0, 128.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    ycc = torch.einsum("ij,bjhw->bihw", rgb2ycc, xp) + shift - 128.0
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    tables = [((t * scale + 50.0) / 100.0).floor().clamp(min=1.0) for t in (_JPEG_LUMA, _JPEG_CHROMA, _JPEG_CHROMA)]
    q = torch.stack(tables).to(x).view(1, 3, 1, 8, 1, 8)
    d = _dct_matrix().to(x)
    H, W = ycc.shape[-2:]
    blocks = ycc.view(b, 3, H // 8, 8, W // 8, 8)  # (n, c, block row a, i, block col e, j)
    coef = torch.einsum("ui,ncaiej,vj->ncauev", d, blocks, d)  # 2-D DCT per 8x8 block
    coef = _soft_round(coef / q) * q
    blocks = torch.einsum("ui,ncauev,vj->ncaiej", d, coef, d)
    ycc = blocks.reshape(b, 3, H, W) + 128.0 - shift
    out = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(rgb2ycc), ycc) / 255.0
    return out[..., :h, :w].clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).view(1, 1, 1, -1).repeat(x.shape[1], 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k, groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.transpose(2, 3), groups=x.shape[1])


def random_resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(8, round(h * scale)), max(8, round(w * scale))), mode="bilinear",
                          antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


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
        """One random draw (resize, then blur, then JPEG, each with probability ``p``)."""
        c = self.config
        if c.resize_scale and self._u(0, 1) < c.p:
            x = random_resize(x, self._u(*c.resize_scale))
        if c.blur_sigma and self._u(0, 1) < c.p:
            x = gaussian_blur(x, self._u(*c.blur_sigma))
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
    x = eot(protected) if eot is not None else protected
    terms, per_model = [], {}
    for model in embedders:
        emb = model(x.to(_device_of(model, x.device)))
        if trace is not None:
            trace.add(f"fr:{model.name}", backward=backward)
        cos = emb @ anchor_emb[model.name].to(emb).T  # (samples * B, K)
        per_model[model.name] = float(cos.detach().mean())
        if config.calibrated:
            cos = _calibrate(cos, model, config.floor)  # the floor plays the margin's part
        elif config.margin is not None:
            cos = torch.relu(cos - (margin_threshold(model) - config.margin))
        term = cos.mean()
        if source_emb is not None:
            src = emb @ source_emb[model.name].to(emb).T
            term = term + config.source_weight * (_calibrate(src, model, config.floor) if config.calibrated
                                                  else src).mean()
        terms.append(term.to(protected.device))
    return PairwiseLoss(loss=torch.stack(terms).mean(), per_model=per_model)
