"""Where artifacts run: the target files, Cortex-M board support and QEMU system emulation,
emulated Raspberry Pi OS userlands under QEMU user mode, and deployment to a board over SSH."""
