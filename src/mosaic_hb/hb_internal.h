/*
 * Declarations shared between the C core's files; not part of the API (that
 * is hb.h) and not installed. Include it first: it sets the feature macros
 * before any system header is read.
 *
 *   hb.c              the policy: lock takeover, the loop, the daemon
 *   hb_record.c       names, intervals, and the two files a beat writes
 *   hb_watch.c        waiting for a process to end: the notifier, else polling
 *   hb_posix.c        generic POSIX plumbing
 *   hb_proc_*.c       the platform: exactly one of linux, darwin, posix
 *                     (setup.py's core_sources() picks it)
 *
 * Return conventions are hb.h's: tri-state 1 / 0 / -1 (with errno) for a
 * question or for "done / not applicable / failed", 0 / -1 for an action.
 */
#ifndef MOSAIC_HB_INTERNAL_H
#define MOSAIC_HB_INTERNAL_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#  define _GNU_SOURCE   /* ppoll, pipe2 */
#endif

#include "hb.h"

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* ---- the platform (hb_proc_linux.c | hb_proc_darwin.c | hb_proc_posix.c)
 * Besides hb_proc_start_time() from hb.h: */

/* PID_START, as hb_proc_start_time() gives it, in unix seconds.
 *   1  *out set
 *   0  not applicable: PID_START is 0, or the platform cannot convert it
 *  -1  could not tell (errno) */
int hb_proc_start_seconds(unsigned long long pid_start, double *out);

/* PID has a handler for SIG (so a signal does not take its default action).
 *   1  it handles SIG
 *   0  it does not (default action or ignored), or it is gone
 *  -1  could not tell (errno: ENOTSUP where the platform cannot say) */
int hb_proc_handles_signal(pid_t pid, int sig);

/* Attach the platform's exit notifier (pidfd, kqueue) to PID.
 *   1  attached: *fd is set, close-on-exec
 *   0  PID is already gone
 *  -1  no notifier here (errno: ENOTSUP where the platform has none, else
 *      why it failed, such as ENOSYS before Linux 5.3); the caller polls */
int hb_notifier_open(pid_t pid, int *fd);

/* Wait up to TIMEOUT_NS on FD from hb_notifier_open(), with the signal mask
 * MASK (NULL: unchanged) during the wait.
 *   1  the process ended
 *   0  the time ran out
 *  -1  interrupted by a signal (errno EINTR), or another error (errno) */
int hb_notifier_wait(int fd, long long timeout_ns, const sigset_t *mask);

/* ---- hb_watch.c -------------------------------------------------------- */

typedef struct hb_watch {
    int fd;                         /* the notifier; -1 when polling */
    pid_t pid;
    unsigned long long pid_start;
} hb_watch;

/* Start watching PID (started at PID_START; 0: unknown): with the platform's
 * notifier unless FORCE_POLL, else with kill(pid, 0) at each wake-up.
 *   1  the process is already gone
 *   0  watching (W must be closed with hb_watch_close()) */
int hb_watch_open(hb_watch *w, pid_t pid, unsigned long long pid_start, int force_poll);

/* Wait up to TIMEOUT_NS for the watched process to end; as hb_notifier_wait()
 * (1 ended or its pid was reused, 0 time ran out, -1 with errno). */
int hb_watch_wait(hb_watch *w, long long timeout_ns, const sigset_t *mask);

/* Stop using the notifier; later waits poll. */
void hb_watch_close(hb_watch *w);

/* ---- hb_record.c ------------------------------------------------------- */

/* AGENT + SUFFIX into BUF ("a1" ".hb.lock" -> "a1.hb.lock"). */
void hb_file_name(char *buf, size_t size, const char *agent, const char *suffix);

/* Atomically replace DIRFD/mosaic_AGENT.prom with REC as metrics. */
int hb_write_metrics(int dirfd, const hb_record *rec, double start_seconds);

/* Read DIRFD/AGENT.state.
 *   1  a valid state file: *out set
 *   0  none there, or not a valid one (*out then says unknown)
 *  -1  could not read it (errno); *out untouched */
