/*
 * Everything that differs between platforms, in one place: how to read a
 * process's start time, and how to wait for a process to end.
 *
 *   Linux    /proc/PID/stat field 22; pidfd_open() + ppoll(): a death wakes
 *            the sidecar at once, and a pidfd cannot be fooled by PID reuse.
 *   macOS    proc_pidinfo(PROC_PIDTBSDINFO); kqueue EVFILT_PROC/NOTE_EXIT.
 *   other    no start time; kill(pid, 0) at each wake-up (pselect).
 *
 * Linux kernels older than 5.3 (no pidfd_open) and sandboxes that forbid it
 * fall back to the kill(pid, 0) + /proc check at each wake-up.
 *
 * Included only by hb.c.
 */
#ifndef MOSAIC_HB_PLATFORM_H
#define MOSAIC_HB_PLATFORM_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#  include <poll.h>
#  include <sys/syscall.h>
#  ifndef SYS_pidfd_open
#    define SYS_pidfd_open 434   /* the same number on every architecture */
#  endif
#elif defined(__APPLE__)
#  include <libproc.h>
#  include <sys/event.h>
#  include <sys/proc.h>        /* SZOMB */
#  include <sys/proc_info.h>
#endif

/* How long the kill(pid, 0) fallback sleeps at most between checks, so that
 * a long interval does not also mean a late death notice. */
#define HB_FALLBACK_CHECK_NS 250000000LL

enum hb_watch_kind { HB_WATCH_POLL = 0, HB_WATCH_PIDFD = 1, HB_WATCH_KQUEUE = 2 };

typedef struct hb_watch {
    int kind;
    int fd;                         /* pidfd or kqueue; -1 when polling */
    pid_t pid;
    unsigned long long pid_start;
} hb_watch;

