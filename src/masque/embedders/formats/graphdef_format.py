"""Reader for TensorFlow frozen GraphDefs (``.pb``) without TensorFlow: the message types are declared here.

A frozen GraphDef is a protobuf ``GraphDef`` message whose ``Const`` nodes carry the weights. Rather than depend on
TensorFlow (hundreds of MB) for five message types, this module declares the subset of TensorFlow's ``graph.proto``,
``node_def.proto``, ``attr_value.proto``, ``tensor.proto`` and ``tensor_shape.proto`` it needs, with TensorFlow's own
field numbers, as a ``FileDescriptorProto`` built in Python, and lets ``protobuf`` generate the classes. Fields not
declared here (function library, resource handles, ...) are kept by protobuf as unknown fields and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from ...errors import WeightsError

# TensorFlow DataType enum values (types.proto) -> numpy dtypes of the tensors a frozen inference graph holds.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 19: np.float16}
# TensorProto's typed repeated fields, per dtype, used when ``tensor_content`` is empty (small constants).
_VAL_FIELD = {np.float32: "float_val", np.float64: "double_val", np.int32: "int_val", np.uint8: "int_val",
              np.int16: "int_val", np.int8: "int_val", np.int64: "int64_val", np.bool_: "bool_val",
              np.float16: "half_val"}

# (message, [(field name, number, type, label, type_name)]); type/label are FieldDescriptorProto enum names.
_MESSAGES = [
    ("Dim", [("size", 1, "INT64", "OPTIONAL", None), ("name", 2, "STRING", "OPTIONAL", None)]),
    ("TensorShapeProto", [("dim", 2, "MESSAGE", "REPEATED", "Dim"), ("unknown_rank", 3, "BOOL", "OPTIONAL", None)]),
    ("TensorProto", [
        ("dtype", 1, "INT32", "OPTIONAL", None), ("tensor_shape", 2, "MESSAGE", "OPTIONAL", "TensorShapeProto"),
        ("version_number", 3, "INT32", "OPTIONAL", None), ("tensor_content", 4, "BYTES", "OPTIONAL", None),
        ("float_val", 5, "FLOAT", "REPEATED", None), ("double_val", 6, "DOUBLE", "REPEATED", None),
        ("int_val", 7, "INT32", "REPEATED", None), ("string_val", 8, "BYTES", "REPEATED", None),
        ("int64_val", 10, "INT64", "REPEATED", None), ("bool_val", 11, "BOOL", "REPEATED", None),
        ("half_val", 13, "INT32", "REPEATED", None),
    ]),
    ("ListValue", [
        ("s", 2, "BYTES", "REPEATED", None), ("i", 3, "INT64", "REPEATED", None), ("f", 4, "FLOAT", "REPEATED", None),
        ("b", 5, "BOOL", "REPEATED", None), ("type", 6, "INT32", "REPEATED", None),
        ("shape", 7, "MESSAGE", "REPEATED", "TensorShapeProto"), ("tensor", 8, "MESSAGE", "REPEATED", "TensorProto"),
    ]),
    ("AttrValue", [
        ("list", 1, "MESSAGE", "OPTIONAL", "ListValue"), ("s", 2, "BYTES", "OPTIONAL", None),
        ("i", 3, "INT64", "OPTIONAL", None), ("f", 4, "FLOAT", "OPTIONAL", None), ("b", 5, "BOOL", "OPTIONAL", None),
        ("type", 6, "INT32", "OPTIONAL", None), ("shape", 7, "MESSAGE", "OPTIONAL", "TensorShapeProto"),
        ("tensor", 8, "MESSAGE", "OPTIONAL", "TensorProto"),
    ]),
    ("AttrEntry", [("key", 1, "STRING", "OPTIONAL", None), ("value", 2, "MESSAGE", "OPTIONAL", "AttrValue")]),
    ("NodeDef", [
        ("name", 1, "STRING", "OPTIONAL", None), ("op", 2, "STRING", "OPTIONAL", None),
        ("input", 3, "STRING", "REPEATED", None), ("device", 4, "STRING", "OPTIONAL", None),
        ("attr", 5, "MESSAGE", "REPEATED", "AttrEntry"),
    ]),
    ("GraphDef", [("node", 1, "MESSAGE", "REPEATED", "NodeDef")]),
]


@cache
def _graphdef_class():
    """Generate the ``GraphDef`` message class from the declarations above (once per process)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="masque_tf_graphdef.proto", package="masque_tf", syntax="proto3")
    fdt = descriptor_pb2.FieldDescriptorProto
    for name, fields in _MESSAGES:
        msg = fdp.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            f = msg.field.add(name=fname, number=number, type=getattr(fdt, f"TYPE_{ftype}"),
                              label=getattr(fdt, f"LABEL_{label}"))
            if type_name:
                f.type_name = f".masque_tf.{type_name}"
    # NodeDef.attr is a map<string, AttrValue>: on the wire, repeated AttrEntry messages (key = 1, value = 2).
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("masque_tf.GraphDef"))


