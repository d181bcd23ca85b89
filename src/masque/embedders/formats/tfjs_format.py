"""Reader for TensorFlow.js graph models (``model.json`` + ``*.bin`` weight shards).

Written from the format the TFJS converter writes (``tfjs-converter`` ``write_weights`` / ``read_weights``); no
TensorFlow is needed:
- ``model.json``: ``format`` ``"graph-model"``, ``modelTopology.node`` (a TensorFlow GraphDef as JSON: each node has
  ``name``, ``op``, ``input`` names and ``attr``), ``signature`` (named inputs/outputs) and ``weightsManifest``;
- ``weightsManifest``: a list of groups, each with ``paths`` (its shard files, concatenated in order) and
  ``weights`` (``name``, ``shape``, ``dtype`` and optionally ``quantization``); the values of every weight follow
  each other in the concatenated bytes of all groups, little-endian, row-major;
- ``quantization.dtype`` ``float16``: stored as IEEE half floats; ``uint8``/``uint16``: affine,
  ``value = q * scale + min`` (``scale``/``min`` in the entry).
Input references ``"node:1"`` name an op's second output; ``"^node"`` is a control dependency (ignored).

TFJS tensors are NHWC and kernels HWIO (depthwise: H, W, C, multiplier); `embedders.tfjs_port` turns them into
PyTorch layouts and is the base of our hand-built ports. This module is numpy only: `expect_ops` / `expect_attr`
check that a graph holds exactly the ops a port computes.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import WeightsError

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


class TfjsFormatError(WeightsError):
    """The files are not the TFJS graph model they were expected to be."""


@dataclass(frozen=True)
class TfjsNode:
    """One GraphDef node: its op, the names of its data inputs (output index stripped) and its attributes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict = field(default_factory=dict)

    def ints(self, key: str) -> list[int]:
        return [int(v) for v in self.attr.get(key, {}).get("list", {}).get("i", [])]

    def string(self, key: str) -> str:
        raw = self.attr.get(key, {}).get("s", "")
        return base64.b64decode(raw).decode() if raw else ""

    def strings(self, key: str) -> list[str]:
        return [base64.b64decode(s).decode() for s in self.attr.get(key, {}).get("list", {}).get("s", [])]

    def flag(self, key: str) -> bool:
        return bool(self.attr.get(key, {}).get("b", False))


@dataclass
class TfjsGraph:
    """A parsed graph model: nodes in file order (topological, as the converter writes them), constants by name."""

    nodes: list[TfjsNode]
    weights: dict[str, np.ndarray]
    inputs: list[str]  # signature input names (``:0`` stripped)
    outputs: list[str]

    def node(self, name: str) -> TfjsNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise TfjsFormatError(f"TFJS graph: no node named {name!r}; the graph has outputs {self.outputs}.")


def _tensor_name(ref: str) -> str:
    """``"conv1:0"`` -> ``"conv1"``; control inputs (``"^x"``) are dropped by the caller."""
    return ref.split(":")[0]


def _decode(entry: dict, data: memoryview, offset: int, source: str) -> tuple[np.ndarray, int]:
    """One manifest entry's values from ``data`` at ``offset``; returns the float32/int32 array and the new offset."""
    shape = [int(s) for s in entry["shape"]]
    count = int(np.prod(shape)) if shape else 1
    quant = entry.get("quantization")
    if quant:
        qtype = _QUANT.get(quant.get("dtype"))
        if qtype is None:
            raise TfjsFormatError(f"TFJS weights {source!r}: {entry['name']!r} uses quantization "
                                  f"{quant.get('dtype')!r}; supported: {sorted(_QUANT)}.")
        stored = np.dtype(qtype)
    else:
        if entry["dtype"] not in _DTYPES:
            raise TfjsFormatError(f"TFJS weights {source!r}: {entry['name']!r} has dtype {entry['dtype']!r}; "
                                  f"supported: {sorted(_DTYPES)}.")
        stored = np.dtype(_DTYPES[entry["dtype"]])
    size = count * stored.itemsize
    if offset + size > len(data):
        raise TfjsFormatError(f"TFJS weights {source!r}: the shards end inside {entry['name']!r} (need {size} bytes "
                              f"at {offset}, have {len(data)}); the .bin file does not belong to this model.json.")
    raw = np.frombuffer(data[offset:offset + size], dtype=stored.newbyteorder("<")).reshape(shape)
    if quant and quant["dtype"] in ("uint8", "uint16"):
        values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
    else:
        values = raw.astype(_DTYPES[entry["dtype"]])
    return values.astype(_DTYPES[entry["dtype"]], copy=False), offset + size


