/*
 * mosaic heartbeat core: the public C API.
 *
 * Plain C99 + POSIX, no Python. The `mosaic-hb` executable (hb_main.c) and
 * the Cython binding (_hb.pyx) both call into this, so the heartbeat loop
 * exists exactly once: hb_run() in hb.c.
 *
 * Conventions, as in psutil's C helpers: functions that answer a yes/no
 * question about the system return a tri-state int:
 *      1  yes
 *      0  no
 *     -1  could not tell; errno says why
 * Functions that do something return 0 on success and -1 with errno set.
 */
#ifndef MOSAIC_HB_H
#define MOSAIC_HB_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef _WIN32
#error "mosaic-hb supports Linux and macOS (and other POSIX systems); Windows is out of scope"
#endif

#define HB_AGENT_MAX 64          /* agent names: [A-Za-z0-9][A-Za-z0-9_-]{0,63} */
#define HB_RUNTIME_MAX 64        /* runtimes follow the agent-name rule (hb_valid_agent_name) */
#define HB_RECORD_MAX 1024       /* a record is always well under this */
#define HB_STATE_FILE_MAX 512    /* an AGENT.state file is always well under this */
#define HB_INTERVAL_MIN 0.05
#define HB_INTERVAL_MAX 86400.0

/* How hb_run() ended. */
enum hb_end {
    HB_END_ERROR = -1,    /* setup failed; errno says why, nothing was written */
    HB_END_DEAD = 0,      /* the watched process died (or its pid was reused) */
    HB_END_STOPPED = 1,   /* asked to stop (SIGTERM, SIGINT, SIGHUP) */
    HB_END_REPLACED = 2,  /* a newer sidecar for the same agent took over */
};

/* The restart policy (systemd's Restart=): when the sidecar brings a dead
 * agent back by respawning its tmux pane. */
enum hb_restart_policy {
    HB_RESTART_NO = 0,
    HB_RESTART_ON_FAILURE = 1,  /* a non-zero exit or a death by signal */
    HB_RESTART_ALWAYS = 2,      /* also an exit 0 */
};

#define HB_RESTART_BURST_MAX 100
#define HB_RESTART_ARGV_MAX 256   /* words of a restart command, with tmux's own */

/* How the sidecar restarts its agent; hb_config.restart, NULL for never.
 * Times in nanoseconds. */
typedef struct hb_restart {
    int policy;                   /* enum hb_restart_policy */
    const char *tmux;             /* the tmux executable (absolute path) */
    const char *socket;           /* tmux -L SOCKET; the session is the agent's name */
    char *const *command;         /* the respawned pane's argv, already escaped
                                   * for tmux's parser; NULL: tmux reruns the
                                   * pane's first command */
    const char *log_pipe;         /* a pipe-pane command (tmux-escaped) that
                                   * replaces the pane's log writer with each
                                   * respawn, so the log marks the restart;
                                   * NULL: the pipe is left as it is */
    long long delay_min_ns;       /* the first delay (RestartSec); doubles ... */
    long long delay_max_ns;       /* ... up to this */
    long long reset_after_ns;     /* an agent that ran this long starts over at delay_min */
    int burst;                    /* at most this many restarts ... */
    long long burst_window_ns;    /* ... within this window, then give up */
    int slots;                    /* restarts in flight per run dir (host) */
    long long slot_hold_ns;       /* how long a restart keeps its slot after its respawn */
} hb_restart;

/* What an interrupted wait means; returned by hb_config.interrupted(). */
enum hb_interrupt {
    HB_GO_ON = 0,
    HB_STOP = 1,          /* write status=stopped and end */
    HB_HAND_OVER = 2,     /* end quietly: the new owner writes from now on */
    HB_READ_STATE = 3,    /* a hook wrote AGENT.state (SIGUSR2): read it, beat now */
};

typedef struct hb_config {
    const char *agent;        /* validated with hb_valid_agent_name() */
    pid_t pid;                /* the watched process */
    const char *run_dir;      /* holds AGENT.hb, AGENT.hb.tmp, AGENT.hb.lock */
    double interval;          /* seconds between beats */
    int fsync;                /* fsync the record and the directory on each beat */
    const char *runtime;      /* optional, written as runtime=; NULL to omit */
    const char *textfile_dir; /* optional: also write mosaic_AGENT.prom there
                               * (Prometheus node_exporter textfile format) */
    int force_poll;           /* use the kill(pid, 0) fallback even where a
                               * notifier exists (tests and diagnosis) */
    /* Signal mask to wait with (ppoll/pselect), or NULL to keep the current
     * one. The executable blocks its stop signals and passes a mask without
     * them, so that a signal can never slip in between a check and a wait. */
    const sigset_t *wait_mask;
    /* Called when a wait is interrupted by a signal. NULL means HB_GO_ON. */
    int (*interrupted)(void *ctx);
    void *ctx;
    /* Called once the lock is held and the first beat is on disk, before
     * the loop starts: the daemon reports "running" to its launcher here. */
    void (*started)(void *ctx);
    /* Restart the agent when it dies (hb.c: hb_supervise); NULL: never. */
    const hb_restart *restart;
} hb_config;

