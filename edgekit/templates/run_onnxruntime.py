"""Runs the ONNX Runtime int8 (QDQ) model on the board (edgekit bundle).

    python3 run_onnxruntime.py model_int8_minmax.onnx INPUT OUTPUT

INPUT holds int8 input tensors back to back, quantized as the TFLite int8 model's input, so
every artifact of the bundle reads the same file; they are dequantized with that scale and zero
point (io.json) for the ONNX model's float input, and its float output is quantized the TFLite
way into OUTPUT. Inside, ONNX Runtime runs the QDQ graph on its integer kernels where it has
them for this CPU. One thread. Prints {"latency_us": [...]}: the wall time of each inference.
Needs: pip install onnxruntime numpy
"""

import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv):
    import onnxruntime as ort

    model, source, target = argv[1:4]
    io = json.loads((Path(model).parent / "io.json").read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    scale, zero = io["input"]["scale"], io["input"]["zero_point"]
    data = np.fromfile(source, dtype=np.int8).reshape(-1, *io["input"]["shape"])
    results, times = [], []
    for x in data:
        image = ((x.astype(np.float32) - zero) * scale)[None]
        start = time.perf_counter_ns()
        y = session.run(None, {name: image})[0]
        times.append((time.perf_counter_ns() - start) // 1000)
        results.append(y)
    out = io["output"]
    q = np.round(np.concatenate(results) / out["scale"]) + out["zero_point"]
    np.clip(q, -128, 127).astype(np.int8).tofile(target)
    print(json.dumps({"latency_us": times}))


if __name__ == "__main__":
    main(sys.argv)
