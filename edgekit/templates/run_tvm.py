"""Runs the TVM-compiled model on the board (edgekit bundle).

    python3 run_tvm.py model.so INPUT OUTPUT

INPUT holds int8 input tensors back to back; OUTPUT gets the int8 outputs. The library holds
the whole model (weights included) for the board's CPU. Prints {"latency_us": [...]}: the wall
time of each inference, on one thread (set TVM_NUM_THREADS for more).
Needs: pip install apache-tvm numpy
"""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def main(argv):
    os.environ.setdefault("TVM_NUM_THREADS", "1")  # one thread, as the LiteRT runner
    import tvm
    from tvm import relax

    library, source, target = argv[1:4]
    shape = json.loads((Path(library).parent / "io.json").read_text())["input_shape"]
    device = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(library), device)
    data = np.fromfile(source, dtype=np.int8).reshape(-1, *shape)
    results, times = [], []
    for x in data:
        tensor = tvm.runtime.tensor(x, device)
        start = time.perf_counter_ns()
        result = vm["main"](tensor)
        device.sync()
        times.append((time.perf_counter_ns() - start) // 1000)
        results.append(result.numpy())
    np.concatenate(results).astype(np.int8).tofile(target)
    print(json.dumps({"latency_us": times}))


if __name__ == "__main__":
    main(sys.argv)
