"""The model stage: the built-in MobileNetV2 (or a user's model), its data and its training."""
