/*
 * Any other POSIX system: no portable way to read a process's start time
 * and no exit notifier, so the sidecar polls with kill(pid, 0) (hb_watch.c)
 * and cannot tell a reused pid from the original process.
 *
 * The polling itself is not here: it is chosen at run time on every
 * platform (MOSAIC_HB_WATCH=poll, a Linux without pidfd_open, a notifier
 * that breaks), so it is compiled everywhere, in hb_watch.c.
 */
#include "hb_internal.h"

#include <errno.h>

int hb_proc_start_time(pid_t pid, unsigned long long *start)
{
    (void)pid;
    (void)start;
    errno = ENOTSUP;
    return -1;
}

/* No one-pass process table here: fleet ps reads processes through psutil. */
int hb_proc_list(hb_proc_entry **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    errno = ENOTSUP;
    return -1;
}

int hb_proc_resident(pid_t pid, unsigned long long *pages)
{
    (void)pid;
    (void)pages;
    errno = ENOTSUP;
    return -1;
}

int hb_proc_start_seconds(unsigned long long pid_start, double *out)
{
    (void)pid_start;
    (void)out;
    return 0;
}

int hb_proc_handles_signal(pid_t pid, int sig)
{
    (void)pid;
    (void)sig;
    errno = ENOTSUP;
    return -1;
}

int hb_notifier_open(pid_t pid, int *fd)
{
    (void)pid;
    (void)fd;
    errno = ENOTSUP;
    return -1;
}

int hb_notifier_wait(int fd, long long timeout_ns, const sigset_t *mask)
{
    (void)fd;
    (void)timeout_ns;
    (void)mask;
    errno = ENOTSUP;
    return -1;
}
