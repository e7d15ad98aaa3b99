"""Commands that run a finished build on a board: ``deploy`` (a Linux bundle over SSH) and
``flash`` (Cortex-M firmware through a debug probe, or the QEMU board). They sit above the
pipeline: they read a build folder and add their own section to its report."""
