"""Runs the TVM-compiled model on the board (edgekit bundle).

    python3 run_tvm.py model.so INPUT OUTPUT

INPUT holds each sample's input tensors back to back (in the model's order, types and shapes
from io.json); OUTPUT gets each sample's outputs the same way. The library holds
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
    io = json.loads((Path(library).parent / "io.json").read_text())
    device = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(library), device)
    raw = np.fromfile(source, dtype=np.uint8)
    sizes = [int(np.prod(p["shape"])) * np.dtype(p["dtype"]).itemsize for p in io["inputs"]]
    rows = raw.reshape(-1, sum(sizes))
    results, times = [], []
    for row in rows:
        tensors, at = [], 0
        for port, size in zip(io["inputs"], sizes):
            x = row[at : at + size].view(port["dtype"]).reshape(port["shape"])
            tensors.append(tvm.runtime.tensor(x, device))
            at += size
        start = time.perf_counter_ns()
        result = vm["main"](*tensors)
        device.sync()
        times.append((time.perf_counter_ns() - start) // 1000)
        outputs = list(result) if len(io["outputs"]) > 1 else [result]
        for port, out in zip(io["outputs"], outputs):
            results.append(out.numpy().astype(port["dtype"]).ravel().view(np.uint8))
    (np.concatenate(results) if results else np.zeros(0, np.uint8)).tofile(target)
    print(json.dumps({"latency_us": times}))


if __name__ == "__main__":
    main(sys.argv)
