"""edgekit: float MobileNetV2 to proven int8 artifacts for Cortex-A, Cortex-M and Ethos-U."""

__version__ = "0.1.0"
