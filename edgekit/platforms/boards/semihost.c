/* Arm semihosting calls (Arm "Semihosting for AArch32 and AArch64", v2): r0 holds the operation,
 * r1 points at its argument block, BKPT 0xAB traps to the host, r0 returns the result. */
#include "ek_board.h"

#include <string.h>

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_WRITE = 0x05,
    SYS_READ = 0x06,
    SYS_EXIT = 0x18,
};
enum { MODE_RB = 1, MODE_WB = 5 }; /* fopen modes "rb" and "wb" */
enum { ADP_STOPPED_RUNTIME_ERROR = 0x20023, ADP_STOPPED_APPLICATION_EXIT = 0x20026 };

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int open_file(const char *path, int mode)
{
    const uintptr_t args[3] = {(uintptr_t)path, (uintptr_t)mode, strlen(path)};
    return semihost(SYS_OPEN, args);
}

static void close_file(int handle)
{
    const uintptr_t args[1] = {(uintptr_t)handle};
    (void)semihost(SYS_CLOSE, args);
}

long ek_read_file(const char *path, void *buf, size_t size)
{
    int handle = open_file(path, MODE_RB);
    if (handle < 0)
        return -1;
    /* SYS_READ returns the number of bytes it did NOT read. */
    const uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, size};
    int unread = semihost(SYS_READ, args);
    close_file(handle);
    return unread < 0 || (size_t)unread > size ? -1 : (long)(size - (size_t)unread);
}

int ek_open_input(const char *path)
{
    return open_file(path, MODE_RB);
}

int ek_read(int handle, void *buf, size_t size)
{
    const uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, size};
    return semihost(SYS_READ, args) == 0 ? 0 : -1;
}

static int write_file(const char *path, const void *buf, size_t size, int mode)
{
    int handle = open_file(path, mode);
    if (handle < 0)
        return -1;
    /* SYS_WRITE returns the number of bytes it did NOT write. */
    const uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, size};
    int unwritten = semihost(SYS_WRITE, args);
    close_file(handle);
    return unwritten == 0 ? 0 : -1;
}

int ek_write_file(const char *path, const void *buf, size_t size)
{
    return write_file(path, buf, size, MODE_WB);
}

int ek_open_output(const char *path)
{
    return open_file(path, MODE_WB);
}

int ek_write(int handle, const void *buf, size_t size)
{
    const uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buf, size};
    return semihost(SYS_WRITE, args) == 0 ? 0 : -1;
}

void ek_close(int handle)
{
    close_file(handle);
}

void ek_puts(const char *text)
{
    (void)semihost(SYS_WRITE0, text);
}

void ek_exit(int status)
{
    /* On AArch32, SYS_EXIT takes the reason itself in r1, not a pointer; QEMU exits 0 for an
     * application exit and 1 for any other reason. */
    uintptr_t reason = status == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR;
    (void)semihost(SYS_EXIT, (const void *)reason);
    for (;;) {
    }
}
