"""Pixel-space baselines: PGD and region-masked PGD on the same pairwise objective as MASQUE.

Projected gradient descent (Madry et al. 2018) with signed gradients under an L-infinity budget:

    delta <- clip_[-eps, eps]( delta - alpha * sign(grad_delta L(x + M * delta)) ),   x + M * delta in [0, 1]

where L is `masque.adversarial.pairwise_loss` (mean cosine to the anchors, minimised: dodging) and M is 1 everywhere
(``pgd``) or the soft makeup-region mask (``masked-pgd``, the pixel counterpart of MASQUE's localized edit).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from ..adversarial import pairwise_loss
from ..embedders import FaceEmbedder
from ..engines.base import FaceJob, ProgressCallback, ProtectResult
from ..errors import InputError
from ..makeup.prompt import MakeupPlan, resolve_plan
from ..trace import CostTrace


@dataclass(frozen=True)
class PGDConfig:
    """Budget and schedule; ``epsilon`` 8/255 is the usual L-infinity budget of the anti-FR literature."""

    epsilon: float = 8 / 255
    step_size: float = 1 / 255
    steps: int = 50
    random_start: bool = False
    crop_size: int = 256  # generation crop the noise is optimised on (pasted back like any engine's edit)

    def check(self) -> None:
        if not 0 < self.epsilon <= 1:
            raise InputError(field="epsilon", rule=f"must lie in (0, 1] (pixel range [0, 1]), got {self.epsilon}.")
        if self.step_size <= 0:
            raise InputError(field="pgd_step_size", rule=f"must be positive, got {self.step_size}.")
        if self.steps < 1:
            raise InputError(field="pgd_steps", rule=f"must be at least 1, got {self.steps}.")


class PGDBaseline:
    """An `Engine`-shaped PGD attacker (``masked=True`` confines the perturbation to the region mask)."""

    def __init__(self, embedders: Sequence[FaceEmbedder], config: PGDConfig = PGDConfig(), *, masked: bool = False):
        if not embedders:
            raise InputError("`embedders` must hold at least one surrogate model, e.g. [create_embedder('dlib')].")
        config.check()
        self.embedders = list(embedders)
        self.config = config
        self.masked = masked
        self.name = "masked-pgd" if masked else "pgd"

    @property
    def crop_size(self) -> int:
        return self.config.crop_size

    def plan(self, prompt: str, region: str | Sequence[str] | None = None) -> MakeupPlan:
        """`Engine.plan`: pixel noise paints no product; the prompt only gives the region ``masked`` confines it to."""
        return resolve_plan(prompt, None, region)

    def protect(self, job: FaceJob, progress: ProgressCallback | None = None, start=None) -> ProtectResult:
        """`Engine.protect` on the job's crop; the mask confines the noise only when ``masked``."""
        crop, seed = job.crop, job.seed
        cfg = self.config
        trace = CostTrace()
        start = time.perf_counter()
        m = job.mask.to(crop) if self.masked else torch.ones_like(crop[:, :1])
        anchor_emb = job.anchor_embeddings
        if cfg.random_start:
            g = torch.Generator(device="cpu").manual_seed(seed)
            delta = (torch.rand(crop.shape, generator=g) * 2 - 1).to(crop) * cfg.epsilon
        else:
            delta = torch.zeros_like(crop)
        for step in range(cfg.steps):
            delta.requires_grad_(True)
            adv = (crop + m * delta).clamp(0, 1)
            loss = pairwise_loss(self.embedders, adv, anchor_emb, trace=trace).loss
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = (delta - cfg.step_size * grad.sign()).clamp(-cfg.epsilon, cfg.epsilon)
                delta = (crop + delta).clamp(0, 1) - crop  # keep x + delta a valid image
            if progress is not None:
                progress(self.name, step + 1, cfg.steps)
        with torch.no_grad():
            image = (crop + m * delta).clamp(0, 1)
            after = pairwise_loss(self.embedders, image, anchor_emb, trace=trace, backward=False).per_model
        details = {"method": self.name, "config": asdict(self.config), "surrogates": [e.name for e in self.embedders],
                   "seconds": time.perf_counter() - start}
        return ProtectResult(image=image.detach(), trace=trace, details=details,
                             similarity_before=job.similarity_before(), similarity_after=after)
