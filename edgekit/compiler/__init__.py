"""edgekit's own compiler for the ``c`` backend: the int8 ``.tflite`` read into a small graph IR,
checked op by op, memory planned statically, and emitted as dependency-free C99."""