@dataclass
class GraphNode:
    """One node of a frozen graph: op type, input names (``^name`` control inputs dropped) and decoded attributes."""

    name: str
    op: str
    inputs: list[str]
    attrs: dict = field(default_factory=dict)


def tensor_to_numpy(tensor) -> np.ndarray:
    """Decode a ``TensorProto`` (packed ``tensor_content`` or the typed repeated fields, broadcast when one value)."""
    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        raise WeightsError(f"GraphDef tensor has unsupported TensorFlow dtype {tensor.dtype}.")
    shape = tuple(d.size for d in tensor.tensor_shape.dim)
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype=dtype).reshape(shape).copy()
    values = getattr(tensor, _VAL_FIELD[dtype])
    if dtype is np.float16:
        arr = np.asarray(values, dtype=np.uint16).view(np.float16)
    else:
        arr = np.asarray(values, dtype=dtype)
    n = int(np.prod(shape)) if shape else 1
    if arr.size == n:
        return arr.reshape(shape)
    if arr.size == 1:
        return np.full(shape, arr[0], dtype=dtype)
    raise WeightsError(f"GraphDef tensor holds {arr.size} values for shape {shape}.")


def _attr_value(value):
    """Decode an ``AttrValue``: the one field that is set (declared without a oneof, so read via ``ListFields``)."""
    set_fields = {f.name: v for f, v in value.ListFields()}
    if "tensor" in set_fields:
        return tensor_to_numpy(set_fields["tensor"])
    if "list" in set_fields:
        lst = set_fields["list"]
        for name in ("i", "f", "s", "b", "type"):
            items = list(getattr(lst, name))
            if items:
                return [x.decode() if isinstance(x, bytes) else x for x in items]
        return []
    if "shape" in set_fields:
        return [d.size for d in set_fields["shape"].dim]
    for name in ("s", "i", "f", "b", "type"):
        if name in set_fields:
            v = set_fields[name]
            return v.decode() if isinstance(v, bytes) else v
    return None


def read_graphdef(path: str | Path) -> list[GraphNode]:
    """Parse a frozen GraphDef file into its nodes (file order); one `WeightsError` when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"GraphDef file {str(path)!r} does not exist.")
    graph = _graphdef_class()()
    try:
        graph.ParseFromString(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends: a bad file for the user
        raise WeightsError(f"{str(path)!r} is not a TensorFlow GraphDef ({exc}).") from exc
    if not graph.node:
        raise WeightsError(f"{str(path)!r} is not a TensorFlow GraphDef (no nodes).")
    return [GraphNode(n.name, n.op, [i for i in n.input if not i.startswith("^")],
                      {a.key: _attr_value(a.value) for a in n.attr}) for n in graph.node]
