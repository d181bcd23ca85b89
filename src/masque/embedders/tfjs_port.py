"""The base of our hand-built ports of TFJS graphs, and the NHWC -> NCHW kernel layouts they load.

A subclass says how the graph's constants become its state dict (`state_from_graph`) and which ops the graph must
hold (`check_graph`), so a file with another structure fails with one clear error instead of loading into the wrong
places; `create_embedder` loads either the graph (`read_weights`) or a PyTorch state dict of the port.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoints import assign_state_strict
from .formats.tfjs_format import TfjsGraph, read_tfjs_graph
from .weights import ConvertsWeights, WeightsFormat


def conv_kernel(hwio: np.ndarray) -> torch.Tensor:
    """Conv2D kernel (kh, kw, in, out) -> PyTorch (out, in, kh, kw)."""
    return torch.from_numpy(np.ascontiguousarray(hwio.transpose(3, 2, 0, 1)))


def depthwise_kernel(hwcm: np.ndarray) -> torch.Tensor:
    """DepthwiseConv2dNative kernel (kh, kw, C, M) -> PyTorch grouped (C*M, 1, kh, kw); TF's output channel c*M+m."""
    kh, kw, c, m = hwcm.shape
    return torch.from_numpy(np.ascontiguousarray(hwcm.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None]))


class TfjsBackbone(ConvertsWeights, nn.Module):
    """A PyTorch port of one TFJS graph. Subclasses say how the graph's constants become their state dict
    (`state_from_graph`) and which ops the graph must hold (`check_graph`), so a file with another structure fails
    with one clear error instead of loading into the wrong places."""

    weights_name = "tfjs"  # the registry name, used in error messages
    weights_format = WeightsFormat(".json", code=("masque.embedders.formats.tfjs_format",))

    def state_from_graph(self, graph: TfjsGraph) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def check_graph(self, graph: TfjsGraph) -> None:
        raise NotImplementedError

    def read_weights(self, path: Path) -> None:
        """A TFJS ``model.json`` (weights beside it), its ops checked against the port's."""
        graph = read_tfjs_graph(path)
        self.check_graph(graph)
        assign_state_strict(self, self.state_from_graph(graph), name=self.weights_name, source=path)
