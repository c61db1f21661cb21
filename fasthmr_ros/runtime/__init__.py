"""Running the networks of model/: loading checkpoints and embedded weights, the encoder runtime with its speed
modes (precision, CUDA graphs, oneDNN linears), and the ONNX Runtime / TensorRT deployment backends.

Imports model/ and the leaf modules (paths); never perception/, ros/, cli/ or training/.
"""
