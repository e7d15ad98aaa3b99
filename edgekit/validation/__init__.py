"""Proof: the int8 model against the float one (accuracy; ONNX Runtime's int8 models in onnx),
and every compiled artifact, run where it will run, against TFLite's reference kernels
(artifacts). LiteRT runs in a child process; aborts says why it aborted, where it can."""
