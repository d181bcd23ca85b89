"""Strict checkpoint loading shared by every network MASQUE builds (FR models, the face parser).

A low-level helper (below faces and embedders in the layering), so the face parser does not import the FR package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from .errors import WeightsError


def load_state_dict_strict(module: nn.Module, path: str | Path, *, name: str, mmap: bool = False) -> None:
    """Load a checkpoint file into ``module`` with strict keys; mismatches become one clear error. ``mmap``: map the
    file instead of reading it (zip checkpoints only: MASQUE's own converted copies)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"`weights` for {name!r}: file {str(path)!r} does not exist; pass the checkpoint path or "
                           f"run `masque models import {name} FILE`.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise WeightsError(
            f"`weights` for {name!r}: {str(path)!r} is not a readable PyTorch checkpoint ({exc})."
        ) from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"`weights` for {name!r}: {str(path)!r} holds a {type(state).__name__}, not a state dict.")
    assign_state_strict(module, state, name=name, source=path)


def assign_state_strict(module: nn.Module, state: Mapping[str, torch.Tensor], *, name: str, source: str | Path) -> None:
    """Load ``state`` (read from ``source``: a checkpoint, or a converted graph) into ``module`` with strict keys and
    shapes; one clear error otherwise."""
    path = source
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = module.state_dict()
    # Checkpoints saved before PyTorch 0.4.1 lack BatchNorm's `num_batches_tracked` (unused in eval; BN fills it).
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsError(
            f"`weights` for {name!r}: {str(path)!r} does not match the architecture: "
            f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}."
        )
    bad = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise WeightsError(f"`weights` for {name!r}: {str(path)!r} key {k!r} has shape {tuple(state[k].shape)}, "
                           f"expected {tuple(own[k].shape)}.")
    # assign, not copy: `load_state_dict`'s per-tensor copy costs ~0.6 s for FaceNet's 714 tensors on 2 cores (issue
    # 15); the module's dtype and a contiguous layout are kept
    state = {k: v.to(own[k].dtype).contiguous() if k in own else v for k, v in state.items()}
    module.load_state_dict(state, strict=True, assign=True)