/* The agent's state as its CLI's hooks last reported it (AGENT.state). */
typedef struct hb_agent_state {
    char state[16];        /* starting, working, waiting, idle; "" when unknown */
    char waiting_for[16];  /* permission, question; "" when not said */
    double epoch;          /* when the state began, unix seconds */
} hb_agent_state;

/* The restart facts a record carries (restart=, restarts=, ...). */
typedef struct hb_restart_facts {
    const char *policy;           /* "on-failure" or "always" */
    unsigned long long restarts;  /* restarts made so far */
    int exit_status;              /* how the last run ended: status, or -1 */
    int exit_signal;              /* ... or the signal, or 0 */
    double last_restart;          /* unix time of the last respawn; 0: none */
    double restart_at;            /* unix time of the next respawn while waiting; 0 */
    double restart_delay;         /* the delay being waited out, seconds (with jitter) */
    int gave_up;                  /* 1 once the burst limit stopped the restarts */
} hb_restart_facts;

/* The record for one beat. */
typedef struct hb_record {
    const char *agent;
    const char *runtime;          /* NULL to omit */
    const char *status;           /* "ok", "dead" or "stopped" */
    pid_t pid;
    pid_t hb_pid;
    unsigned long long pid_start; /* 0 when the platform cannot tell */
    /* The writer's own start time, as hb_proc_start_time reads it; 0 (the
     * key is left out) when the platform cannot tell. It names the writer
     * exactly, where a start time in seconds compared with the record's
     * epoch breaks when the wall clock steps. */
    unsigned long long hb_start;
    unsigned long long seq;
    double interval;
    const hb_agent_state *state;  /* NULL (or state[0] == 0) when unknown */
    const hb_restart_facts *restart;  /* NULL when no restart policy */
} hb_record;

/* -- names and arguments ------------------------------------------------ */

/* 1 if NAME is a valid agent name, else 0. */
int hb_valid_agent_name(const char *name);

/* Parse an interval in seconds. 0 and *out set on success; -1 if TEXT is not
 * a finite number within [HB_INTERVAL_MIN, HB_INTERVAL_MAX]. */
int hb_parse_interval(const char *text, double *out);

/* 1 if NAME is a state a hook may report (starting, working, waiting,
 * idle), else 0. "unknown" is what readers say when no hook has spoken. */
int hb_valid_state(const char *name);

/* 1 if NAME is what a waiting agent may wait for (permission, question). */
int hb_valid_waiting_for(const char *name);

/* -- processes (hb_watch.c; platform code in hb_proc_*.c) ------------- */

/* Start time of PID in a platform unit (Linux: clock ticks since boot,
 * field 22 of /proc/PID/stat; macOS: microseconds since the epoch).
 *   1  found, *start set
 *   0  no such process, or a zombie
 *  -1  could not tell (errno; ENOTSUP where the platform has no start time) */
int hb_proc_start_time(pid_t pid, unsigned long long *start);

/* One process as the host's process table shows it (hb_proc_list). */
typedef struct hb_proc_entry {
    pid_t pid;
    pid_t ppid;
    int zombie;                   /* it has exited; its parent has not reaped it */
    unsigned long long cpu_ticks; /* user + system time over its life, with that of the
                                   children it has reaped, clock ticks */
    unsigned long long start;     /* as hb_proc_start_time gives it */
    unsigned long long rss_pages; /* resident pages, approximate: see hb_proc_resident */
} hb_proc_entry;

/* Every process on the host, in one pass (Linux: one read of each
 * /proc/PID/stat), into *OUT: an array of *COUNT entries, allocated here
 * and freed by the caller. A process that exits during the pass, or whose
 * entry is not ours to read (EACCES, EPERM) or cannot be parsed, is left
 * out; any other error fails the pass.
 *   1  done (*OUT may be NULL when *COUNT is 0)
 *  -1  could not tell (errno; *OUT is NULL; ENOTSUP where the platform
 *      has no such pass, ENOENT where /proc is not a process filesystem,
 *      ENOMEM) */
int hb_proc_list(hb_proc_entry **out, size_t *count);

/* Resident pages of PID, exactly (Linux: statm; the figure in stat, and so
 * in hb_proc_entry, may lag behind on recent kernels).
 *   1  found, *PAGES set
 *   0  no such process
 *  -1  could not tell (errno; ENOTSUP where the platform has no such figure) */
int hb_proc_resident(pid_t pid, unsigned long long *pages);

