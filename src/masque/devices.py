"""The one place that says which torch device a run uses when the user named none."""

from __future__ import annotations


def default_device(device: str | None = None) -> str:
    """``device`` when given, else ``"cuda"`` when a CUDA GPU is visible, else ``"cpu"``."""
    if device:
        return str(device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
