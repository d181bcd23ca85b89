"""The parametric engine: adversarial makeup found by Adam on a handful of makeup parameters (fast CPU mode).

Objective per step (minimised), with X = makeup(θ) and R = the reference makeup (θ = 0):

    L(θ) = L_pair(X)                                           pairwise dodging loss (masque.adversarial)
         + λ_b · max(0, ΔE_M(X, R) / τ − 1)²                    perceptual budget: mean CIE76 ΔE inside the mask
         + λ_c · max(0, ΔE(mean_M X, mean_M R) − τ_c) / τ_c       colour fidelity: the shade still reads as asked

Only iterates whose ΔE_M ≤ τ are eligible as the answer (θ = 0 always is), so the budget holds exactly for the
returned image; the penalty just keeps the search near the feasible set. The run stops early once every surrogate's
cosine to the anchors is below its target (threshold minus margin).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import torch

from ...adversarial import EOT, PairwiseConfig, margin_threshold, pairwise_loss
from ...embedders import FaceEmbedder
from ...errors import InputError
from ...trace import CostTrace
from ..base import FaceJob, ProgressCallback, ProtectResult
from .colors import REGION_COVERAGE, MakeupColor, color_for_prompt
from .makeup import MakeupBounds, MakeupLayer, mask_box, masked_mean, rgb_to_lab


@dataclass(frozen=True)
class ParametricConfig:
    """Settings of the fast engine (serialised into the sidecar via `ProtectResult.details`)."""

    steps: int = 30  # maximum Adam iterations (one FR forward+backward per surrogate each)
    lr: float = 0.1
    makeup: MakeupBounds = field(default_factory=MakeupBounds)
    budget_delta_e: float = 15.0  # τ: mean ΔE (CIE76) inside the mask between the result and the reference makeup
    budget_weight: float = 4.0  # λ_b
    color_tolerance: float = 6.0  # τ_c: ΔE allowed between the mean colours of the result and the reference
    color_weight: float = 0.5  # λ_c
    # key of `spec.thresholds` giving each surrogate's stop target; "auto": far0.01 where the model has it, else its
    # lowest (hardest to dodge) threshold; None: never stop early
    stop_threshold: str | None = "auto"
    stop_margin: float = 0.1  # stop once cos < threshold − margin for every surrogate (transfer headroom)
    min_steps: int = 1  # iterations before early stopping may trigger
    # the shared objective's options: source repulsion (on by default: free, one extra FR forward; on obama it added
    # ~0.02 dlib distance to the pair photo), hinge margin, EOT (multiplies the FR cost by its samples)
    pairwise: PairwiseConfig = field(default_factory=lambda: PairwiseConfig(source_weight=1.0))
    crop_size: int = 256  # generation crop side: the layer is smooth, so 256² keeps FR gradients cheap; paste-back
    #                       restores full resolution
    color: str | None = None  # explicit pigment (name or #rrggbb) overriding the prompt

    def __post_init__(self):
        if self.steps < 0 or self.min_steps < 0:
            raise InputError(f"`steps`/`min_steps` must be >= 0, got {self.steps}/{self.min_steps}.")
        if self.lr <= 0 or self.budget_delta_e <= 0 or self.color_tolerance <= 0:
            raise InputError(f"`lr`, `budget_delta_e` and `color_tolerance` must be > 0, got {self.lr}, "
                             f"{self.budget_delta_e}, {self.color_tolerance}.")


class ParametricEngine:
    """`Engine` protocol implementation; ``embedders`` are the white-box surrogates (a frozen ensemble)."""

    name = "parametric"

    def __init__(self, embedders: Sequence[FaceEmbedder], config: ParametricConfig | None = None):
        if not embedders:
            raise InputError("`embedders` must hold at least one face-recognition model, e.g. "
                             "[create_embedder('dlib')].")
        self.embedders = list(embedders)
        self.config = config or ParametricConfig()

    @property
    def crop_size(self) -> int:
        return self.config.crop_size

    # -- 1. inputs -------------------------------------------------------------------------------------------
    @staticmethod
    def check_inputs(crop: torch.Tensor, mask: torch.Tensor, anchors: Sequence[torch.Tensor]) -> None:
        if crop.ndim != 4 or crop.shape[:2] != (1, 3):
            raise InputError(f"`crop` must have shape (1, 3, H, W), got {tuple(crop.shape)}.")
        if mask.shape != (1, 1, *crop.shape[-2:]):
            raise InputError(f"`mask` must have shape (1, 1, {crop.shape[-2]}, {crop.shape[-1]}) like the crop, "
                             f"got {tuple(mask.shape)}.")
        if float(crop.min()) < 0 or float(crop.max()) > 1 or float(mask.min()) < 0 or float(mask.max()) > 1:
            raise InputError("`crop` and `mask` values must lie in [0, 1]; convert uint8 images with crop_to_tensor.")
        if float(mask.max()) <= 0:
            raise InputError("`mask` is empty (all zeros): the prompt's region was not found on this face; pick "
                             "another region or check the face detection.")
        if not anchors:
            raise InputError("`anchors` must hold at least one crop (the source crop itself in single mode).")

    # -- 2. colour ---------------------------------------------------------------------------------------------
    def plan(self, prompt: str, regions: tuple[str, ...]) -> dict[str, MakeupColor]:
        """`Engine.plan`: each region's shade, read from its own clause of the prompt (``config.color`` overrides)."""
        return {r: color_for_prompt(prompt, r, self.config.color) for r in regions}

    @staticmethod
    def pigment_map(colors: Mapping[str, MakeupColor], region_masks: Mapping[str, torch.Tensor], like: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel pigment (1, 3, H, W) and coverage (1, 1, H, W): each region's shade blended by the masks where
        they overlap ("red lipstick and plum eyeshadow"); outside every mask, the first region's."""
        num, cov = torch.zeros_like(like), torch.zeros_like(like[:, :1])
        den = torch.zeros_like(like[:, :1])
        for r, m in region_masks.items():
            if m.shape != den.shape:
                raise InputError(f"`region_masks[{r!r}]` must have shape {tuple(den.shape)}, got {tuple(m.shape)}.")
            rgb = torch.tensor(colors[r].rgb, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
            m = m.to(like)
            num, cov, den = num + m * rgb, cov + m * REGION_COVERAGE.get(r, 1.0), den + m
        first = next(iter(region_masks))
        fallback = torch.tensor(colors[first].rgb, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)
        inside = den > 0
        pigment = torch.where(inside, num / den.clamp_min(1e-8), fallback)
        coverage = torch.where(inside, cov / den.clamp_min(1e-8), torch.full_like(den, REGION_COVERAGE.get(first, 1.0)))
        return pigment, coverage

    def stop_targets(self) -> dict[str, float] | None:
        """Per-surrogate cosine below which the run may stop (threshold − margin); None when early stop is off."""
        key = self.config.stop_threshold
        if key is None:
            return None
        return {m.name: _threshold(m, key) - self.config.stop_margin for m in self.embedders}

    @torch.no_grad()
    def _similarities(self, image: torch.Tensor, anchor_emb: Mapping[str, torch.Tensor], trace: CostTrace
                      ) -> dict[str, float]:
        return pairwise_loss(self.embedders, image, anchor_emb, trace=trace, backward=False).per_model

    # -- 3. optimise ------------------------------------------------------------------------------------------
    def protect(self, job: FaceJob, progress: ProgressCallback | None = None) -> ProtectResult:
        """`Engine.protect`: each region of ``job.region_masks`` gets its shade from ``job.plan``; the anchors' and
        the source's embeddings come prepared with the job."""
        cfg = self.config
        t0 = time.perf_counter()
        self.check_inputs(job.crop, job.mask, job.anchors)
        crop, mask = job.crop.detach(), job.mask.detach().to(job.crop)
        colors = {r: job.plan[r] for r in job.region_masks}
        targets = self.stop_targets()
        trace = CostTrace()
        base, coverage = self.pigment_map(colors, job.region_masks, crop)
        anchor_emb = job.anchor_embeddings
        before = job.similarity_before()
        source_emb = job.source_embeddings if cfg.pairwise.source_weight else None
        eot = EOT(replace(cfg.pairwise.eot, seed=cfg.pairwise.eot.seed + job.seed)) if cfg.pairwise.eot else None

        gen = torch.Generator().manual_seed(job.seed)
        layer = MakeupLayer(tuple(crop.shape[-2:]), cfg.makeup, generator=gen).to(crop.device)
        with torch.no_grad():
            reference = layer(crop, mask, base, reference=True, coverage=coverage)
        box = mask_box(mask)
        perceptual = _PerceptualTerms(reference, mask, box)
        opt = torch.optim.Adam(layer.parameters(), lr=cfg.lr)

        best = {"score": float("inf"), "state": None, "step": 0, "sims": before}
        steps_run, stopped_early = 0, False
        for step in range(cfg.steps):
            image = layer(crop, mask, base, coverage=coverage)
            adv = pairwise_loss(self.embedders, image, anchor_emb, trace=trace, backward=True, source=source_emb,
                                config=cfg.pairwise, eot=eot)
            budget, fidelity = perceptual(image)
            loss = (adv.loss
                    + cfg.budget_weight * torch.relu(budget / cfg.budget_delta_e - 1).square()
                    + cfg.color_weight * torch.relu(fidelity - cfg.color_tolerance) / cfg.color_tolerance)
            steps_run, budget_now = step + 1, float(budget.detach())
            # θ_step was just evaluated: keep it if it is within budget and the best so far (worst surrogate first).
            score = max(adv.per_model[n] - (targets or {}).get(n, 0.0) for n in adv.per_model)
            if budget_now <= cfg.budget_delta_e and score < best["score"]:
                best = {"score": score, "state": _snapshot(layer), "step": step, "sims": adv.per_model}
            if progress is not None:
                progress("parametric", steps_run, cfg.steps)
            if targets is not None and steps_run >= cfg.min_steps and all(
                adv.per_model[n] < targets[n] for n in targets
            ) and budget_now <= cfg.budget_delta_e:
                stopped_early = True
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        # -- 4. answer: the best feasible iterate (θ = 0, the reference makeup, if none beat it) ---------------
        with torch.no_grad():
            if best["state"] is not None:
                layer.load_state_dict(best["state"])
                out = layer(crop, mask, base, coverage=coverage)
            else:
                out = reference
            out_budget = float(perceptual(out)[0])
        after = self._similarities(out, anchor_emb, trace)
        details = {
            "engine": self.name,
            "settings": asdict(cfg),
            "colors": {r: _color_info(c) for r, c in colors.items()},
            "stop_targets": targets,
            "iterations": steps_run,
            "best_iteration": best["step"] + 1 if best["state"] is not None else 0,
            "stopped_early": stopped_early,
            "delta_e_mean": out_budget,
            "opacity": float(layer.opacity().detach()) if best["state"] is not None else cfg.makeup.opacity,
            "seconds": time.perf_counter() - t0,
        }
        return ProtectResult(image=out.detach(), trace=trace, details=details, similarity_before=before,
                             similarity_after=after)


def _threshold(model: FaceEmbedder, key: str) -> float:
    """``model.thresholds[key]``; "auto" = the objective's own choice (`margin_threshold`: far0.01, the literature's
    operating point, or the model's same-person rule when it has no FAR calibration, as dlib)."""
    thr = model.thresholds
    if key == "auto":
        return margin_threshold(model)
    if key not in thr:
        raise InputError(f"`stop_threshold` must be 'auto', None or one of {sorted(thr)} for {model.name!r}, "
                         f"got {key!r}.")
    return thr[key]


class _PerceptualTerms:
    """ΔE_M(X, R) (budget) and ΔE(mean_M X, mean_M R) (colour fidelity), evaluated on the mask's bounding box only
    (the mask is zero elsewhere) with R's Lab image computed once."""

    def __init__(self, reference: torch.Tensor, mask: torch.Tensor, box: tuple[int, int, int, int]):
        y0, y1, x0, x1 = box
        self.window = (..., slice(y0, y1), slice(x0, x1))
        self.mask = mask[self.window]
        self.ref_lab = rgb_to_lab(reference[self.window])
        self.ref_mean = masked_mean(self.ref_lab, self.mask)

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lab = rgb_to_lab(image[self.window])
        per_pixel = (lab - self.ref_lab).pow(2).sum(1, keepdim=True).add(1e-12).sqrt()  # CIE76
        budget = masked_mean(per_pixel, self.mask).mean()
        fidelity = (masked_mean(lab, self.mask) - self.ref_mean).norm(dim=1).mean()
        return budget, fidelity


def _color_info(color: MakeupColor) -> dict[str, str]:
    return {"name": color.name, "hex": color.hex, "source": color.source}


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
