"""Run nyoki-mtl's FaceNet ``facenet_keras.h5`` in Keras itself: the reference the torch port is checked against.

Runs in a separate environment with TensorFlow (``pip install tensorflow-cpu tf-keras h5py``; never MASQUE's
runtime), called by `make_fr_reference.py` as ``PYTHON keras_reference.py MODEL.h5 IN.npy OUT.npy``: IN holds
(N, H, W, 3) float32 pixels 0-255, OUT gets the raw 128-D ``Bottleneck_BatchNorm`` outputs.

The graph is Keras's own, built from the file's ``model_config`` by tf-keras (``model_from_json``) with the weights
loaded by ``load_weights``. Only the ``Lambda`` residual layers are rebuilt: their function is Python 3.6 bytecode
(``lambda inputs, scale: inputs[0] + inputs[1] * scale``, marshalled), which a newer Python cannot load, so each is
replaced by a layer computing exactly that with its stored ``scale`` argument. Pixels are standardised per image as
the original project does (Sandberg's ``prewhiten``) before the model.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import tf_keras  # noqa: E402


class ScaleSum(tf_keras.layers.Layer):
    """``inputs[0] + inputs[1] * scale``: the body of the file's marshalled ``Lambda``."""

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def prewhiten(x: np.ndarray) -> np.ndarray:
    """Sandberg's ``facenet.prewhiten``, per image."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = np.maximum(x.std(axis=(1, 2, 3), keepdims=True), 1.0 / np.sqrt(x[0].size))
    return (x - mean) / std


def load_model(path: str) -> tf_keras.Model:
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            layer["class_name"] = "ScaleSum"
            layer["config"] = {"name": layer["config"]["name"], "trainable": layer["config"]["trainable"],
                               "scale": layer["config"]["arguments"]["scale"]}
    model = tf_keras.models.model_from_json(json.dumps(config), custom_objects={"ScaleSum": ScaleSum})
    model.load_weights(path)
    return model


def main() -> None:
    path, inp, out = sys.argv[1:4]
    x = np.load(inp).astype(np.float32)
    model = load_model(path)
    y = model.predict(prewhiten(x), batch_size=4, verbose=0)
    np.save(out, y.astype(np.float32))


if __name__ == "__main__":
    main()
