/*
 * mosaic heartbeat core: the policy. Taking the agent's lock over from a
 * running sidecar, the loop, and the daemon. See hb.h for the API and
 * hb_internal.h for where everything else lives.
 */
#include "hb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define HB_LOCK_WAIT_NS 5000000000LL   /* how long a replaced sidecar may take to let go */

/* ---- the lock ------------------------------------------------------------ */

/* Take AGENT.hb.lock for the life of the sidecar. A POSIX record lock, not
 * flock(), because F_GETLK names the holder: a running sidecar for the same
 * agent is asked to hand over (SIGUSR1), and we wait, bounded, for it to go.
 * Returns the lock fd, or -1 with errno. */
static int hb_take_lock(int dirfd, const char *agent, const char **why)
{
    char name[HB_AGENT_MAX + 16];
    hb_file_name(name, sizeof name, agent, ".hb.lock");
    int fd = hb_open_lock_file(dirfd, name);
    if (fd < 0) {
        *why = "cannot open the lock file";
        return -1;
    }
    pid_t holder = 0, signalled = 0;
    long long deadline = hb_monotonic_ns() + HB_LOCK_WAIT_NS;
    for (;;) {
        int got = hb_try_lock(fd, &holder);
        if (got == 1)
            return fd;
        if (got < 0) {
            *why = "cannot lock the lock file";
            break;
        }
        if (holder > 0 && holder != signalled && holder != getpid()) {
            kill(holder, SIGUSR1);
            /* A stopped holder (SIGSTOP) can only hand over once it runs: let
             * it. Otherwise we would give up, and the request it finds when
             * continued later would end it with no writer left. */
            kill(holder, SIGCONT);
            signalled = holder;
        }
        if (hb_monotonic_ns() > deadline) {
            *why = "another sidecar holds the lock and did not hand over";
            errno = EWOULDBLOCK;
            break;
        }
        struct timespec pause = {0, 5000000L};
        nanosleep(&pause, NULL);
    }
    int err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* ---- the loop ------------------------------------------------------------ */

typedef struct hb_state {
    const hb_config *cfg;
    int dirfd;
    int lockfd;
    int textfile_dirfd;       /* -1 unless exporting metrics */
    double start_seconds;     /* the agent's start, unix seconds, for metrics */
    hb_agent_state agent_state;  /* from AGENT.state: read at start and on SIGUSR2 */
    hb_record rec;
    /* Restarts (cfg->restart); unused without a policy. */
    hb_restart_facts facts;
    long long run_started_ns;    /* when the watched agent began, as we saw it */
    long long next_delay_ns;     /* the delay before the next restart */
    long long restart_times[HB_RESTART_BURST_MAX];  /* ring of recent restarts */
    int restart_count;           /* entries in restart_times (up to burst) */
    unsigned int restart_ring;   /* where the next one goes */
    int slot_fd;                 /* a held restart slot, else -1 */
    long long slot_release_ns;   /* when to let it go */
    unsigned int random;         /* rand_r state, for jitter */
} hb_state;

static void hb_state_close(hb_state *st)
{
    int err = errno;
    hb_close_quietly(st->lockfd);
    hb_close_quietly(st->dirfd);
    hb_close_quietly(st->textfile_dirfd);
    hb_close_quietly(st->slot_fd);
    st->lockfd = st->dirfd = st->textfile_dirfd = st->slot_fd = -1;
    errno = err;
}

/* The run dir vanished under us (someone ran rm -rf): make it again, and
 * lock again, since our lock now lives in a deleted directory. 0 on
 * success; -1 with errno; HB_END_REPLACED if another sidecar got there first. */
static int hb_reopen_run_dir(hb_state *st)
{
    const char *why;
    int dirfd = hb_open_run_dir(st->cfg->run_dir, 1, &why);
    if (dirfd < 0)
        return -1;
    char name[HB_AGENT_MAX + 16];
    hb_file_name(name, sizeof name, st->cfg->agent, ".hb.lock");
    int lockfd = hb_open_lock_file(dirfd, name);
    pid_t holder;
    if (lockfd < 0 || hb_try_lock(lockfd, &holder) != 1) {
        int err = errno;
        if (lockfd >= 0)
            close(lockfd);
        close(dirfd);
        errno = err;
        return lockfd < 0 ? -1 : HB_END_REPLACED;
    }
    close(st->dirfd);
    close(st->lockfd);
    st->dirfd = dirfd;
    st->lockfd = lockfd;
    return 0;
}

/* Write one beat; if the run dir has gone, make it again and retry once.
 * Metrics are best-effort: the record is what mosaic itself relies on. */
static int hb_beat_now(hb_state *st, const char *status)
{
    st->rec.status = status;
    if (st->textfile_dirfd >= 0)
        (void)hb_write_metrics(st->textfile_dirfd, &st->rec, st->start_seconds);
    if (hb_write_record(st->dirfd, &st->rec, st->cfg->fsync) == 0)
        return 0;
    if (errno != ENOENT)
        return -1;
    int r = hb_reopen_run_dir(st);
    if (r != 0)
        return r;
    return hb_write_record(st->dirfd, &st->rec, st->cfg->fsync);
}

/* What a signal that interrupted a wait asks for (enum hb_interrupt). */
static int hb_interruption(const hb_config *cfg)
{
    return cfg->interrupted ? cfg->interrupted(cfg->ctx) : HB_GO_ON;
}

/* How the sidecar ends for HB_STOP or HB_HAND_OVER. */
static int hb_end_of(int action)
{
    return action == HB_STOP ? HB_END_STOPPED : HB_END_REPLACED;
}

/* Beat every interval until the watched process ends or a signal asks us to
 * stop or hand over. Returns HB_END_DEAD, HB_END_STOPPED or HB_END_REPLACED. */
static int hb_loop(hb_state *st, hb_watch *watch)
{
    const hb_config *cfg = st->cfg;
    const long long interval_ns = (long long)(cfg->interval * 1e9);
    long long next_beat = hb_monotonic_ns() + interval_ns;
    for (;;) {
        /* A restart slot held (see hb_restart_agent) is let go on time; with
         * none held, a beat costs nothing more. */
        long long wake = st->slot_fd >= 0 && st->slot_release_ns < next_beat ? st->slot_release_ns : next_beat;
        int ended = hb_watch_wait(watch, wake - hb_monotonic_ns(), cfg->wait_mask);
        if (ended == 1)
            return HB_END_DEAD;
        if (ended < 0) {
            if (errno != EINTR) {
                /* The notifier broke (it should not): keep watching by polling. */
                hb_watch_close(watch);
                continue;
            }
            int action = hb_interruption(cfg);
            if (action == HB_STOP || action == HB_HAND_OVER)
                return hb_end_of(action);
            if (action == HB_READ_STATE) {
                /* Only now, never on a plain beat: a beat stays 5 system
                 * calls. A read error keeps the last known state. */
                (void)hb_read_state(st->dirfd, cfg->agent, &st->agent_state);
                st->rec.seq++;
                if (hb_beat_now(st, "ok") == HB_END_REPLACED)
                    return HB_END_REPLACED;
            }
            continue;
        }
        long long now = hb_monotonic_ns();
        if (st->slot_fd >= 0 && now >= st->slot_release_ns) {
            hb_close_quietly(st->slot_fd);
            st->slot_fd = -1;
        }
        if (now < next_beat)
            continue;
        st->rec.seq++;
        /* A failed beat (disk full, ...) leaves the last good record in place;
         * the next one tries again, so the sidecar recovers on its own. */
        if (hb_beat_now(st, "ok") == HB_END_REPLACED)
            return HB_END_REPLACED;
        /* Keep to the schedule, but after a stall (SIGSTOP, suspend) start a
         * fresh one rather than bursting to catch up. */
        next_beat += interval_ns;
        if (next_beat <= now)
            next_beat = now + interval_ns;
    }
}

/* ---- restarts ------------------------------------------------------------- */

#define HB_TMUX_TIMEOUT_NS 5000000000LL   /* one tmux call, at most */
#define HB_REAP_WAIT_NS 1000000000LL      /* for tmux to see how its pane's process ended */
#define HB_SLOT_RETRY_NS 20000000LL       /* between looks for a free restart slot */
#define HB_SLOTS_MAX 64

/* How a supervised death ends; beyond hb_end's values. */
#define HB_RESTARTED 10     /* the agent runs again: back to the loop */
#define HB_GIVEN_UP 11      /* no restart, and the final record is written */

/* Wait until DEADLINE (monotonic ns), taking signals as the loop does.
 * HB_GO_ON when the time is up, else HB_END_STOPPED or HB_END_REPLACED. */
static int hb_pause_until(hb_state *st, long long deadline)
{
    const hb_config *cfg = st->cfg;
    for (;;) {
        long long left = deadline - hb_monotonic_ns();
        if (left <= 0)
            return HB_GO_ON;
        if (hb_sleep_ns(left, cfg->wait_mask) == 0)
            continue;
        int action = hb_interruption(cfg);
        if (action == HB_STOP || action == HB_HAND_OVER)
            return hb_end_of(action);
        /* HB_READ_STATE: the agent is dead; its next run starts afresh. */
    }
}

/* Run tmux on the agent's socket with ARGS (NULL-terminated); its stdout
 * in OUT. 1 if tmux succeeded, else 0. */
static int hb_tmux(const hb_restart *rs, const char *const *args, char *out, size_t size)
{
    char *argv[HB_RESTART_ARGV_MAX];
    size_t n = 0;
    argv[n++] = (char *)rs->tmux;
    argv[n++] = "-L";
    argv[n++] = (char *)rs->socket;
    for (; *args != NULL && n + 1 < HB_RESTART_ARGV_MAX; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    int status = hb_spawn_capture(argv, out, size, HB_TMUX_TIMEOUT_NS);
    return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* How the agent's pane ended, as tmux (its parent) saw it. PANE_ID gets
 * the pane's id ("%3"). 1: *status or *sig set (status -1 or sig 0 when
 * tmux cannot say); 0: no pane of that pid any more, or no tmux server
 * (the session was killed, the server is gone): not ours to restart. */
static int hb_pane_ended(hb_state *st, char pane_id[16], int *status, int *sig)
{
    const hb_restart *rs = st->cfg->restart;
    char session[HB_AGENT_MAX + 4];
    snprintf(session, sizeof session, "=%s:", st->cfg->agent);
    const char *args[] = {"list-panes", "-s", "-t", session, "-F",
                          "#{pane_pid} #{pane_id} #{pane_dead} #{pane_dead_status} #{pane_dead_signal} #{pid}",
                          NULL};
    long long deadline = hb_monotonic_ns() + HB_REAP_WAIT_NS;
    for (;;) {
        char out[4096];
        if (!hb_tmux(rs, args, out, sizeof out))
            return 0;
        int found = 0;
        for (char *line = out, *next; line != NULL && *line; line = next) {
            next = strchr(line, '\n');
            if (next != NULL)
                *next++ = '\0';
            /* "PID %ID DEAD STATUS SIGNAL SERVER_PID"; STATUS or SIGNAL may be empty. */
            char *fields[6] = {0};
            int k = 0;
            for (char *f = line; k < 6 && f != NULL; k++) {
                fields[k] = f;
                f = strchr(f, ' ');
                if (f != NULL)
                    *f++ = '\0';
            }
            if (k < 6 || atol(fields[0]) != (long)st->rec.pid)
                continue;
            found = 1;
            /* tmux calls a pane dead once its pty closes, which may come
             * before it has reaped the process (on SIGCHLD) and knows how it
             * ended: until then both are empty. */
            if (strcmp(fields[2], "1") == 0) {
                snprintf(pane_id, 16, "%s", fields[1]);
                *status = fields[3][0] ? atoi(fields[3]) : -1;
                *sig = fields[4][0] ? atoi(fields[4]) : 0;
                if (*status >= 0 || *sig > 0)
                    return 1;
                /* tmux built with libutempter can miss the SIGCHLD of a pane
                 * (tmux/tmux#311) and leave it a zombie: nudge it to reap. */
                long server = atol(fields[5]);
                if (server > 1)
                    kill((pid_t)server, SIGCHLD);
            }
        }
        if (!found)
            return 0;
        if (hb_monotonic_ns() > deadline)   /* dead, but how is not known (tmux < 3.3 */
            return pane_id[0] != '\0';     /* has no pane_dead_signal): a failure */
        /* Not reaped yet: look again soon. */
        struct timespec pause = {0, 5000000L};
        nanosleep(&pause, NULL);
    }
}

/* Take a free restart slot (run dir, restart-slot-K.lock, flock), waiting
 * while all are taken: at most cfg->restart->slots restarts run at once on
 * the host. HB_GO_ON with st->slot_fd set, or as hb_pause_until. */
static int hb_take_slot(hb_state *st)
{
    const hb_restart *rs = st->cfg->restart;
    int slots = rs->slots < 1 ? 1 : rs->slots > HB_SLOTS_MAX ? HB_SLOTS_MAX : rs->slots;
    for (;;) {
        int first = (int)(rand_r(&st->random) % (unsigned)slots);
        int busy = 0;
        for (int i = 0; i < slots; i++) {
            char name[40];
            snprintf(name, sizeof name, "restart-slot-%d.lock", (first + i) % slots);
            int fd = hb_open_lock_file(st->dirfd, name);
            if (fd < 0 && errno == ENOENT) {
                /* The run dir was removed during the wait: make it again
                 * (and retake our lock there), then look once more. */
                int r = hb_reopen_run_dir(st);
                if (r == HB_END_REPLACED)
                    return HB_END_REPLACED;
                if (r == 0)
                    fd = hb_open_lock_file(st->dirfd, name);
            }
            if (fd < 0)   /* not a lockable file (a planted symlink or dir): no slot */
                continue;
            int got = hb_try_flock(fd);
            if (got == 1) {
                st->slot_fd = fd;
                /* Held until slot_hold after the respawn (set there): two
                 * restarts through one slot are that far apart, however
                 * long a respawn takes. */
                st->slot_release_ns = LLONG_MAX;
                return HB_GO_ON;
            }
            close(fd);
            if (got < 0) {   /* cannot lock here (odd filesystem): do not hold restarts */
                st->slot_fd = -1;
                return HB_GO_ON;
            }
            busy++;
        }
        /* No slot is taken by anyone, and none can be had: waiting would
         * be for ever, so restart without one (as on an odd filesystem). */
        if (busy == 0) {
            st->slot_fd = -1;
            return HB_GO_ON;
        }
        long long jitter = (long long)(rand_r(&st->random) % 1000) * (HB_SLOT_RETRY_NS / 1000);
        int r = hb_pause_until(st, hb_monotonic_ns() + HB_SLOT_RETRY_NS + jitter);
        if (r != HB_GO_ON)
            return r;
    }
}

/* PANE_ID is still a pane of the agent's session. A pane id names a pane
 * on the whole server: after the delay the session may have been renamed
 * (the user took it over), or the server replaced by one where the id is
 * another session's pane; neither is ours to respawn. */
static int hb_pane_in_session(hb_state *st, const char *pane_id)
{
    char session[HB_AGENT_MAX + 4];
    snprintf(session, sizeof session, "=%s:", st->cfg->agent);
    const char *args[] = {"list-panes", "-s", "-t", session, "-F", "#{pane_id}", NULL};
    char out[4096];
    if (!hb_tmux(st->cfg->restart, args, out, sizeof out))
        return 0;
    for (char *line = out, *next; line != NULL && *line; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strcmp(line, pane_id) == 0)
            return 1;
    }
    return 0;
}

/* Respawn the dead pane PANE_ID with the restart command (or its first
 * one) and learn the new pane pid: 1 and *pid set, or 0. */
static int hb_respawn(hb_state *st, const char *pane_id, pid_t *pid)
{
    const hb_restart *rs = st->cfg->restart;
    if (!hb_pane_in_session(st, pane_id))
        return 0;
    const char *args[HB_RESTART_ARGV_MAX];
    size_t n = 0;
    args[n++] = "respawn-pane";
    args[n++] = "-t";
    args[n++] = pane_id;
    for (char *const *c = rs->command; c != NULL && *c != NULL && n + 8 < HB_RESTART_ARGV_MAX; c++)
        args[n++] = *c;
    if (rs->log_pipe != NULL) {
        /* A new log writer, which marks the restart; tmux refuses pipe-pane
         * on a dead pane, so it comes right after the respawn, in the same
         * command sequence: the server reads none of the new run's output
         * before the sequence ends. The old writer reads end of file. */
        args[n++] = ";";
        args[n++] = "pipe-pane";
        args[n++] = "-O";
        args[n++] = "-t";
        args[n++] = pane_id;
        args[n++] = rs->log_pipe;
    }
    args[n++] = ";";
    args[n++] = "display-message";
    args[n++] = "-p";
    args[n++] = "-t";
    args[n++] = pane_id;
    args[n++] = "#{pane_pid}";
    args[n] = NULL;
    char out[64];
    if (!hb_tmux(rs, args, out, sizeof out))
        return 0;
    long value = atol(out);
    if (value <= 0 || value == (long)st->rec.pid)
        return 0;
    *pid = (pid_t)value;
    return 1;
}

/* Write the record (and metrics) with STATUS; HB_END_REPLACED if another
 * sidecar took the agent meanwhile, else 0. */
static int hb_record_now(hb_state *st, const char *status)
{
    st->rec.seq++;
    return hb_beat_now(st, status) == HB_END_REPLACED ? HB_END_REPLACED : 0;
}

/* The agent died and a restart policy is on. Decide, wait out the
 * backoff, take a slot, respawn the pane and watch the new pid.
 * HB_RESTARTED (WATCH watches the new agent), HB_GIVEN_UP (final record
 * written), HB_END_DEAD (no restart: the caller writes the final record),
 * HB_END_STOPPED or HB_END_REPLACED. */
static int hb_restart_agent(hb_state *st, hb_watch *watch)
{
    const hb_restart *rs = st->cfg->restart;
    hb_restart_facts *facts = &st->facts;
    long long died = hb_monotonic_ns();
    /* A slot still held from the last restart is not kept through a wait. */
    hb_close_quietly(st->slot_fd);
    st->slot_fd = -1;
    char pane_id[16] = "";
    int status = -1, sig = 0;
    int known = hb_pane_ended(st, pane_id, &status, &sig);
    facts->exit_status = status;
    facts->exit_signal = sig;
    /* No pane (the session was killed: a stop), or no server: not ours. */
    if (!known)
        return HB_END_DEAD;
    if (rs->policy == HB_RESTART_ON_FAILURE && sig == 0 && status == 0)
        return HB_END_DEAD;

    /* The burst limit (StartLimitBurst within StartLimitIntervalSec). */
    int burst = rs->burst < 1 ? 1 : rs->burst > HB_RESTART_BURST_MAX ? HB_RESTART_BURST_MAX : rs->burst;
    int recent = 0;
    for (int i = 0; i < st->restart_count && i < burst; i++)
        if (died - st->restart_times[i] < rs->burst_window_ns)
            recent++;
    if (recent >= burst) {
        facts->gave_up = 1;
        facts->restart_at = 0;
        return hb_record_now(st, "dead") == HB_END_REPLACED ? HB_END_REPLACED : HB_GIVEN_UP;
    }

    /* The backoff: from the minimum after a run long enough, else doubled. */
    if (died - st->run_started_ns >= rs->reset_after_ns || st->next_delay_ns <= 0)
        st->next_delay_ns = rs->delay_min_ns;
    long long delay = st->next_delay_ns;
    st->next_delay_ns = delay * 2 > rs->delay_max_ns ? rs->delay_max_ns : delay * 2;
    /* Jitter, up to a quarter of the delay, so that agents that died
     * together do not all come back together. */
    long long quarter = delay / 4;
    if (quarter > 0)
        delay += (long long)((double)rand_r(&st->random) / ((double)RAND_MAX + 1.0) * (double)quarter);
    long long due = died + delay;
    facts->restart_at = hb_realtime() + (double)(due - hb_monotonic_ns()) / 1e9;
    facts->restart_delay = (double)delay / 1e9;
    if (hb_record_now(st, "dead") == HB_END_REPLACED)
        return HB_END_REPLACED;

    int r = hb_pause_until(st, due);
    if (r == HB_GO_ON)
        r = hb_take_slot(st);
    if (r != HB_GO_ON)
        return r;

    /* A deliberate stop marks AGENT.stopping before it ends the session:
     * looked at last, right before the respawn. */
    char mark[HB_AGENT_MAX + 16];
    hb_file_name(mark, sizeof mark, st->cfg->agent, ".stopping");
    if (hb_exists_at(st->dirfd, mark))
        return HB_END_STOPPED;
    pid_t pid;
    if (!hb_respawn(st, pane_id, &pid))
        return HB_END_DEAD;

    /* The new agent: watch it, and say so. */
    long long now = hb_monotonic_ns();
    /* A ring of the last BURST restarts: only their ages count. */
    st->restart_times[st->restart_ring++ % burst] = now;
    st->restart_count = st->restart_count < burst ? st->restart_count + 1 : burst;
    facts->restarts++;
    facts->last_restart = hb_realtime();
    facts->restart_at = 0;
    st->run_started_ns = now;
    st->slot_release_ns = hb_monotonic_ns() + rs->slot_hold_ns;
    unsigned long long start = 0;
    if (hb_proc_start_time(pid, &start) != 1)
        start = 0;
    hb_watch_close(watch);
    st->rec.pid = pid;
    st->rec.pid_start = start;
    if (st->textfile_dirfd >= 0 && hb_proc_start_seconds(start, &st->start_seconds) != 1)
        st->start_seconds = 0;
    /* The new run has no hook state yet. */
    memset(&st->agent_state, 0, sizeof st->agent_state);
    char state_file[HB_AGENT_MAX + 16];
    hb_file_name(state_file, sizeof state_file, st->cfg->agent, ".state");
    (void)unlinkat(st->dirfd, state_file, 0);
    /* One that is already gone is never written as ok, not even for a moment. */
    if (hb_watch_open(watch, pid, start, st->cfg->force_poll) != 0)
        return hb_restart_agent(st, watch);
    if (hb_record_now(st, "ok") == HB_END_REPLACED)
        return HB_END_REPLACED;
    return HB_RESTARTED;
}

int hb_run(const hb_config *cfg, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    hb_state st = {.cfg = cfg, .dirfd = -1, .lockfd = -1, .textfile_dirfd = -1, .slot_fd = -1};
    hb_watch watch = {.fd = -1};
    int end = HB_END_ERROR;
    /* A hook signals the pid in our record with SIGUSR2, whose default
     * action would end us. A caller with no handler for it (the binding
     * outside the main thread) gets it ignored: the state then waits for
     * the next start, but the heartbeat lives. */
    struct sigaction usr2_saved, ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    int usr2_ignored = sigaction(SIGUSR2, NULL, &usr2_saved) == 0
                       && usr2_saved.sa_handler == SIG_DFL
                       && sigaction(SIGUSR2, &ignore, NULL) == 0;

    if (!hb_valid_agent_name(cfg->agent) || cfg->pid <= 0
        || !(cfg->interval >= HB_INTERVAL_MIN && cfg->interval <= HB_INTERVAL_MAX)) {
        *why = "invalid arguments";
        errno = EINVAL;
        goto out;
    }
    unsigned long long pid_start = 0;
    int found = hb_proc_start_time(cfg->pid, &pid_start);
    if (found == 0 || (found < 0 && errno == ESRCH))
        goto no_such_process;
    if (found < 0 && errno != ENOTSUP) {
        *why = "cannot read the process's start time";
        goto out;
    }
    if (cfg->textfile_dir != NULL) {
        st.textfile_dirfd = open(cfg->textfile_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (st.textfile_dirfd < 0) {
            *why = "cannot open the textfile dir";
            goto out;
        }
        if (hb_proc_start_seconds(pid_start, &st.start_seconds) != 1)
            st.start_seconds = 0;   /* the metric says "unknown" */
    }
    st.dirfd = hb_open_run_dir(cfg->run_dir, 1, why);
    if (st.dirfd < 0)
        goto out;
    if (hb_watch_open(&watch, cfg->pid, pid_start, cfg->force_poll) != 0)
        goto no_such_process;
    st.lockfd = hb_take_lock(st.dirfd, cfg->agent, why);
    if (st.lockfd < 0)
        goto out;

    st.rec.agent = cfg->agent;
    st.rec.runtime = cfg->runtime;
    st.rec.pid = cfg->pid;
    st.rec.hb_pid = getpid();
    if (hb_proc_start_time(st.rec.hb_pid, &st.rec.hb_start) != 1)
        st.rec.hb_start = 0;
    st.rec.pid_start = pid_start;
    st.rec.interval = cfg->interval;
    st.rec.seq = 1;
    /* A relaunched sidecar keeps the agent's last reported state. */
    (void)hb_read_state(st.dirfd, cfg->agent, &st.agent_state);
    st.rec.state = &st.agent_state;
    if (cfg->restart != NULL && cfg->restart->policy != HB_RESTART_NO) {
        static const char *const policies[] = {"no", "on-failure", "always"};
        st.facts.policy = policies[cfg->restart->policy == HB_RESTART_ALWAYS ? 2 : 1];
        st.facts.exit_status = -1;
        /* A relaunched sidecar for the same agent process keeps the count. */
        (void)hb_read_record_restarts(st.dirfd, cfg->agent, cfg->pid, &st.facts.restarts);
        st.rec.restart = &st.facts;
        st.run_started_ns = hb_monotonic_ns();
        st.random = (unsigned int)getpid() ^ (unsigned int)hb_monotonic_ns();
    }
    if (hb_beat_now(&st, "ok") != 0) {
        *why = "cannot write the first heartbeat";
        goto out;
    }
    if (cfg->started != NULL)
        cfg->started(cfg->ctx);

    end = hb_loop(&st, &watch);
    while (end == HB_END_DEAD && st.rec.restart != NULL) {
        int next = hb_restart_agent(&st, &watch);
        if (next == HB_GIVEN_UP) {
            end = HB_END_DEAD;
            goto out;
        }
        if (next != HB_RESTARTED) {
            end = next;
            break;
        }
        end = hb_loop(&st, &watch);
    }
    if (st.rec.restart != NULL)
        st.facts.restart_at = 0;
    if (end != HB_END_REPLACED) {
        st.rec.seq++;
        (void)hb_beat_now(&st, end == HB_END_DEAD ? "dead" : "stopped");
    }
    goto out;

no_such_process:
    *why = "no such process";
    errno = ESRCH;
out:
    /* The one way out: all three keep errno. */
    hb_watch_close(&watch);
    hb_state_close(&st);
    if (usr2_ignored) {
        int err = errno;
        sigaction(SIGUSR2, &usr2_saved, NULL);
        errno = err;
    }
    return end;
}

/* ---- the hook: reporting the agent's state --------------------------------- */

/* Tell the sidecar writing DIRFD/AGENT.hb that the state changed. The
 * writer is the process with the record's hb_pid and, where the record
 * names it, hb_start: a reused pid is a newer process, and SIGUSR2 would
 * kill it. A record without hb_start (an older sidecar's) falls back to
 * the start time in seconds: only a process that started no later than
 * the record's last beat (plus a second for the platforms' rounding of
 * start times) can be its writer. Where the platform can say (Linux), the
 * process must also handle SIGUSR2.
 *   1  signalled
 *   0  no running sidecar to tell (or it cannot be told apart from a stranger)
 *  -1  error (errno) */
static int hb_notify_sidecar(int dirfd, const char *agent)
{
    pid_t hb_pid;
    unsigned long long writer_start, start;
    double epoch, started;
    int found = hb_read_record_owner(dirfd, agent, &hb_pid, &writer_start, &epoch);
    if (found != 1)
        return found;
    if (hb_pid == getpid() || hb_proc_start_time(hb_pid, &start) != 1)
        return 0;
    if (writer_start != 0 ? start != writer_start
                          : hb_proc_start_seconds(start, &started) != 1 || started > epoch + 1.0)
        return 0;
    /* A live process that started in time may still not be a sidecar (a
     * record from mosaic_hb.beat() names the Python process that called it;
     * a hand-made one names anything): only one with a SIGUSR2 handler can
     * take the signal without dying of it. */
    int handles = hb_proc_handles_signal(hb_pid, SIGUSR2);
    if (handles == 0 || (handles < 0 && errno != ENOTSUP))
        return 0;
    if (kill(hb_pid, SIGUSR2) != 0)
        return errno == ESRCH ? 0 : -1;
    return 1;
}

int hb_report_state(const char *run_dir, const char *agent, const char *state,
                    const char *waiting_for, const char **why)
{
    *why = NULL;
    if (!hb_valid_agent_name(agent) || !hb_valid_state(state)
        || (waiting_for != NULL && waiting_for[0] != '\0' && !hb_valid_waiting_for(waiting_for))) {
        errno = EINVAL;
        return -1;
    }
    /* Never create the run dir: a hook outside a live mosaic agent does
     * nothing. An unsafe one is not ours to write in. */
    const char *unsafe;
    int dirfd = hb_open_run_dir(run_dir, 0, &unsafe);
    if (dirfd < 0)
        return 0;

    hb_agent_state next, current;
    memset(&next, 0, sizeof next);
    snprintf(next.state, sizeof next.state, "%s", state);
    if (strcmp(state, "waiting") == 0 && waiting_for != NULL)
        snprintf(next.waiting_for, sizeof next.waiting_for, "%s", waiting_for);
    /* PreToolUse fires on every tool call: a repeat keeps the state's start
     * and costs one read, and the sidecar already knows. */
    if (hb_read_state(dirfd, agent, &current) == 1 && strcmp(current.state, next.state) == 0
        && strcmp(current.waiting_for, next.waiting_for) == 0) {
        close(dirfd);
        return 1;
    }
    next.epoch = hb_realtime();
    int result = 1;
    if (hb_write_state(dirfd, agent, &next) != 0) {
        *why = "cannot write the state file";
        result = -1;
    } else if (hb_notify_sidecar(dirfd, agent) < 0) {
        *why = "cannot signal the sidecar";
        result = -1;
    }
    hb_close_quietly(dirfd);
    return result;
}

/* ---- the daemon ----------------------------------------------------------- */

/* What the daemon tells the process that launched it. */
typedef struct hb_report {
    int err;          /* 0: running */
    pid_t pid;
    char why[120];
} hb_report;

static void hb_send_report(int fd, int err, const char *why)
{
    hb_report r;
    memset(&r, 0, sizeof r);
    r.err = err;
    r.pid = getpid();
    if (why != NULL)
        snprintf(r.why, sizeof r.why, "%s", why);
    ssize_t n;
    do {
        n = write(fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
}

typedef struct hb_daemon_ctx {
    const hb_config *user;
    int report_fd;
} hb_daemon_ctx;

static void hb_daemon_started(void *ctx)
{
    hb_daemon_ctx *d = ctx;
    hb_send_report(d->report_fd, 0, NULL);
    close(d->report_fd);
    d->report_fd = -1;
    if (d->user->started != NULL)
        d->user->started(d->user->ctx);
}

static int hb_daemon_interrupted(void *ctx)
{
    hb_daemon_ctx *d = ctx;
    return d->user->interrupted ? d->user->interrupted(d->user->ctx) : HB_GO_ON;
}

static void hb_become_daemon(const hb_config *cfg, int report_fd)
{
    if (setsid() < 0) {
        hb_send_report(report_fd, errno, "setsid failed");
        _exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        hb_send_report(report_fd, errno, "fork failed");
        _exit(1);
    }
    if (pid > 0)
        _exit(0);   /* the daemon is now an orphan, and not a session leader */

    if (chdir("/") != 0) {
        hb_send_report(report_fd, errno, "chdir / failed");
        _exit(1);
    }
    umask(077);
    int null = open("/dev/null", O_RDWR);
    if (null < 0) {
        hb_send_report(report_fd, errno, "cannot open /dev/null");
        _exit(1);
    }
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    /* Keep only 0-2 and the report pipe, which we move to fd 3. */
    if (report_fd != 3) {
        if (dup2(report_fd, 3) < 0) {
            hb_send_report(report_fd, errno, "dup2 failed");
            _exit(1);
        }
        report_fd = 3;
    }
    (void)fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    hb_close_from(4);

    hb_daemon_ctx ctx = {.user = cfg, .report_fd = report_fd};
    hb_config daemon_cfg = *cfg;
    daemon_cfg.started = hb_daemon_started;
    daemon_cfg.interrupted = hb_daemon_interrupted;
    daemon_cfg.ctx = &ctx;
    const char *why = NULL;
    int end = hb_run(&daemon_cfg, &why);
    if (end == HB_END_ERROR) {
        if (ctx.report_fd >= 0)
            hb_send_report(ctx.report_fd, errno ? errno : EIO, why);
        _exit(1);
    }
    _exit(0);
}

pid_t hb_spawn_daemon(const hb_config *cfg, const char **why)
{
    static char reason[sizeof ((hb_report *)0)->why];
    *why = NULL;
    int fds[2];
    if (hb_pipe_cloexec(fds) != 0)
        return -1;
    pid_t child = fork();
    if (child < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        errno = err;
        return -1;
    }
    if (child == 0) {
        close(fds[0]);
        hb_become_daemon(cfg, fds[1]);
        _exit(1);   /* not reached */
    }
    close(fds[1]);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    hb_report report;
    size_t got = 0;
    while (got < sizeof report) {
        ssize_t n = read(fds[0], (char *)&report + got, sizeof report - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    if (got != sizeof report) {
        *why = "the sidecar exited before it reported";
        errno = EPIPE;
        return -1;
    }
    if (report.err != 0) {
        snprintf(reason, sizeof reason, "%s", report.why);
        *why = reason[0] ? reason : NULL;
        errno = report.err;
        return -1;
    }
    return report.pid;
}