/* Is PID alive and still the process that started at PID_START?
 * PID_START 0 skips the identity check. A zombie is dead; EPERM from
 * kill() is alive (the process exists, we just may not signal it).
 *   1 alive, 0 dead or reused, -1 could not tell (errno) */
int hb_proc_alive(pid_t pid, unsigned long long pid_start);

/* Wait up to TIMEOUT seconds for PID (started at PID_START; 0: unknown) to
 * end, with the same notifier as the sidecar (pidfd, kqueue, or polling).
 *   1  it ended (or was already gone, or is a zombie)
 *   0  the time ran out and it is still alive
 *  -1  interrupted by a signal (errno EINTR), or another error (errno) */
int hb_wait_exit(pid_t pid, unsigned long long pid_start, double timeout);

/* -- the run dir --------------------------------------------------------- */

/* Create DIR (and missing parents) with mode 0700, then check that it is
 * safe to write in, as ssh checks ~/.ssh: a real directory (not a symlink),
 * owned by us, and not group/world-writable unless sticky.
 * Returns an open O_DIRECTORY fd, or -1 with errno set; *why then points at
 * a static one-line reason ("is a symlink", ...) or NULL for a plain OS
 * error. CREATE 0 checks an existing dir without creating it. */
int hb_open_run_dir(const char *dir, int create, const char **why);

/* -- one beat -------------------------------------------------------------- */

/* The clock a record's since_boot is read on, in seconds: CLOCK_BOOTTIME
 * where there is one (Linux: it counts suspend, like a reader's wait), else
 * CLOCK_MONOTONIC. It never steps, so a reader on the same host measures a
 * beat's age on it exactly, whatever the wall clock did. */
double hb_boot_clock(void);

/* Format REC into BUF (key=value lines). Returns the length, or -1 if it
 * does not fit. */
int hb_format_record(const hb_record *rec, char *buf, size_t size);

/* Atomically replace AGENT.hb in DIRFD with REC: write AGENT.hb.tmp (opened
 * O_CREAT|O_EXCL|O_NOFOLLOW), optionally fsync, rename over AGENT.hb.
 * On failure the temp file is removed, the old record is left in place,
 * and -1 is returned with errno set (ENOSPC, EFBIG, EIO, ...). */
int hb_write_record(int dirfd, const hb_record *rec, int do_fsync);

/* Format REC as Prometheus text exposition (gauges, no timestamps) for
 * node_exporter's textfile collector. Returns the length, or -1. */
int hb_format_metrics(const hb_record *rec, double epoch, double start_seconds, char *buf, size_t size);

/* -- the agent's state (the `mosaic-hb state` hook) ----------------------- */

/* Format STATE of AGENT as an AGENT.state file (key=value lines). Returns the
 * length, or -1 if it does not fit. */
int hb_format_state(const hb_agent_state *state, const char *agent, char *buf, size_t size);

/* Parse LEN bytes of TEXT (NUL-terminated) as AGENT's state file, with the
 * record reader's rules (key=value lines, each ending in \n, no key twice).
 *   1  valid: *out set
 *   0  not a valid state file for AGENT */
int hb_parse_state(const char *text, size_t len, const char *agent, hb_agent_state *out);

/* Report STATE (WAITING_FOR: NULL or "") for AGENT in RUN_DIR, as a hook:
 * write RUN_DIR/AGENT.state atomically, then tell the agent's running
 * sidecar (SIGUSR2) if there is one. A repeat of the current state changes
 * nothing, so that the state's epoch stays the time it began.
 *   1  written (or already current)
 *   0  not applicable: RUN_DIR is missing or not safe to write in
 *  -1  failed (errno); *why names the step, or is NULL */
int hb_report_state(const char *run_dir, const char *agent, const char *state,
                    const char *waiting_for, const char **why);

/* -- the loop -------------------------------------------------------------- */

/* Take the agent's lock (replacing a running sidecar), write a beat every
 * interval while the process lives, and a final record when it ends.
 * Returns an enum hb_end. On HB_END_ERROR, errno is set and *why (if WHY is
 * not NULL) points at a static phrase naming what failed, or is NULL. */
int hb_run(const hb_config *cfg, const char **why);

/* -- detaching ----------------------------------------------------------- */

/* Fork, setsid, fork again; in the grandchild, chdir("/"), umask(077),
 * point 0-2 at /dev/null, close every other fd, then hb_run(). The caller
 * returns only once the daemon holds the lock and has written its first
 * beat (or has failed: then -1, errno, and *why as from hb_open_run_dir()).
 * On success returns the daemon's pid. The caller's stop-signal handling is
 * passed on through CFG. Never returns in the daemon. */
pid_t hb_spawn_daemon(const hb_config *cfg, const char **why);

#endif /* MOSAIC_HB_H */
