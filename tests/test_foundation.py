"""Invariants of the shared seams: templates/warp, cost trace, the pairwise objective, the embedder registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masque.adversarial import encode_anchors, pairwise_loss
from masque.embedders import create_embedder, list_embedders
from masque.errors import InputError
from masque.faces.templates import ARCFACE_112, GENERATION_512, generation_template, similarity_matrix, warp_between
from masque.trace import CostTrace


def test_similarity_matrix_recovers_known_transform():
    angle, scale, t = 0.3, 1.7, np.array([5.0, -2.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_112.pixels()
    dst = src @ rot.T + t
    m = similarity_matrix(src, dst)
    np.testing.assert_allclose(m[:2, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:2, 2], t, atol=1e-9)


def test_warp_moves_landmarks_onto_the_target_template():
    """Draw a dot at each generation-template landmark; after warping it must sit on the ArcFace landmark."""
    size = 256
    img = torch.zeros(1, 1, size, size)
    pts = GENERATION_512.pixels(size)
    for x, y in pts:
        img[0, 0, round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2] = 1.0
    out = warp_between(img, GENERATION_512, ARCFACE_112)[0, 0]
    for x, y in ARCFACE_112.pixels():
        xi, yi = int(round(x)), int(round(y))
        window = out[yi - 2 : yi + 3, xi - 2 : xi + 3]
        assert window.max() > 0.5, (x, y)
    assert out.sum() < 5 * 9  # nothing but the five dots


def test_warp_is_resolution_independent_and_differentiable():
    torch.manual_seed(0)
    big = torch.rand(1, 3, 128, 128, requires_grad=True)
    out = warp_between(big, GENERATION_512, ARCFACE_112)
    assert out.shape == (1, 3, 112, 112)
    out.sum().backward()
    assert big.grad is not None and big.grad.abs().sum() > 0


def test_generation_template_rejects_bad_scale():
    with pytest.raises(ValueError, match="face_scale"):
        generation_template(face_scale=0.0)


def test_cost_trace_counts_nfe():
    tr = CostTrace()
    tr.add("unet", 4)
    tr.add("unet", 2, backward=True)
    tr.add("fr:x", backward=True)
    assert tr.nfe("unet") == 4 + 3 * 2
    assert tr.nfe() == 10 + 3
    assert tr.to_dict()["components"]["unet"]["forward_backward"] == 2


def test_pairwise_loss_is_mean_cosine_and_lowers_under_gradient_steps():
    model = create_embedder("tiny-random")
    torch.manual_seed(0)
    anchor = torch.rand(1, 3, 64, 64)
    x = anchor.clone().requires_grad_(True)
    trace = CostTrace()
    emb = encode_anchors([model], [anchor], trace)
    first = pairwise_loss([model], x, emb, trace=trace)
    assert first.per_model["tiny-random"] == pytest.approx(1.0, abs=1e-5)  # same image, same embedding
    for _ in range(10):
        res = pairwise_loss([model], x, emb, trace=trace)
        (grad,) = torch.autograd.grad(res.loss, x)
        x = (x - 2 / 255 * grad.sign()).clamp(0, 1).detach().requires_grad_(True)
    assert pairwise_loss([model], x, emb).per_model["tiny-random"] < first.per_model["tiny-random"] - 0.01
    assert trace.calls("fr:tiny-random") == 1 + 1 + 10


def test_registry_lists_and_rejects_unknown():
    assert "tiny-random" in list_embedders()
    with pytest.raises(InputError, match="`embedder` must be one of"):
        create_embedder("no-such-model")
