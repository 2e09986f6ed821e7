/*
 * Linux: a process's start time is field 22 of /proc/PID/stat (clock ticks
 * since boot), and pidfd_open() + ppoll() wakes the sidecar at the moment
 * the process dies; a pidfd cannot be fooled by PID reuse.
 *
 * Kernels older than 5.3 (no pidfd_open) and sandboxes that forbid it make
 * hb_notifier_open() fail; hb_watch.c then polls with kill(pid, 0).
 */
#include "hb_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef PROC_SUPER_MAGIC
#  define PROC_SUPER_MAGIC 0x9fa0   /* linux/magic.h */
#endif

#ifndef SYS_pidfd_open
#  define SYS_pidfd_open 434   /* the same number on every architecture */
#endif

/* The fields of a /proc/PID/stat line that mosaic reads, into E.
 * "pid (comm) S ppid ...": comm may hold spaces and ')', so the fields
 * start after the last ')'. proc(5) numbers them from 1: 3 the state,
 * 4 the parent, 14 and 15 user and system time, 16 and 17 those of the
 * children it has reaped (a tree's short-lived commands), 22 the start
 * time, 24 the resident pages. 0 parsed, -1 not a stat line (EPROTO). */
static int parse_stat(char *line, hb_proc_entry *e)
{
    char *p = strrchr(line, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0') {
        errno = EPROTO;
        return -1;
    }
    p += 2;
    char state = *p;
    e->zombie = state == 'Z' || state == 'X' || state == 'x';
    unsigned long long value;
    e->cpu_ticks = 0;
    for (int field = 4; field <= 24; field++) {
        p = strchr(p, ' ');
        if (p == NULL) {
            errno = EPROTO;
            return -1;
        }
        p++;
        if (field != 4 && (field < 14 || field > 17) && field != 22 && field != 24)
            continue;
        /* rss is a signed long in the kernel; a negative one reads as 0. */
        int negative = *p == '-';
        char *end;
        errno = 0;
        value = strtoull(p + negative, &end, 10);
        if (errno != 0 || end == p + negative || (*end != ' ' && *end != '\n' && *end != '\0')) {
            errno = EPROTO;
            return -1;
        }
        if (negative)
            value = 0;
        switch (field) {
        case 4:
            e->ppid = (pid_t)value;
            break;
        case 14:
        case 15:
        case 16:
        case 17:
            e->cpu_ticks += value;
            break;
        case 22:
            e->start = value;
            break;
        default:
            e->rss_pages = value;
        }
    }
    return 0;
}

/* /proc/PID/NAME (one line: stat, statm) into BUF, SIZE bytes,
 * NUL-terminated. 1 read, 0 no such process, -1 error (errno). */
static int read_proc_line(pid_t pid, const char *name, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t n = read(fd, buf, size - 1);
    int saved = errno;
    close(fd);
    if (n < 0) {
        /* A process that exits between open and read gives ESRCH. */
        errno = saved;
        return saved == ESRCH ? 0 : -1;
    }
    buf[n] = '\0';
    return 1;
}

int hb_proc_start_time(pid_t pid, unsigned long long *start)
{
    char buf[1024];
    hb_proc_entry e;
    int r = read_proc_line(pid, "stat", buf, sizeof buf);
    if (r <= 0)
        return r;
    if (parse_stat(buf, &e) < 0)
        return -1;
    if (e.zombie)
        return 0;
    *start = e.start;
    return 1;
}

int hb_proc_resident(pid_t pid, unsigned long long *pages)
{
    char buf[256];
    int r = read_proc_line(pid, "statm", buf, sizeof buf);
    if (r <= 0)
        return r;
    /* "size resident shared ...", in pages. */
    char *p = strchr(buf, ' '), *end;
    if (p == NULL) {
        errno = EPROTO;
        return -1;
    }
    errno = 0;
    unsigned long long value = strtoull(p + 1, &end, 10);
    if (errno != 0 || end == p + 1) {
        errno = EPROTO;
        return -1;
    }
    *pages = value;
    return 1;
}

int hb_proc_list(hb_proc_entry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return -1;
    /* Something else mounted over /proc (an empty tmpfs in a sandbox) is
     * no process table: not a host without processes. */
    struct statfs fs;
    int bad = fstatfs(dirfd(proc), &fs) < 0 ? errno : fs.f_type != PROC_SUPER_MAGIC ? ENOENT : 0;
    if (bad) {
        closedir(proc);
        errno = bad;
        return -1;
    }
    hb_proc_entry *entries = NULL;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    char buf[1024];
    int failed = 0;
    errno = 0;
    while ((ent = readdir(proc)) != NULL) {
        const char *name = ent->d_name;
        if (name[0] < '1' || name[0] > '9')
            continue;  /* not a process: "self", "sys", ... */
        char *end;
        unsigned long pid = strtoul(name, &end, 10);
        if (*end != '\0' || pid > INT_MAX)
            continue;
        if (n == cap) {  /* grown here, in the one pass: never a second one */
            size_t more = cap ? 2 * cap : 64;  /* most hosts: a few doublings */
            hb_proc_entry *grown = more <= SIZE_MAX / sizeof *entries
                                       ? realloc(entries, more * sizeof *entries) : NULL;
            if (grown == NULL) {
                failed = ENOMEM;
                break;
            }
            entries = grown;
            cap = more;
        }
        hb_proc_entry *e = &entries[n];
        e->pid = (pid_t)pid;
        /* Gone since the listing, not ours to read, or unparsable: left
         * out. Any other error (out of descriptors, of memory) would leave
         * every process out: the pass fails. */
        int r = read_proc_line(e->pid, "stat", buf, sizeof buf);
        if (r < 0 && errno != EACCES && errno != EPERM) {
            failed = errno;
            break;
        }
        if (r == 1 && parse_stat(buf, e) == 0)
            n++;
        errno = 0;
    }
    if (!failed && errno != 0)
        failed = errno;  /* readdir itself failed */
    closedir(proc);
    if (failed) {
        free(entries);
        errno = failed;
        return -1;
    }
    *out = entries;
    *count = n;
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
