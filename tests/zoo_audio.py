"""edgekit's audio and 16-bit model zoo: float models as users bring them, for issue 19's tests
and benchmarks.

    .venv/bin/python tests/zoo_audio.py OUT_DIR [NAME...]

Each Keras model is saved as a float ``.keras`` file, to be built with
``edgekit build --target T --model FILE --precision P``: edgekit quantizes it (the TFLite
converter for int8 and 16x8 where it can, edgekit's own recurrent quantizer for LSTM models,
whose calibration crashes the converter). The SVDF model has no Keras layer: it is written as
an int8 ``.tflite`` (``tests/svdf_models.py``), as the TFLite Micro examples ship theirs.

Weights are seeded; batch norms are conditioned as in ``tests/zoo.py`` so that activations stay
alive after quantization.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).parent))

from zoo import CONDITIONING_SAMPLES, SEED, condition, kws_ds_cnn, samples  # noqa: E402


def lstm_kws():
    """Keyword spotting with an LSTM over 49 frames of 10 MFCC features, 12 classes (the shape
    of TFLite Micro's LSTM keyword examples): LSTM(32), then Dense with softmax."""
    import keras

    L = keras.layers
    inputs = keras.Input((49, 10), batch_size=1)
    x = L.LSTM(32)(inputs)
    return keras.Model(inputs, L.Dense(12, activation="softmax")(x), name="lstm_kws")


def seanet():
    """A SEANet-like 1-D audio encoder/decoder on 128 samples of one channel: a stem
    convolution, two encoder stages (a residual unit of LeakyReLU and convolutions, then a
    strided convolution), two decoder stages (Conv1DTranspose upsampling, a residual unit),
    and an output convolution; LeakyReLU throughout, as in SEANet and the speech codecs built
    on it (16-bit activations keep the waveform's detail)."""
    import keras

    L = keras.layers

    def residual(x, channels: int):
        y = L.Conv1D(channels // 2, 3, padding="same")(L.LeakyReLU(0.2)(x))
        y = L.Conv1D(channels, 1)(L.LeakyReLU(0.2)(y))
        return L.Add()([x, y])

    inputs = keras.Input((128, 1))
    x = L.Conv1D(8, 7, padding="same")(inputs)
    for channels in (16, 32):
        x = residual(x, x.shape[-1])
        x = L.Conv1D(channels, 4, strides=2, padding="same")(L.LeakyReLU(0.2)(x))
    for channels in (16, 8):
        x = L.Conv1DTranspose(channels, 4, strides=2, padding="same")(L.LeakyReLU(0.2)(x))
        x = residual(x, channels)
    outputs = L.Conv1D(1, 7, padding="same")(L.LeakyReLU(0.2)(x))
    return keras.Model(inputs, outputs, name="seanet")


# name -> (builder, the precisions it is built with)
KERAS_ZOO: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "lstm_kws": (lstm_kws, ("int8", "int16x8")),
    "kws_ds_cnn": (kws_ds_cnn, ("int16x8",)),
    "seanet": (seanet, ("int16x8",)),
}
NAMES = (*KERAS_ZOO, "svdf_kws")


def make(name: str, folder: Path | str) -> Path:
    """Build and condition zoo model ``name``; write ``folder/<name>.keras`` (``.tflite`` for
    the SVDF model)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if name == "svdf_kws":
        from svdf_models import svdf_kws

        path = folder / f"{name}.tflite"
        path.write_bytes(svdf_kws())
        return path
    import keras

    builder, _ = KERAS_ZOO[name]
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    model = builder()
    condition(model, samples(model, CONDITIONING_SAMPLES, SEED))
    path = folder / f"{name}.keras"
    model.save(path)
    return path


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__.splitlines()[3].strip(), file=sys.stderr)
        return 2
    out, names = Path(argv[0]), argv[1:] or list(NAMES)
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        print(f"Error: no zoo model {', '.join(unknown)}; choose from {', '.join(NAMES)}",
              file=sys.stderr)  # fmt: skip
        return 2
    for name in names:
        print(make(name, out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
