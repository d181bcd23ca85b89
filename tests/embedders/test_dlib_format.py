"""Our reader of dlib's serialisation, on hand-encoded primitives and on the real model file."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from masque.embedders.dlib_resnet import FACE_RECOGNITION_STACK, dlib_model_path
from masque.embedders.formats.dlib_format import DlibFormatError, DlibLayer, Reader, parse_network, read_network

STACK = [op.token for op in FACE_RECOGNITION_STACK]


def enc_int(v: int) -> bytes:
    """dlib's integer encoding: header (byte count | 0x80 if negative), then little-endian magnitude bytes."""
    mag = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
    return bytes([len(mag) | (0x80 if v < 0 else 0)]) + mag


def test_primitives_round_trip():
    data = (enc_int(0) + enc_int(300) + enc_int(-28) + enc_int(5) + b"hello" + enc_int(10066330) + enc_int(-24)
            + b"1" + b"0" + enc_int(2) + b"".join(enc_int(d) for d in (1, 2, 1, 2)) + struct.pack("<4f", 1, 2, 3, 4))
    r = Reader(data)
    assert (r.int(), r.int(), r.int()) == (0, 300, -28)
    assert r.string() == "hello"
    assert r.float() == pytest.approx(0.6, abs=1e-7)  # how dlib stores its 0.6 distance threshold
    assert (r.bool(), r.bool()) == (True, False)
    np.testing.assert_array_equal(r.tensor(), np.arange(1, 5, dtype=np.float32).reshape(1, 2, 1, 2))
    assert r.pos == len(data)


def test_bad_bytes_give_one_clear_error():
    with pytest.raises(DlibFormatError, match="end of file"):
        Reader(enc_int(5) + b"ab").string()
    with pytest.raises(DlibFormatError, match="invalid bool"):
        Reader(b"x").bool()
    with pytest.raises(DlibFormatError, match="expected version 2"):
        Reader(enc_int(3)).tensor()


@pytest.fixture(scope="module")
def raw() -> bytes:
    return dlib_model_path().read_bytes()


def test_real_model_file_parses_to_dlibs_architecture(raw):
    net = parse_network(raw, STACK)
    assert net.loss_kind == "loss_metric_2" and net.loss_settings["dist_thresh"] == pytest.approx(0.6)
    assert (net.input_settings["nr"], net.input_settings["nc"]) == (150, 150)
    assert net.input_settings["avg_red"] == pytest.approx(122.782, abs=1e-3)
    layers = [op for op in net.ops if isinstance(op, DlibLayer)]
    kinds = [op.kind for op in layers]
    assert kinds.count("con_4") == 29 and kinds.count("affine_") == 29 and kinds.count("fc_2") == 1
    first, last = layers[0], layers[-1]
    assert first.kind == "con_4" and first.settings["num_filters"] == 32 and first.settings["nr"] == 7
    assert first.params.size == 32 * 3 * 7 * 7 + 32  # filters then biases
    assert last.settings["num_outputs"] == 128 and last.settings["bias_mode"] == 1  # fc_no_bias
    assert last.params.shape == (256, 128, 1, 1)


def test_truncated_or_foreign_files_are_rejected(raw, tmp_path):
    with pytest.raises(DlibFormatError, match="end of file"):
        parse_network(raw[: len(raw) // 2], STACK)
    with pytest.raises(DlibFormatError, match="expected version"):
        parse_network(raw, STACK[:-1] + ["relu", STACK[-1]])  # a layer the file does not have
    with pytest.raises(DlibFormatError, match="not the expected dlib network"):
        read_network(dlib_model_path("shape_predictor_5_face_landmarks.dat"), STACK)
    with pytest.raises(DlibFormatError, match="does not exist"):
        read_network(tmp_path / "nope.dat", STACK)
