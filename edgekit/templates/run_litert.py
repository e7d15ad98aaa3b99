"""Runs the int8 model with LiteRT on the board (edgekit bundle).

    python3 run_litert.py model_int8.tflite INPUT OUTPUT [--reference]

INPUT holds each sample's input tensors back to back (in the model's input order); OUTPUT gets
each sample's outputs the same way. LiteRT's default
(XNNPACK) kernels run unless --reference selects TFLite's reference kernels, the arithmetic the
int8 spec defines. One thread. Prints {"latency_us": [...]}: the wall time of each inference.
Needs: pip install ai-edge-litert numpy
"""

import json
import sys
import time

import numpy as np


def main(argv):
    model, source, target = argv[1:4]
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # 32-bit Raspberry Pi OS has tflite-runtime instead
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    resolver = OpResolverType.BUILTIN_REF if "--reference" in argv else OpResolverType.AUTO
    interp = Interpreter(model_path=model, experimental_op_resolver_type=resolver, num_threads=1)
    interp.allocate_tensors()
    inputs, outputs = interp.get_input_details(), interp.get_output_details()
    sizes = [int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize for d in inputs]
    rows = np.fromfile(source, dtype=np.uint8).reshape(-1, sum(sizes))
    results, times = [], []
    for row in rows:
        at = 0
        for detail, size in zip(inputs, sizes):
            x = row[at : at + size].view(detail["dtype"]).reshape(detail["shape"])
            interp.set_tensor(detail["index"], x)
            at += size
        start = time.perf_counter_ns()
        interp.invoke()
        times.append((time.perf_counter_ns() - start) // 1000)
        for detail in outputs:
            results.append(interp.get_tensor(detail["index"]).ravel().view(np.uint8).copy())
    (np.concatenate(results) if results else np.zeros(0, np.uint8)).tofile(target)
    print(json.dumps({"latency_us": times}))


if __name__ == "__main__":
    main(sys.argv)
