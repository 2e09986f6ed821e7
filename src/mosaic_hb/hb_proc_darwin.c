/*
 * macOS: a process's start time comes from proc_pidinfo(PROC_PIDTBSDINFO)
 * (microseconds since the epoch), its signal handlers from the kernel's
 * process table (sysctl KERN_PROC_PID, p_sigcatch), and a kqueue with
 * EVFILT_PROC/NOTE_EXIT wakes the sidecar when the process dies.
 */
#include "hb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libproc.h>
#include <signal.h>
#include <sys/event.h>
#include <sys/proc.h>        /* SZOMB */
#include <sys/proc_info.h>
#include <sys/sysctl.h>
#include <unistd.h>

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
    if (pid_start == 0)
        return 0;
    *out = (double)pid_start / 1e6;
    return 1;
}

/* p_sigcatch of the kernel's process table entry: the signals PID has
 * handlers for, as sysctl(3) KERN_PROC_PID reports it (a zero-length
 * answer means no such process). */
int hb_proc_handles_signal(pid_t pid, int sig)
{
    if (sig < 1 || sig >= NSIG) {
        errno = EINVAL;
        return -1;
    }
    int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)pid};
    struct kinfo_proc info;
    size_t len = sizeof info;
    if (sysctl(mib, 4, &info, &len, NULL, 0) != 0)
        return errno == ESRCH ? 0 : -1;
    if (len == 0 || info.kp_proc.p_stat == SZOMB)
        return 0;
    return (info.kp_proc.p_sigcatch & sigmask(sig)) != 0 ? 1 : 0;
}

int hb_notifier_open(pid_t pid, int *fd)
{
    int kq = kqueue();
    if (kq < 0)
        return -1;
    struct kevent change;
    EV_SET(&change, pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
    if (kevent(kq, &change, 1, NULL, 0, NULL) != 0) {
        int err = errno;
        close(kq);
        errno = err;
        return err == ESRCH ? 0 : -1;
    }
    (void)fcntl(kq, F_SETFD, FD_CLOEXEC);
    *fd = kq;
    return 1;
}

int hb_notifier_wait(int fd, long long timeout_ns, const sigset_t *mask)
{
    struct kevent event;
    struct timespec ts = hb_ns_to_timespec(timeout_ns);
    sigset_t saved;
    /* No ppoll here: open the signal window just around the wait. */
    if (mask != NULL)
        sigprocmask(SIG_SETMASK, mask, &saved);
    int n = kevent(fd, NULL, 0, &event, 1, &ts);
    int err = errno;
    if (mask != NULL)
        sigprocmask(SIG_SETMASK, &saved, NULL);
    errno = err;
    if (n < 0)
        return -1;
    return n > 0 ? 1 : 0;
}