static struct timespec hb_ns_to_timespec(long long ns)
{
    struct timespec ts;
    if (ns < 0)
        ns = 0;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

/* ---- start time ------------------------------------------------------- */

#if defined(__linux__)

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

#elif defined(__APPLE__)

int hb_proc_start_time(pid_t pid, unsigned long long *start)
{
    struct proc_bsdinfo info;
    int n = proc_pidinfo(pid, PROC_PIDTBSDINFO, 0, &info, (int)sizeof info);
    if (n <= 0)
        return errno == ESRCH || errno == 0 ? 0 : -1;
    if ((size_t)n < sizeof info) {
        errno = EPROTO;
        return -1;
    }
    if (info.pbi_status == SZOMB)
        return 0;
    *start = (unsigned long long)info.pbi_start_tvsec * 1000000ULL
             + (unsigned long long)info.pbi_start_tvusec;
    return 1;
}

#else

int hb_proc_start_time(pid_t pid, unsigned long long *start)
{
    (void)pid;
    (void)start;
    errno = ENOTSUP;
    return -1;
}

#endif

/* PID_START, as hb_proc_start_time() gives it, in unix seconds; 0 where it
 * cannot be told. Linux counts from boot, so add the boot time (btime). */
static double hb_start_to_unix(unsigned long long pid_start)
{
    if (pid_start == 0)
        return 0;
#if defined(__linux__)
    char buf[8192];
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *line = strstr(buf, "\nbtime ");
    long ticks = sysconf(_SC_CLK_TCK);
    if (line == NULL || ticks <= 0)
        return 0;
    return strtod(line + 7, NULL) + (double)pid_start / (double)ticks;
#elif defined(__APPLE__)
    return (double)pid_start / 1e6;
#else
    return 0;
#endif
}

int hb_proc_alive(pid_t pid, unsigned long long pid_start)
{
    if (pid <= 0) {
        errno = EINVAL;
        return -1;
    }
    if (kill(pid, 0) == -1 && errno == ESRCH)
        return 0;
    /* kill() succeeded or said EPERM: the pid exists. Is it still ours? */
    unsigned long long now_start = 0;
    int found = hb_proc_start_time(pid, &now_start);
    if (found == 0)
        return 0;
    if (found < 0)
        return errno == ENOTSUP || errno == EACCES ? 1 : -1;
    if (pid_start != 0 && now_start != pid_start)
        return 0;
    return 1;
}

/* ---- waiting for a process to end --------------------------------------- */

/* Open a watch on PID, which started at PID_START (0: unknown). Always
 * succeeds, falling back to polling when the platform's notifier is not
 * available. Returns 0, or 1 if the process is already gone. */
static int hb_watch_open(hb_watch *w, pid_t pid, unsigned long long pid_start, int force_poll)
{
    w->kind = HB_WATCH_POLL;
    w->fd = -1;
    w->pid = pid;
    w->pid_start = pid_start;
    if (force_poll)
        return hb_proc_alive(pid, pid_start) == 0 ? 1 : 0;
#if defined(__linux__)
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        w->kind = HB_WATCH_PIDFD;
        w->fd = fd;
    } else if (errno == ESRCH) {
        return 1;
    }
#elif defined(__APPLE__)
    int kq = kqueue();
    if (kq >= 0) {
        struct kevent change;
        EV_SET(&change, pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
        if (kevent(kq, &change, 1, NULL, 0, NULL) == 0) {
            (void)fcntl(kq, F_SETFD, FD_CLOEXEC);
            w->kind = HB_WATCH_KQUEUE;
            w->fd = kq;
        } else {
            int gone = errno == ESRCH;
            close(kq);
            if (gone)
                return 1;
        }
    }
#endif
    /* The notifier was attached to whatever now has this pid. If that is no
     * longer the process we were asked to watch, it already died. */
    return hb_proc_alive(pid, pid_start) == 0 ? 1 : 0;
}

/* Wait up to TIMEOUT_NS for the watched process to end, with the signal
 * mask MASK (NULL: unchanged) during the wait.
 *   1  the process ended (or its pid now names another process)
 *   0  the time ran out and it is still alive
 *  -1  interrupted by a signal (errno EINTR), or another error (errno) */
static int hb_watch_wait(hb_watch *w, long long timeout_ns, const sigset_t *mask)
{
#if defined(__linux__)
    if (w->kind == HB_WATCH_PIDFD) {
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN, .revents = 0};
        struct timespec ts = hb_ns_to_timespec(timeout_ns);
        int n = ppoll(&pfd, 1, &ts, mask);
        if (n < 0)
            return -1;
        return n > 0 ? 1 : 0;
    }
#elif defined(__APPLE__)
    if (w->kind == HB_WATCH_KQUEUE) {
        struct kevent event;
        struct timespec ts = hb_ns_to_timespec(timeout_ns);
        sigset_t saved;
        /* No ppoll here: open the signal window just around the wait. */
        if (mask != NULL)
            sigprocmask(SIG_SETMASK, mask, &saved);
        int n = kevent(w->fd, NULL, 0, &event, 1, &ts);
        int err = errno;
        if (mask != NULL)
            sigprocmask(SIG_SETMASK, &saved, NULL);
        errno = err;
        if (n < 0)
            return -1;
        return n > 0 ? 1 : 0;
    }
#endif
    /* kill(pid, 0) fallback: wake up often enough to notice a death soon. */
    do {
        long long step = timeout_ns < HB_FALLBACK_CHECK_NS ? timeout_ns : HB_FALLBACK_CHECK_NS;
        struct timespec ts = hb_ns_to_timespec(step);
        if (pselect(0, NULL, NULL, NULL, &ts, mask) < 0)
            return -1;
        if (hb_proc_alive(w->pid, w->pid_start) == 0)
            return 1;
        timeout_ns -= step;
    } while (timeout_ns > 0);
    return 0;
}

static void hb_watch_close(hb_watch *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

#endif /* MOSAIC_HB_PLATFORM_H */
