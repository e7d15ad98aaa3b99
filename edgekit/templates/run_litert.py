"""Runs the int8 model with LiteRT on the board (edgekit bundle).

    python3 run_litert.py model_int8.tflite INPUT OUTPUT [--reference]

INPUT holds int8 input tensors back to back; OUTPUT gets the int8 outputs. LiteRT's default
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
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    data = np.fromfile(source, dtype=np.int8).reshape(-1, *inp["shape"][1:])
    results, times = [], []
    for x in data:
        interp.set_tensor(inp["index"], x[None])
        start = time.perf_counter_ns()
        interp.invoke()
        times.append((time.perf_counter_ns() - start) // 1000)
        results.append(interp.get_tensor(out["index"]).copy())
    np.concatenate(results).astype(np.int8).tofile(target)
    print(json.dumps({"latency_us": times}))


if __name__ == "__main__":
    main(sys.argv)
