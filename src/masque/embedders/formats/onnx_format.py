"""Reader for ONNX face-recognition graphs: constants folded to float weights, the rest listed for a torch port.

``onnx`` (protobuf only, no runtime) reads the file; everything computable from initializers alone
(``DequantizeLinear`` of int8 block-quantised weights, ``Reshape`` of weights, ``Constant``) is folded to float32
arrays once at load time. A PyTorch architecture (e.g. `sface.SFaceNet`) then takes its weights from those arrays by
name and checks its layer settings against the remaining runtime nodes. (``onnx2torch`` would convert generically but
imports torchvision, which does not import beside our torch.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import WeightsError


def dequantize_linear(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int = 1,
                      block_size: int = 0) -> np.ndarray:
    """ONNX ``DequantizeLinear`` (opset 21): ``(x - zero_point) * scale``, per tensor, per axis or per block.

    Blocked quantisation: ``scale`` has ``x``'s shape except ``ceil(x.shape[axis] / block_size)`` along ``axis``;
    element ``i`` along ``axis`` uses block ``i // block_size``.
    """
    x = x.astype(np.float32)
    zp = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.size == 1:
        return (x - zp.reshape(())) * scale.reshape(())
    axis = axis % x.ndim
    if block_size:
        idx = np.arange(x.shape[axis]) // block_size
        scale, zp = np.take(scale, idx, axis=axis), np.take(zp, idx, axis=axis)
    else:  # per-axis: a 1-D scale broadcast along ``axis``
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (x - zp) * scale


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _fold(op: str, ins: list[np.ndarray], attrs: dict) -> np.ndarray | None:
    """Evaluate a node whose inputs are all constants; ``None`` when ``op`` is left to the runtime graph."""
    if op == "DequantizeLinear":
        return dequantize_linear(ins[0], ins[1], ins[2] if len(ins) > 2 else None, attrs.get("axis", 1),
                                 attrs.get("block_size", 0))
    if op == "Reshape":
        return ins[0].reshape([int(d) for d in ins[1]])
    if op == "Constant":
        from onnx import numpy_helper

        return numpy_helper.to_array(attrs["value"]) if "value" in attrs else None
    return None


@dataclass
class OnnxGraph:
    """An ONNX graph split in two: constants (initializers and everything folded from them, float32 where folded)
    and the runtime nodes ``(op, inputs, outputs, attributes)`` in the file's topological order."""

    constants: dict[str, np.ndarray]
    nodes: list[tuple[str, list[str], list[str], dict]]
    input_name: str
    output_name: str


def read_onnx(path: str | Path) -> OnnxGraph:
    """Read a single-input, single-output ONNX file and fold its constant part; one `WeightsError` when unreadable."""
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"ONNX file {str(path)!r} does not exist.")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf DecodeError and friends: a bad file for the user
        raise WeightsError(f"{str(path)!r} is not an ONNX model ({exc}).") from exc
    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumed = {n for node in graph.node for n in node.input}
    # Graph inputs nothing consumes (left behind by quantisation tools) are not inputs of the model.
    inputs = [i.name for i in graph.input if i.name not in consts and i.name in consumed]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise WeightsError(f"{str(path)!r}: expected one input and one output, got inputs {inputs} and "
                           f"{len(graph.output)} outputs.")
    runtime: list[tuple[str, list[str], list[str], dict]] = []
    for node in graph.node:
        attrs = _attrs(node)
        if all(n in consts for n in node.input if n):
            value = _fold(node.op_type, [consts[n] for n in node.input if n], attrs)
            if value is not None:
                consts[node.output[0]] = value
                continue
        runtime.append((node.op_type, list(node.input), list(node.output), attrs))
    return OnnxGraph(consts, runtime, inputs[0], graph.output[0].name)
