/*
 * Waiting for a process to end: with the platform's notifier (hb_proc_*.c)
 * when there is one, else with kill(pid, 0) at each wake-up.
 *
 * The kill(pid, 0) fallback is compiled on every platform because it is
 * chosen at run time: MOSAIC_HB_WATCH=poll forces it (tests, diagnosis), and
 * a kernel or sandbox without the notifier, or a notifier that breaks during
 * the loop, falls back to it.
 */
#include "hb_internal.h"

#include <errno.h>
#include <signal.h>
#include <sys/select.h>
#include <unistd.h>

/* How long the fallback sleeps at most between checks, so that a long
 * interval does not also mean a late death notice. */
#define HB_FALLBACK_CHECK_NS 250000000LL

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

int hb_watch_open(hb_watch *w, pid_t pid, unsigned long long pid_start, int force_poll)
{
    w->fd = -1;
    w->pid = pid;
    w->pid_start = pid_start;
    if (!force_poll) {
        int attached = hb_notifier_open(pid, &w->fd);
        if (attached == 0)
            return 1;
        /* attached < 0: no notifier; poll. */
    }
    /* A notifier was attached to whatever now has this pid. If that is no
     * longer the process we were asked to watch, it already died. */
    return hb_proc_alive(pid, pid_start) == 0 ? 1 : 0;
}

/* The fallback: wake up often enough to notice a death soon. */
static int hb_poll_wait(hb_watch *w, long long timeout_ns, const sigset_t *mask)
{
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

int hb_watch_wait(hb_watch *w, long long timeout_ns, const sigset_t *mask)
{
    if (w->fd >= 0)
        return hb_notifier_wait(w->fd, timeout_ns, mask);
    return hb_poll_wait(w, timeout_ns, mask);
}

void hb_watch_close(hb_watch *w)
{
    hb_close_quietly(w->fd);
    w->fd = -1;
}

int hb_wait_exit(pid_t pid, unsigned long long pid_start, double timeout)
{
    hb_watch watch;
    int ended = hb_watch_open(&watch, pid, pid_start, 0);
    if (ended == 0)
        ended = hb_watch_wait(&watch, (long long)(timeout * 1e9), NULL);
    int err = errno;
    hb_watch_close(&watch);
    errno = err;
    return ended;
}
