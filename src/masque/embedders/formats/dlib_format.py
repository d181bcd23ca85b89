"""Reader for dlib's binary serialisation of DNNs (the ``.dat`` files of ``face_recognition_models``).

Written from dlib's own serialisation code (``dlib/serialize.h``, ``dlib/float_details.h``, ``dlib/dnn/core.h``,
``dlib/dnn/layers.h``, ``dlib/dnn/input.h``, ``dlib/dnn/loss.h``, ``dlib/dnn/tensor.h``); no dlib call is made.

Primitives:
- integers: one header byte ``n | 0x80 * negative`` then ``n`` little-endian magnitude bytes;
- strings: an integer length, then the bytes;
- float/double: two integers, mantissa and exponent (value = mantissa * 2**exponent);
- bool: one ASCII byte ``'0'``/``'1'``;
- tensors: int version 2, then n, k, nr, nc, then n*k*nr*nc little-endian float32;
- alias tensors: int version 1, then n, k, nr, nc (a view, no data).

A network is a nested C++ type, so the stream nests too. ``add_layer<L, SUBNET>`` writes
``version(2) · SUBNET · details(L) · bool×3 · tensor×3`` and the one directly on the input layer writes
``version(3) · input · details(L) · bool×3 · tensor×3 · int``; tag and skip layers write ``version(1) · SUBNET``.
The stream carries no tag/skip identity, so the parser is driven by the layer sequence of the C++ type
(``Stack``), outermost first, exactly as it is written in dlib's example programs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import WeightsError

# Integer codes of dlib's float_details for non-finite values.
_IS_INF, _IS_NINF, _IS_NAN = 32000, 32001, 32002


class DlibFormatError(WeightsError):
    """The file is not the dlib network it was expected to be."""


@dataclass
class DlibLayer:
    """One computational layer as stored: its serialised name, integer/float settings and parameter tensors."""

    kind: str  # e.g. "con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2"
    settings: dict = field(default_factory=dict)
    params: np.ndarray | None = None  # the layer's flat parameter tensor, reshaped per kind by the consumer


@dataclass
class DlibNetwork:
    """A parsed network: input normalisation, loss settings and the forward-ordered op list."""

    input_kind: str
    input_settings: dict
    loss_kind: str
    loss_settings: dict
    ops: list  # forward order; items are DlibLayer or ("tag", n) / ("skip", n)


class Reader:
    """Sequential reader of dlib's primitive encodings over a bytes buffer."""

    def __init__(self, data: bytes, source: str = "<bytes>"):
        self.data = memoryview(data)
        self.pos = 0
        self.source = source

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(f"dlib file {self.source!r}: {what} at byte {self.pos}; the file is not the expected "
                               "dlib network (re-install face_recognition_models or pass the right file).")

    def _take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise self.fail(f"unexpected end of file reading {n} bytes")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        head = self._take(1)[0]
        size, negative = head & 0x0F, bool(head & 0x80)
        if size > 8:
            raise self.fail(f"invalid integer header 0x{head:02x}")
        value = int.from_bytes(bytes(self._take(size)), "little")
        return -value if negative else value

    def string(self) -> str:
        n = self.int()
        if not 0 <= n < 1 << 16:
            raise self.fail(f"implausible string length {n}")
        return bytes(self._take(n)).decode("latin-1")

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if exponent == _IS_INF:
            return float("inf")
        if exponent == _IS_NINF:
            return float("-inf")
        if exponent == _IS_NAN:
            return float("nan")
        return float(mantissa) * 2.0 ** exponent

    def bool(self) -> bool:
        ch = bytes(self._take(1))
        if ch not in (b"0", b"1"):
            raise self.fail(f"invalid bool byte {ch!r}")
        return ch == b"1"

    def expect_int(self, value: int, what: str) -> None:
        got = self.int()
        if got != value:
            raise self.fail(f"{what}: expected version {value}, found {got}")

    def tensor(self) -> np.ndarray:
        self.expect_int(2, "tensor")
        shape = tuple(self.int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor shape {shape}")
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.expect_int(1, "alias_tensor")
        return tuple(self.int() for _ in range(4))


# ---------------------------------------------------------------------------------------------------------------------
# Layer details (the LAYER of add_layer<LAYER, SUBNET>), keyed by the name dlib writes first.


def _read_con(r: Reader, kind: str) -> DlibLayer:
    params = r.tensor()
    s = {"num_filters": r.int(), "nr": r.int(), "nc": r.int(), "stride_y": r.int(), "stride_x": r.int(),
         "padding_y": r.int(), "padding_x": r.int()}
    s["filters_shape"], s["biases_shape"] = r.alias_tensor(), r.alias_tensor()
    s["lr_mult"], s["wd_mult"], s["bias_lr_mult"], s["bias_wd_mult"] = (r.float() for _ in range(4))
    if kind == "con_5":
        s["use_bias"] = r.bool()
    return DlibLayer(kind, s, params)


def _read_fc(r: Reader, kind: str) -> DlibLayer:
    s = {"num_outputs": r.int(), "num_inputs": r.int()}
    params = r.tensor()
    s["weights_shape"], s["biases_shape"] = r.alias_tensor(), r.alias_tensor()
    s["bias_mode"] = r.int()  # 0: FC_HAS_BIAS, 1: FC_NO_BIAS
    s["lr_mult"], s["wd_mult"], s["bias_lr_mult"], s["bias_wd_mult"] = (r.float() for _ in range(4))
    return DlibLayer(kind, s, params)


def _read_affine(r: Reader, kind: str) -> DlibLayer:
    params = r.tensor()
    s = {"gamma_shape": r.alias_tensor(), "beta_shape": r.alias_tensor(), "mode": r.int()}  # mode 0: CONV_MODE
    return DlibLayer(kind, s, params)


def _read_pool(r: Reader, kind: str) -> DlibLayer:
    s = {"nr": r.int(), "nc": r.int(), "stride_y": r.int(), "stride_x": r.int(), "padding_y": r.int(),
         "padding_x": r.int()}
    return DlibLayer(kind, s)


def _read_plain(r: Reader, kind: str) -> DlibLayer:
    return DlibLayer(kind)


_DETAILS = {
    "con_4": _read_con, "con_5": _read_con, "fc_2": _read_fc, "affine_": _read_affine,
    "max_pool_2": _read_pool, "avg_pool_2": _read_pool, "relu_": _read_plain, "add_prev_": _read_plain,
}


def _read_details(r: Reader, expected: str) -> DlibLayer:
    """Read one layer's details; ``expected`` is the layer family from the network type ("con", "relu", ...)."""
    at = r.pos
    kind = r.string()
    reader = _DETAILS.get(kind)
    if reader is None or not kind.startswith(expected):
        r.pos = at
        raise r.fail(f"expected a {expected!r} layer, found {kind!r}")
    return reader(r, kind)


def _read_input(r: Reader) -> tuple[str, dict]:
    kind = r.string()
    if kind != "input_rgb_image_sized":
        raise r.fail(f"expected input layer 'input_rgb_image_sized', found {kind!r}")
    s = {"avg_red": r.float(), "avg_green": r.float(), "avg_blue": r.float(), "nr": r.int(), "nc": r.int()}
    return kind, s


def _read_loss(r: Reader) -> tuple[str, dict]:
    kind = r.string()
    if kind != "loss_metric_2":
        raise r.fail(f"expected loss layer 'loss_metric_2', found {kind!r}")
    return kind, {"margin": r.float(), "dist_thresh": r.float()}


def _skip_trailer(r: Reader, on_input: bool) -> None:
    """The bookkeeping add_layer writes after its details (setup flags, cached gradients/outputs)."""
    for _ in range(3):
        r.bool()
    for _ in range(3):
        r.tensor()
    if on_input:
        r.int()  # _sample_expansion_factor


Stack = list  # layer families outermost first: "con", "affine", "relu", "max_pool", "avg_pool", "add_prev<n>",
# "fc", "tag<n>", "skip<n>"


def parse_network(data: bytes, stack: Stack, source: str = "<bytes>") -> DlibNetwork:
    """Parse a serialised ``loss<stack<input>>`` network whose type is ``stack`` (outermost layer first)."""
    r = Reader(data, source)
    # add_loss_layer: version 1, loss details, then the network.
    r.expect_int(1, "add_loss_layer")
    loss_kind, loss_settings = _read_loss(r)
    # 1. The version headers of every nested layer come first (outermost to innermost).
    computational = [i for i, t in enumerate(stack) if not t.startswith(("tag", "skip"))]
    if not computational or computational[-1] != len(stack) - 1:
        raise ValueError("the innermost entry of `stack` must be a computational layer")
    for i, token in enumerate(stack):
        version = 1 if token.startswith(("tag", "skip")) else (3 if i == len(stack) - 1 else 2)
        r.expect_int(version, f"layer {i} ({token})")
    # 2. The input layer, then the details of each layer from the innermost out (= forward order).
    input_kind, input_settings = _read_input(r)
    ops: list = []
    for i in reversed(range(len(stack))):
        token = stack[i]
        if token.startswith(("tag", "skip")):
            family = token.rstrip("0123456789")
            ops.append((family, int(token[len(family):])))
            continue
        family = token.rstrip("0123456789")
        layer = _read_details(r, family)
        if family == "add_prev":
            layer.settings["tag"] = int(token[len(family):])
        _skip_trailer(r, on_input=(i == len(stack) - 1))
        ops.append(layer)
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} trailing bytes after the network")
    return DlibNetwork(input_kind, input_settings, loss_kind, loss_settings, ops)


def read_network(path: str | Path, stack: Stack) -> DlibNetwork:
    path = Path(path)
    if not path.is_file():
        raise DlibFormatError(f"dlib model file {str(path)!r} does not exist; install `face_recognition_models` or "
                              "pass the .dat path.")
    return parse_network(path.read_bytes(), stack, source=str(path))

