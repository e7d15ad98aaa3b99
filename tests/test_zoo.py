"""The model zoo (tests/zoo.py): each model converts, loads in LiteRT with TFLite's reference
kernels (BUILTIN_REF) and runs on seeded inputs with every activation alive, and it holds the
operators listed here: the list tells which operators edgekit must compile to build the zoo.

    .venv/bin/pytest tests/test_zoo.py -q -s     # -s prints each model's operators
"""

import numpy as np
import pytest
import zoo

# The builtin operators of each converted model (TensorFlow 2.21's converter). Dynamic batch
# (-1) gives SHAPE, STRIDED_SLICE and PACK where a Flatten or a TRANSPOSE_CONV needs the batch
# size at run time; float I/O gives the QUANTIZE and DEQUANTIZE at the ends.
OPS = {
    "vww_mobilenet_v1": {
        "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "SHAPE", "STRIDED_SLICE", "PACK",
        "RESHAPE", "FULLY_CONNECTED", "SOFTMAX",
    },
    "ic_resnet8": {
        "CONV_2D", "ADD", "AVERAGE_POOL_2D", "SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE",
        "FULLY_CONNECTED", "SOFTMAX",
    },
    "kws_ds_cnn": {
        "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "SHAPE", "STRIDED_SLICE", "PACK",
        "RESHAPE", "FULLY_CONNECTED", "SOFTMAX",
    },
    "ad_autoencoder": {"FULLY_CONNECTED"},
    "conv1d_audio": {
        "QUANTIZE", "EXPAND_DIMS", "CONV_2D", "RESHAPE", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED",
        "SOFTMAX", "DEQUANTIZE",
    },
    "mobilenet_v3_small": {
        "QUANTIZE", "CONV_2D", "HARD_SWISH", "DEPTHWISE_CONV_2D", "MEAN", "MUL", "ADD",
        "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE",
    },
    "efficientnet_mbconv": {
        "CONV_2D", "LOGISTIC", "MUL", "DEPTHWISE_CONV_2D", "MEAN", "ADD", "FULLY_CONNECTED",
        "SOFTMAX",
    },
    "detector_head": {
        "QUANTIZE", "CONV_2D", "RESIZE_NEAREST_NEIGHBOR", "CONCATENATION", "LOGISTIC",
        "DEQUANTIZE",
    },
    "two_input": {"CONV_2D", "MEAN", "FULLY_CONNECTED", "CONCATENATION", "SOFTMAX"},
    "unet": {
        "QUANTIZE", "CONV_2D", "MAX_POOL_2D", "SHAPE", "STRIDED_SLICE", "PACK", "TRANSPOSE_CONV",
        "CONCATENATION", "DEQUANTIZE",
    },
}  # fmt: skip
INPUTS = 4  # seeded inputs each model runs on


def test_the_table_lists_every_model():
    assert set(OPS) == set(zoo.ZOO)


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_model(name, made, record_property):
    from edgekit.compiler.ir import read_tflite

    path = made(name)
    graph = read_tflite(path)
    kinds = {op.kind for op in graph.ops}
    record_property("ops", sorted(kinds))
    print(f"\n{name}: {', '.join(sorted(kinds))}")
    assert kinds == OPS[name]

    interp = _reference_interpreter(path.read_bytes())
    int8_io = zoo.ZOO[name][1]
    ends = (*interp.get_input_details(), *interp.get_output_details())
    for io in ends:
        assert io["shape_signature"][0] == -1, f"{io['name']}: a fixed batch size"
        assert io["dtype"] == (np.int8 if int8_io else np.float32), io["name"]
    floats = {t["name"] for t in interp.get_tensor_details() if t["dtype"] == np.float32}
    expected = set() if int8_io else {io["name"] for io in ends}
    assert floats == expected, "float tensors besides the float I/O: ops the converter left float"

    activations = [
        t["index"]
        for t in interp.get_tensor_details()
        if t["dtype"] == np.int8 and graph.producer(t["index"]) is not None
    ]
    outputs, seen = [], {index: set() for index in activations}
    rng = np.random.default_rng(7)
    for _ in range(INPUTS):
        for io in interp.get_input_details():
            interp.set_tensor(io["index"], _seeded_input(rng, io))
        interp.invoke()
        outputs.append([interp.get_tensor(o["index"]).copy() for o in interp.get_output_details()])
        for index in activations:
            seen[index].update(np.unique(interp.get_tensor(index)).tolist())
    for i, output in enumerate(zip(*outputs)):
        assert all(np.all(np.isfinite(o)) for o in output)
        assert any(not np.array_equal(output[0], o) for o in output[1:]), (
            f"output {i} is the same for every input: the model is degenerate"
        )
    names = {t["index"]: t["name"] for t in interp.get_tensor_details()}
    dead = [names[index] for index, values in seen.items() if len(values) < 2]
    assert not dead, f"activations that hold one value for every input: {dead}"


def test_make_is_deterministic(made, tmp_path):
    """Seeded weights and inputs: the same model makes the same bytes."""
    assert zoo.make("two_input", tmp_path).read_bytes() == made("two_input").read_bytes()


def _reference_interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        experimental_preserve_all_tensors=True,
        num_threads=1,
    )
    interp.allocate_tensors()
    return interp


def _seeded_input(rng, io: dict) -> np.ndarray:
    if io["dtype"] == np.int8:
        return rng.integers(-128, 128, io["shape"], dtype=np.int8)
    return rng.uniform(-1, 1, io["shape"]).astype(np.float32)
