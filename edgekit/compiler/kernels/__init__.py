"""edgekit's C99 int8 kernels, shipped as package data for the C code generator.

``ek_kernels.h`` declares every kernel and its parameter struct; each ``ek_*.c`` holds one kernel
kind. They are bit-exact with TFLite's reference int8 kernels; ``edgekit.compiler.fixedpoint``
computes their multipliers, shifts and clamp bounds. Find them with
``importlib.resources.files("edgekit.compiler.kernels")``.
"""
