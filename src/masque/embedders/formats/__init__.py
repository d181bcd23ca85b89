"""Readers of foreign weight formats (dlib ``.dat``, GraphDef ``.pb``, ONNX, Keras ``.h5``, TFJS ``model.json``):
numpy only, no torch and no model; the model families map what they read onto their own modules."""