int hb_read_state(int dirfd, const char *agent, hb_agent_state *out);

/* Atomically replace DIRFD/AGENT.state with STATE. The temp file's name
 * carries our pid, as hooks of one agent may run at the same time. */
int hb_write_state(int dirfd, const char *agent, const hb_agent_state *state);

/* Who writes DIRFD/AGENT.hb: a record with status=ok gives its writer's
 * pid, its start time (hb_start) if the record has one, and the time of
 * its last beat.
 *   1  *hb_pid, *hb_start (0: not in the record) and *epoch set
 *   0  no record, not a valid one, or its sidecar has ended
 *  -1  could not read it (errno) */
int hb_read_record_owner(int dirfd, const char *agent, pid_t *hb_pid,
                         unsigned long long *hb_start, double *epoch);

/* The restarts= of DIRFD/AGENT.hb if that record is about PID (a relaunched
 * sidecar for the same agent process keeps the count).
 *   1  *restarts set;  0  no such record;  -1  could not read it (errno) */
int hb_read_record_restarts(int dirfd, const char *agent, pid_t pid, unsigned long long *restarts);

/* ---- hb_posix.c -------------------------------------------------------- */

long long hb_monotonic_ns(void);
struct timespec hb_ns_to_timespec(long long ns);

/* mkdir -p, with 0700 for every directory it creates. 0, or -1 (errno). */
int hb_mkdirs(const char *dir);

/* Atomically replace NAME in DIRFD with LEN bytes of BUF, through TMP_NAME;
 * mode MODE; fsync file and directory if DO_FSYNC. 0, or -1 (errno) with
 * TMP_NAME removed and NAME untouched. */
int hb_write_atomic(int dirfd, const char *name, const char *tmp_name,
                    const char *buf, size_t len, mode_t mode, int do_fsync);

/* Read the regular file NAME in DIRFD (never through a symlink, never
 * blocking on a FIFO) into BUF, NUL-terminated. The length, or -1 (errno:
 * ENOENT if missing, EFBIG if it holds SIZE - 1 bytes or more, EINVAL if it
 * is not a regular file). */
ssize_t hb_read_small(int dirfd, const char *name, char *buf, size_t size);

/* Unix time now, in seconds. */
double hb_realtime(void);

/* Open (creating, 0600, never through a symlink) NAME in DIRFD to lock it.
 * The fd, or -1 (errno). */
int hb_open_lock_file(int dirfd, const char *name);

/* Try to take a whole-file POSIX write lock on FD, without waiting.
 *   1  taken
 *   0  held by another process: *holder is its pid (0 if it cannot be told)
 *  -1  error (errno) */
int hb_try_lock(int fd, pid_t *holder);

/* pipe() with both ends close-on-exec. 0, or -1 (errno). */
int hb_pipe_cloexec(int fds[2]);

/* Close every fd from LOWEST up. */
void hb_close_from(int lowest);

/* Run ARGV[0] (an absolute path) with ARGV, stdin and stderr on /dev/null,
 * the signal mask empty and every signal at its default; its stdout (at
 * most SIZE - 1 bytes, NUL-terminated) into OUT. Waits at most TIMEOUT_NS,
 * then kills it. Only the restart path calls this: never a beat.
 * Returns the wait status (as waitpid's), or -1 (errno; ETIMEDOUT). */
int hb_spawn_capture(char *const argv[], char *out, size_t size, long long timeout_ns);

/* Sleep up to NS with the signal mask MASK (NULL: unchanged) during the
 * wait. 0 when the time ran out, -1 (errno EINTR) when a signal came. */
int hb_sleep_ns(long long ns, const sigset_t *mask);

/* flock(FD, LOCK_EX | LOCK_NB): 1 taken, 0 held elsewhere, -1 (errno). */
int hb_try_flock(int fd);

/* 1 if NAME exists in DIRFD (a symlink counts, unfollowed), else 0. */
int hb_exists_at(int dirfd, const char *name);

/* close() FD if it is open, keeping errno. */
void hb_close_quietly(int fd);

#endif /* MOSAIC_HB_INTERNAL_H */
