"""Bare-metal board support for Cortex-M firmware, shipped as C and linker-script data.

``ek_board.h`` is the API firmware uses: semihosting file I/O (so one image runs in QEMU and on a
board through a debug probe), exit, and a tick counter for instruction counts. ``startup.c`` is
the reset path; ``<board>.ld`` places memory for one board and includes ``sections.ld``;
``counter_<kind>.c`` implements the counter for the board's timer. ``edgekit.platforms.qemu``
picks the files for a board and builds them with the firmware.
"""
