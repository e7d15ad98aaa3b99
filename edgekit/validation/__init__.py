"""Proof: the int8 model against the float one (accuracy), and every compiled artifact, run where
it will run, against TFLite's reference kernels (artifacts)."""
