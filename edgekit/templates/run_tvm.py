"""Runs the TVM-compiled model on the board (edgekit bundle).

    python3 run_tvm.py model.so INPUT OUTPUT

INPUT holds int8 input tensors back to back; OUTPUT gets the int8 outputs. The library holds
the whole model (weights included) for the board's CPU. Needs: pip install apache-tvm numpy
"""

import json
import sys
from pathlib import Path

import numpy as np


def main(argv):
    import tvm
    from tvm import relax

    library, source, target = argv[1:4]
    shape = json.loads((Path(library).parent / "io.json").read_text())["input_shape"]
    device = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(library), device)
    data = np.fromfile(source, dtype=np.int8).reshape(-1, *shape)
    results = [vm["main"](tvm.runtime.tensor(x, device)).numpy() for x in data]
    np.concatenate(results).astype(np.int8).tofile(target)


if __name__ == "__main__":
    main(sys.argv)
