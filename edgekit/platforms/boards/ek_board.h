/* edgekit board support: semihosting file I/O, exit, and a tick counter.
 *
 * Semihosting (BKPT 0xAB) is served by QEMU (-semihosting-config enable=on) and by debug probes
 * (pyOCD, OpenOCD); without one attached, a semihosting call stops the core with a fault.
 */
#ifndef EK_BOARD_H
#define EK_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* The files edgekit's runner provides and collects, relative to the host's working directory. */
#define EK_INPUT_FILE "input.bin"
#define EK_OUTPUT_FILE "output.bin"
/* Little-endian uint64 tick counts; the first is the whole measured run, any further ones are
 * the firmware's own breakdown (for example one per layer). */
#define EK_TICKS_FILE "ticks.bin"

/* Reads up to size bytes of the host file at path into buf; the bytes read, or -1. */
long ek_read_file(const char *path, void *buf, size_t size);
/* Creates (or truncates) the host file at path and writes size bytes to it; 0, or -1. */
int ek_write_file(const char *path, const void *buf, size_t size);
/* Streaming output (QEMU's semihosting ignores append mode): creates or truncates the host
 * file at path and returns a handle (or -1); ek_write writes size bytes at the current
 * position (0, or -1); ek_close closes the handle. */
int ek_open_output(const char *path);
int ek_write(int handle, const void *buf, size_t size);
void ek_close(int handle);
/* Streaming input: opens the host file at path for reading and returns a handle (or -1);
 * ek_read reads exactly size bytes from the current position (0, or -1 when fewer remain). */
int ek_open_input(const char *path);
int ek_read(int handle, void *buf, size_t size);

/* Writes a NUL-terminated string to the host's console. */
void ek_puts(const char *text);
/* Ends the program: status 0 is success, anything else is reported to the host as a failure. */
void ek_exit(int status) __attribute__((noreturn));

/* Starts (or restarts) the tick counter. Under QEMU -icount shift=0 a tick is a fixed number of
 * instructions (see edgekit.emulate); on a real board it is the timer's period. */
void ek_counter_start(void);
/* Ticks elapsed since the last ek_counter_start(). */
uint64_t ek_counter_read(void);

#endif
