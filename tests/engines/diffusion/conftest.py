"""Fixtures of the diffusion-engine tests: the tiny SD pipeline (loaded from disk), a real face crop and a mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from masque.engines.diffusion import DiffusionConfig, GuidanceConfig, InversionConfig, MasquePipeline

STEPS = 5
METHODS = ("null-text", "direct", "negative-prompt")  # every `InversionConfig.method`; invariant tests run them all
# Few steps need a larger per-step null-text correction than the paper's lr=1e-2 at 50 steps.
FAST_INVERSION = InversionConfig(method="null-text", num_steps=STEPS, lr=0.3, inner_iters=10)
NO_GUIDANCE = GuidanceConfig(strength=0.0)


@pytest.fixture(scope="module")
def tiny_pipe(tiny_sd_dir) -> MasquePipeline:
    return MasquePipeline.from_pretrained(tiny_sd_dir, config=DiffusionConfig(inversion=FAST_INVERSION,
                                                                              guidance=NO_GUIDANCE))


@pytest.fixture(scope="session")
def face_crop(faces_dir) -> torch.Tensor:
    """A real face, square-cropped and resized to 80x80 (not the model's 64: exercises the resize path)."""
    im = Image.open(faces_dir / "obama.jpg").convert("RGB")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((80, 80), Image.BILINEAR)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]


@pytest.fixture(scope="session")
def lips_mask() -> torch.Tensor:
    """A soft rectangle in the lower middle of the crop (a stand-in for the lips region)."""
    m = torch.zeros(1, 1, 80, 80)
    m[..., 50:66, 24:56] = 1.0
    m[..., 48:50, 24:56] = 0.5  # feathered edge
    return m