def read_tfjs_graph(path: str | Path) -> TfjsGraph:
    """Parse ``model.json`` at ``path`` and its weight shards (found beside it)."""
    path = Path(path)
    if not path.is_file():
        raise TfjsFormatError(f"TFJS model {str(path)!r} does not exist; run `masque models fetch` for the model.")
    try:
        model = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TfjsFormatError(f"TFJS model {str(path)!r} is not readable JSON ({exc}).") from exc
    if model.get("format") != "graph-model" or "modelTopology" not in model:
        raise TfjsFormatError(f"TFJS model {str(path)!r}: `format` must be 'graph-model', got "
                              f"{model.get('format')!r}; only converted graph models are supported.")
    # 1. Weights: every group's shards concatenated; the entries of each group follow each other in its bytes.
    weights: dict[str, np.ndarray] = {}
    for group in model.get("weightsManifest", []):
        shards = []
        for shard in group["paths"]:
            shard_path = path.parent / shard
            if not shard_path.is_file():
                raise TfjsFormatError(f"TFJS model {str(path)!r}: weight shard {str(shard_path)!r} is missing; "
                                      "keep the .bin files beside the .json.")
            shards.append(shard_path.read_bytes())
        data, offset = memoryview(b"".join(shards)), 0
        for entry in group["weights"]:
            weights[entry["name"]], offset = _decode(entry, data, offset, str(path))
        if offset != len(data):
            raise TfjsFormatError(f"TFJS model {str(path)!r}: {len(data) - offset} bytes left over after the last "
                                  "weight; the .bin file does not belong to this model.json.")
    # 2. Nodes, with control inputs dropped and output indices stripped.
    nodes = [
        TfjsNode(n["name"], n["op"], tuple(_tensor_name(i) for i in n.get("input", []) if not i.startswith("^")),
                 n.get("attr", {}))
        for n in model["modelTopology"]["node"]
    ]
    signature = model.get("signature", {})
    inputs = [_tensor_name(v["name"]) for v in signature.get("inputs", {}).values()]
    outputs = [_tensor_name(v["name"]) for v in signature.get("outputs", {}).values()]
    return TfjsGraph(nodes, weights, inputs, outputs)


def expect_ops(graph: TfjsGraph, expected: dict[str, int], source: str) -> None:
    """The graph's op histogram (constants and the input excluded) must be ``expected`` exactly."""
    found: dict[str, int] = {}
    for n in graph.nodes:
        if n.op not in ("Const", "Placeholder"):
            found[n.op] = found.get(n.op, 0) + 1
    if found != expected:
        raise TfjsFormatError(f"TFJS graph for {source!r} holds ops {dict(sorted(found.items()))}, the port computes "
                              f"{dict(sorted(expected.items()))}; this is not the graph the port was written for.")


def expect_attr(node: TfjsNode, *, strides: int, padding: str, source: str) -> None:
    """A convolution node must have the stride and padding mode the port uses."""
    got = (node.ints("strides")[1:3], node.string("padding"))
    if got != ([strides, strides], padding):
        raise TfjsFormatError(f"TFJS graph for {source!r}: node {node.name!r} has strides/padding {got}, the port "
                              f"uses {([strides, strides], padding)}.")
