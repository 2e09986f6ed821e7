/*
 * Linux: a process's start time is field 22 of /proc/PID/stat (clock ticks
 * since boot), and pidfd_open() + ppoll() wakes the sidecar at the moment
 * the process dies; a pidfd cannot be fooled by PID reuse.
 *
 * Kernels older than 5.3 (no pidfd_open) and sandboxes that forbid it make
 * hb_notifier_open() fail; hb_watch.c then polls with kill(pid, 0).
 */
#include "hb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#  define SYS_pidfd_open 434   /* the same number on every architecture */
#endif

int hb_proc_start_time(pid_t pid, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        /* A process that exits between open and read gives ESRCH. */
        errno = saved;
        return saved == ESRCH ? 0 : -1;
    }
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and ')', so the fields
     * start after the last ')'. Field 3 is the state, field 22 the start. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ') {
        errno = EPROTO;
        return -1;
    }
    p += 2;
    char state = *p;
    if (state == 'Z' || state == 'X' || state == 'x')
        return 0;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL) {
            errno = EPROTO;
            return -1;
        }
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long value = strtoull(p, &end, 10);
    if (errno != 0 || end == p) {
        errno = EPROTO;
        return -1;
    }
    *start = value;
    return 1;
}

/* The SigCgt line of /proc/PID/status: the signals PID has handlers for
 * (a hex mask, bit SIG-1). Handlers are per process, not per thread. */
int hb_proc_handles_signal(pid_t pid, int sig)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            close(fd);
            errno = saved;
            return saved == ESRCH ? 0 : -1;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    const char *line = strstr(buf, "\nSigCgt:");
    if (line == NULL || sig < 1 || sig > 64) {
        errno = EPROTO;
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long mask = strtoull(line + 8, &end, 16);
    if (errno != 0 || end == line + 8) {
        errno = EPROTO;
        return -1;
    }
    return (mask >> (sig - 1)) & 1ULL ? 1 : 0;
}

/* Linux counts start times from boot: add the boot time (btime). */
int hb_proc_start_seconds(unsigned long long pid_start, double *out)
{
    if (pid_start == 0)
        return 0;
    char buf[8192];
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? saved : EPROTO;
        return -1;
    }
    buf[n] = '\0';
    const char *line = strstr(buf, "\nbtime ");
    long ticks = sysconf(_SC_CLK_TCK);
    if (line == NULL || ticks <= 0) {
        errno = EPROTO;
        return -1;
    }
    *out = strtod(line + 7, NULL) + (double)pid_start / (double)ticks;
    return 1;
}

int hb_notifier_open(pid_t pid, int *fd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return errno == ESRCH ? 0 : -1;
    (void)fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    *fd = pidfd;
    return 1;
}

int hb_notifier_wait(int fd, long long timeout_ns, const sigset_t *mask)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    struct timespec ts = hb_ns_to_timespec(timeout_ns);
    int n = ppoll(&pfd, 1, &ts, mask);
    if (n < 0)
        return -1;
    return n > 0 ? 1 : 0;
}
