"""Reader for Keras 2 HDF5 model files (``model.save('x.h5')``) without h5py or TensorFlow.

`pyfive` (pure Python, numpy only) reads the HDF5 container. A Keras 2 file holds the model's JSON config in the root
attribute ``model_config`` and its weights under ``model_weights/<layer>/``: each layer group lists its arrays in the
attribute ``weight_names`` (``<layer>/kernel:0``, ``<layer>/moving_mean:0``, ...), in the layer's own order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import WeightsError


@dataclass(frozen=True)
class KerasLayer:
    name: str
    class_name: str  # "Conv2D", "BatchNormalization", "Lambda", ...
    config: dict
    inbound: tuple[str, ...]  # names of the layers feeding it (first call only)
    weights: dict[str, np.ndarray]  # short weight name ("kernel", "beta", ...) -> array


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_h5(path: Path) -> list[KerasLayer]:
    """Every layer of the Keras model saved in ``path``, in config order, with its weights as float arrays."""
    import pyfive

    path = Path(path)
    try:
        f = pyfive.File(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file for the user
        raise WeightsError(f"{str(path)!r} is not a readable HDF5 file ({type(exc).__name__}: {exc}).") from exc
    with f:
        if "model_config" not in f.attrs or "model_weights" not in f:
            raise WeightsError(f"{str(path)!r} is not a Keras model file (no model_config / model_weights); "
                               "re-fetch it with `masque models fetch`.")
        config = json.loads(_text(f.attrs["model_config"]))
        groups = f["model_weights"]
        layers = []
        for layer in config["config"]["layers"]:
            name = layer["name"]
            weights = {}
            if name in groups:
                group = groups[name]
                for full in (_text(w) for w in group.attrs.get("weight_names", [])):
                    short = full.rsplit("/", 1)[-1].split(":")[0]
                    weights[short] = np.asarray(group[full][()], dtype=np.float32)
            nodes = layer.get("inbound_nodes") or [[]]
            layers.append(KerasLayer(name, layer["class_name"], layer["config"],
                                     tuple(n[0] for n in nodes[0]), weights))
    return layers
