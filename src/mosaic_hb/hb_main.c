/*
 * mosaic-hb: the standalone heartbeat sidecar. A thin command line over the
 * C core; no Python runs in it.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#  define _GNU_SOURCE
#endif

#include "hb.h"
#include "hb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MOSAIC_VERSION
#  define MOSAIC_VERSION "unknown"
#endif

#define USAGE_LINE \
    "usage: mosaic-hb AGENT PID [--run-dir DIR] [--interval SECONDS] [--runtime NAME]\n" \
    "                 [--textfile-dir DIR] [--foreground] [--fsync]\n" \
    "                 [--restart POLICY --tmux PATH --tmux-socket NAME [RESTART OPTIONS]\n" \
    "                  [--respawn-log COMMAND]\n" \
    "                  [--respawn ARG...]] | --version | --help\n" \
    "       mosaic-hb state STATE [--for WHAT] [IGNORED...]\n" \
    "       mosaic-hb log FILE [--max-bytes N] [--event WORD]\n"

static const char help_text[] =
    USAGE_LINE
    "\n"
    "Write DIR/AGENT.hb every SECONDS while process PID lives; write a final\n"
    "record with status=dead when it dies, or status=stopped on SIGTERM,\n"
    "SIGINT or SIGHUP. Detaches and prints the sidecar's pid unless\n"
    "--foreground is given. A second sidecar for the same AGENT replaces the\n"
    "first.\n"
    "\n"
    "  --run-dir DIR       default $MOSAIC_HEARTBEAT_RUN_DIR, else\n"
    "                      ~/.config/mosaic/fleet/run (created 0700)\n"
    "  --interval SECONDS  0.05 to 86400; default $MOSAIC_HEARTBEAT_INTERVAL, else 15\n"
    "  --runtime NAME      written to the record as runtime=NAME\n"
    "  --textfile-dir DIR  also write DIR/mosaic_AGENT.prom on every beat, for\n"
    "                      node_exporter's textfile collector; default\n"
    "                      $MOSAIC_TEXTFILE_DIR, else none\n"
    "  --foreground        run the loop in this process\n"
    "  --fsync             make every beat durable (fsync file and directory)\n"
    "\n"
    "Restarts: with --restart on-failure (a non-zero exit or a signal) or always,\n"
    "a dead agent's tmux pane (session AGENT on tmux -L NAME) is respawned after\n"
    "a delay, and the new pane pid is watched. The pane must be kept by\n"
    "remain-on-exit. A file DIR/AGENT.stopping means a deliberate stop: no restart.\n"
    "  --restart-delay-ms MS        first delay, doubled each restart; default 1000\n"
    "  --restart-max-delay SECONDS  cap of the delay; default 300\n"
    "  --restart-reset-after SECONDS  a run this long resets the delay; default 60\n"
    "  --restart-burst N            give up after N restarts ...; default 5\n"
    "  --restart-burst-window SECONDS  ... within this window; default 600\n"
    "  --restart-slots N            restarts in flight per run dir; default 2\n"
    "  --restart-slot-hold-ms MS    how long a restart keeps its slot; default 1000\n"
    "  --respawn-log COMMAND        pipe-pane COMMAND (tmux-escaped) before each\n"
    "                               respawn: a new log writer marks the restart\n"
    "  --respawn ARG...             the rest of the arguments: the respawned\n"
    "                               pane's command (tmux-escaped); default: the\n"
    "                               pane's first command\n"
    "\n"
    "MOSAIC_HB_WATCH=poll uses the kill(pid, 0) fallback instead of pidfd/kqueue.\n"
    "SIGUSR2 makes the sidecar read DIR/AGENT.state and beat at once.\n"
    "\n"
    "Exit status: 0 running (or, in the foreground, ended cleanly); 1 failed to\n"
    "start; 2 usage error.\n"
    "\n"
    "mosaic-hb state STATE [--for WHAT]: the hook an agent's CLI runs to report\n"
    "its state (starting, working, waiting, idle; WHAT, with waiting only:\n"
    "permission or question). It writes $MOSAIC_HEARTBEAT_RUN_DIR/\n"
    "$MOSAIC_AGENT_NAME.state and tells the agent's sidecar (SIGUSR2). Outside a\n"
    "mosaic pane (either variable unset, a relative or missing run dir) it does\n"
    "nothing and exits 0. Further arguments (Codex's JSON) and stdin (Claude's\n"
    "JSON) are ignored; stdin is drained without waiting. Exit status: 0 done or\n"
    "nothing to do; 1 the state could not be written; 2 usage error.\n"
    "An agent may still be named \"state\": \"mosaic-hb state PID ...\" (a\n"
    "number, or an option, after it) starts its sidecar as before.\n"
    "\n"
    "mosaic-hb log FILE [--max-bytes N] [--event WORD]: copy stdin (a pane's\n"
    "output, from tmux pipe-pane) to FILE, appending, after a line marking\n"
    "this start (EVENT: 1-16 of a-z, default start). FILE's directory is\n"
    "created 0700; FILE is created 0600 and never opened through a symlink.\n"
    "At N bytes (default 10000000; 0 never; else at least 1024) FILE is\n"
    "renamed FILE.1, replacing the old one, and a new FILE begun. A failed\n"
    "write (a full disk) drops that output, noted in FILE once writing works\n"
    "again; reading never stops, so the pane is never held up. FILE must not\n"
    "start with a digit or '-' (write ./FILE). Exit status: 0 at the end of\n"
    "input; 1 the log could not be opened; 2 usage error.\n";

static volatile sig_atomic_t stop_request = HB_GO_ON;
static volatile sig_atomic_t state_request = 0;

static void on_stop_signal(int sig)
{
    stop_request = sig == SIGUSR1 ? HB_HAND_OVER : HB_STOP;
}

static void on_state_signal(int sig)
{
    (void)sig;
    state_request = 1;
}

/* A stop or hand-over outranks a state change: the loop is ending anyway. */
static int on_interrupted(void *ctx)
{
    (void)ctx;
    int action = stop_request;
    stop_request = HB_GO_ON;
    if (action == HB_GO_ON && state_request) {
        state_request = 0;
        action = HB_READ_STATE;
    }
    return action;
}

/* ARG made safe for a one-line message: control and non-ASCII bytes as
 * \xNN, cut at 80 bytes. */
static const char *printable(const char *arg)
{
    static char out[4 * 80 + 8];
    size_t o = 0;
    for (size_t i = 0; arg[i] != '\0' && o + 8 < sizeof out; i++) {
        unsigned char c = (unsigned char)arg[i];
        if (i == 80) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

static void usage_error(const char *fmt, const char *arg)
{
    fputs("mosaic-hb: error: ", stderr);
    fprintf(stderr, fmt, printable(arg));
    fputs(" (see mosaic-hb --help)\n", stderr);
    exit(2);
}

static void fail(const char *what, const char *subject, int err)
{
    /* One line: what failed, about what, and the OS's reason. */
    fprintf(stderr, "mosaic-hb: %s", what);
    if (subject != NULL)
        fprintf(stderr, ": %s", subject);
    if (err != 0)
        fprintf(stderr, ": %s", strerror(err));
    fputc('\n', stderr);
    exit(1);
}

/* PATH made absolute against the working directory, in BUF. */
static const char *absolute(const char *path, char buf[PATH_MAX], const char *what)
{
    if (path[0] == '/')
        return path;
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL)
        fail(what, path, errno);
    if (snprintf(buf, PATH_MAX, "%s/%s", cwd, path) >= PATH_MAX)
        fail(what, path, ENAMETOOLONG);
    return buf;
}

/* Text of an option's value: "--opt=value" or "--opt value". */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    const char *arg = argv[*i];
    if (arg[len] == '=')
        return arg + len + 1;
    if (*i + 1 >= argc)
        usage_error("%s needs a value", name);
    return argv[++*i];
}

static int is_option(const char *arg, const char *name)
{
    size_t len = strlen(name);
    return strncmp(arg, name, len) == 0 && (arg[len] == '\0' || arg[len] == '=');
}

/* ---- mosaic-hb state -------------------------------------------------------- */

#define STDIN_DRAIN_MAX (1 << 20)

/* Read what is already on stdin, never waiting: Claude writes its JSON to
 * a hook's stdin, and a pipe whose writer never closes must not hang us.
 * A terminal is left alone (reading it would eat the user's keys). The
 * bound keeps a huge stream from holding us; a writer cut short gets EPIPE,
 * as with any hook that exits without reading. */
static void drain_stdin(void)
{
    if (isatty(0))
        return;
    char buf[16384];
    size_t total = 0;
    while (total < STDIN_DRAIN_MAX) {
        struct pollfd pfd = {.fd = 0, .events = POLLIN, .revents = 0};
        if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
            break;
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    close(0);
}

/* argv[1] is "state": the hook, unless argv[2] makes it the sidecar of an
 * agent named "state" (a PID, or an option such as --help). */
static int is_state_command(int argc, char **argv)
{
    return argc > 2 && strcmp(argv[1], "state") == 0 && argv[2][0] != '-'
           && !(argv[2][0] >= '0' && argv[2][0] <= '9');
}

static int state_main(int argc, char **argv)
{
    const char *state = argv[2], *waiting_for = NULL;
    const char *agent = getenv("MOSAIC_AGENT_NAME");
    const char *run_dir = getenv("MOSAIC_HEARTBEAT_RUN_DIR");
    /* Outside a mosaic pane: nothing to do, and nothing to say, whatever the
     * arguments. This comes first because a CLI reads a hook's exit status:
     * Claude Code takes exit 2 as "block" (the tool call, the stop, the
     * prompt), so a globally installed hook of another mosaic version must
     * never fail in the user's other sessions. Launch sets an absolute run
     * dir; a relative one would name another directory each time the CLI
     * changes its own, so it is no mosaic pane's either. */
    if (agent == NULL || run_dir == NULL || run_dir[0] != '/' || !hb_valid_agent_name(agent)) {
        drain_stdin();
        return 0;
    }
    if (!hb_valid_state(state))
        usage_error("invalid state '%s': use starting, working, waiting or idle", state);
    for (int i = 3; i < argc; i++) {
        /* Only --for is ours; anything else (Codex's JSON) is ignored. */
        if (is_option(argv[i], "--for")) {
            waiting_for = option_value(argc, argv, &i, "--for");
            if (!hb_valid_waiting_for(waiting_for))
                usage_error("invalid --for '%s': use permission or question", waiting_for);
        }
    }
    if (waiting_for != NULL && strcmp(state, "waiting") != 0)
        usage_error("--for goes with the state waiting only%s", "");
    drain_stdin();

    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    const char *why = NULL;
    if (hb_report_state(run_dir, agent, state, waiting_for, &why) < 0)
        fail(why ? why : "cannot report the state", agent, errno);
    return 0;
}

/* ---- mosaic-hb log -------------------------------------------------------- */

/* argv[1] is "log": the writer, unless argv[2] makes it the sidecar of an
 * agent named "log" (as with state). */
static int is_log_command(int argc, char **argv)
{
    return argc > 2 && strcmp(argv[1], "log") == 0 && argv[2][0] != '-'
           && !(argv[2][0] >= '0' && argv[2][0] <= '9');
}

static int valid_event(const char *word)
{
    size_t len = strlen(word);
    if (len == 0 || len > 16)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (word[i] < 'a' || word[i] > 'z')
            return 0;
    return 1;
}

static int log_main(int argc, char **argv)
{
    const char *file = argv[2], *event = "start";
    long long max_bytes = HB_LOG_MAX_BYTES_DEFAULT;
    for (int i = 3; i < argc; i++) {
        if (is_option(argv[i], "--max-bytes")) {
            const char *text = option_value(argc, argv, &i, "--max-bytes");
            char *end;
            errno = 0;
            long long value = strtoll(text, &end, 10);
            /* Digits only: strtoll would also take " 2048" and "+2048". */
            if (errno != 0 || *end != '\0' || !(text[0] >= '0' && text[0] <= '9') || value < 0
                    || (value > 0 && value < HB_LOG_MAX_BYTES_MIN))
                usage_error("invalid --max-bytes '%s': 0, or 1024 or more", text);
            max_bytes = value;
        } else if (is_option(argv[i], "--event")) {
            event = option_value(argc, argv, &i, "--event");
            if (!valid_event(event))
                usage_error("invalid --event '%s': 1-16 of a-z", event);
        } else {
            usage_error("unexpected argument '%s'", argv[i]);
        }
    }
    /* Whatever happens to the file, the pane must not be stopped by us. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    char path[PATH_MAX];
    file = absolute(file, path, "cannot resolve the log path");
    const char *why = NULL;
    if (hb_log_run(file, max_bytes, event, &why) != 0)
        fail(why ? why : "cannot write the log", file, errno);
    return 0;
}

/* ---- the sidecar ---------------------------------------------------------------- */

/* TEXT as a whole number from MIN to MAX, else a usage error naming OPTION. */
static long long whole_number(const char *text, long long min, long long max, const char *option)
{
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || text[0] == '+'
        || value < min || value > max) {
        fprintf(stderr, "mosaic-hb: error: invalid %s '%s': expected a whole number from %lld to %lld"
                " (see mosaic-hb --help)\n", option, printable(text), min, max);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv)
{
    if (is_state_command(argc, argv))
        return state_main(argc, argv);
    if (is_log_command(argc, argv))
        return log_main(argc, argv);

    const char *agent = NULL, *pid_text = NULL, *run_dir = NULL, *interval_text = NULL;
    const char *runtime = NULL, *textfile_dir = NULL;
    int foreground = 0, do_fsync = 0, positional = 0, options_done = 0;
    const char *restart_policy = NULL, *tmux = NULL, *tmux_socket = NULL, *log_pipe = NULL;
    char **respawn = NULL;
    hb_restart restart = {
        .delay_min_ns = 1000000000LL, .delay_max_ns = 300000000000LL,
        .reset_after_ns = 60000000000LL, .burst = 5, .burst_window_ns = 600000000000LL,
        .slots = 2, .slot_hold_ns = 1000000000LL,
    };
    const long long ms = 1000000LL, sec = 1000000000LL;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            if (strcmp(arg, "--") == 0) {
                options_done = 1;
            } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
                fputs(help_text, stdout);
                return 0;
            } else if (strcmp(arg, "--version") == 0) {
                puts("mosaic-hb " MOSAIC_VERSION);
                return 0;
            } else if (strcmp(arg, "--foreground") == 0) {
                foreground = 1;
            } else if (strcmp(arg, "--fsync") == 0) {
                do_fsync = 1;
            } else if (is_option(arg, "--run-dir")) {
                run_dir = option_value(argc, argv, &i, "--run-dir");
            } else if (is_option(arg, "--interval")) {
                interval_text = option_value(argc, argv, &i, "--interval");
            } else if (is_option(arg, "--textfile-dir")) {
                textfile_dir = option_value(argc, argv, &i, "--textfile-dir");
            } else if (is_option(arg, "--runtime")) {
                runtime = option_value(argc, argv, &i, "--runtime");
            } else if (is_option(arg, "--restart")) {
                restart_policy = option_value(argc, argv, &i, "--restart");
            } else if (is_option(arg, "--tmux")) {
                tmux = option_value(argc, argv, &i, "--tmux");
            } else if (is_option(arg, "--tmux-socket")) {
                tmux_socket = option_value(argc, argv, &i, "--tmux-socket");
            } else if (is_option(arg, "--respawn-log")) {
                log_pipe = option_value(argc, argv, &i, "--respawn-log");
                if (log_pipe[0] == '\0')
                    usage_error("--respawn-log is empty%s", "");
            } else if (is_option(arg, "--restart-delay-ms")) {
                restart.delay_min_ns = ms * whole_number(option_value(argc, argv, &i, "--restart-delay-ms"),
                                                         1, 86400000, "--restart-delay-ms");
            } else if (is_option(arg, "--restart-max-delay")) {
                restart.delay_max_ns = sec * whole_number(option_value(argc, argv, &i, "--restart-max-delay"),
                                                          1, 86400, "--restart-max-delay");
            } else if (is_option(arg, "--restart-reset-after")) {
                restart.reset_after_ns = sec * whole_number(option_value(argc, argv, &i, "--restart-reset-after"),
                                                            1, 86400, "--restart-reset-after");
            } else if (is_option(arg, "--restart-burst")) {
                restart.burst = (int)whole_number(option_value(argc, argv, &i, "--restart-burst"),
                                                  1, HB_RESTART_BURST_MAX, "--restart-burst");
            } else if (is_option(arg, "--restart-burst-window")) {
                restart.burst_window_ns = sec * whole_number(option_value(argc, argv, &i, "--restart-burst-window"),
                                                             1, 86400, "--restart-burst-window");
            } else if (is_option(arg, "--restart-slots")) {
                restart.slots = (int)whole_number(option_value(argc, argv, &i, "--restart-slots"),
                                                  1, 64, "--restart-slots");
            } else if (is_option(arg, "--restart-slot-hold-ms")) {
                restart.slot_hold_ns = ms * whole_number(option_value(argc, argv, &i, "--restart-slot-hold-ms"),
                                                         0, 3600000, "--restart-slot-hold-ms");
            } else if (strcmp(arg, "--respawn") == 0) {
                if (i + 1 >= argc)
                    usage_error("--respawn needs a command%s", "");
                if (argc - i - 1 > HB_RESTART_ARGV_MAX - 24)  /* room for tmux's own words */
                    usage_error("--respawn: too many words%s", "");
                respawn = argv + i + 1;   /* argv is NULL-terminated */
                break;
            } else {
                usage_error("unknown option '%s'", arg);
            }
            continue;
        }
        if (positional == 0)
            agent = arg;
        else if (positional == 1)
            pid_text = arg;
        else
            usage_error("unexpected argument '%s'", arg);
        positional++;
    }
    if (agent == NULL)
        usage_error("missing AGENT%s", "");
    if (pid_text == NULL)
        usage_error("missing PID%s", "");
    if (!hb_valid_agent_name(agent))
        usage_error("invalid agent name '%s': use 1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit", agent);
    if (runtime != NULL && !hb_valid_agent_name(runtime))
        usage_error("invalid runtime name '%s'", runtime);

    char *end;
    errno = 0;
    long pid_value = strtol(pid_text, &end, 10);
    if (errno != 0 || *end != '\0' || end == pid_text || pid_value <= 0 || pid_value > INT_MAX)
        usage_error("invalid PID '%s': expected a positive integer", pid_text);

    if (interval_text == NULL) {
        interval_text = getenv("MOSAIC_HEARTBEAT_INTERVAL");
        if (interval_text != NULL && interval_text[0] == '\0')
            usage_error("MOSAIC_HEARTBEAT_INTERVAL is set but empty%s", "");
        if (interval_text == NULL)
            interval_text = "15";
    }
    double interval;
    if (hb_parse_interval(interval_text, &interval) != 0)
        usage_error("invalid interval '%s': expected seconds from 0.05 to 86400", interval_text);

    char default_dir[PATH_MAX];
    if (run_dir == NULL) {
        run_dir = getenv("MOSAIC_HEARTBEAT_RUN_DIR");
        if (run_dir != NULL && run_dir[0] == '\0')
            usage_error("MOSAIC_HEARTBEAT_RUN_DIR is set but empty%s", "");
    }
    if (run_dir == NULL) {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0')
            usage_error("HOME is not set; give --run-dir%s", "");
        if (snprintf(default_dir, sizeof default_dir, "%s/.config/mosaic/fleet/run", home) >= (int)sizeof default_dir)
            usage_error("HOME is too long%s", "");
        run_dir = default_dir;
    }
    if (run_dir[0] == '\0')
        usage_error("empty --run-dir%s", "");
    if (textfile_dir == NULL) {
        textfile_dir = getenv("MOSAIC_TEXTFILE_DIR");
        if (textfile_dir != NULL && textfile_dir[0] == '\0')
            usage_error("MOSAIC_TEXTFILE_DIR is set but empty%s", "");
    } else if (textfile_dir[0] == '\0') {
        usage_error("empty --textfile-dir%s", "");
    }

    if (restart_policy != NULL) {
        if (strcmp(restart_policy, "no") == 0)
            restart.policy = HB_RESTART_NO;
        else if (strcmp(restart_policy, "on-failure") == 0)
            restart.policy = HB_RESTART_ON_FAILURE;
        else if (strcmp(restart_policy, "always") == 0)
            restart.policy = HB_RESTART_ALWAYS;
        else
            usage_error("invalid --restart '%s': use no, on-failure or always", restart_policy);
    }
    if (restart.policy != HB_RESTART_NO) {
        if (tmux == NULL || tmux[0] != '/')
            usage_error("--restart needs --tmux, the absolute path of tmux%s", "");
        if (tmux_socket == NULL || tmux_socket[0] == '\0')
            usage_error("--restart needs --tmux-socket%s", "");
        if (restart.delay_max_ns < restart.delay_min_ns)
            restart.delay_max_ns = restart.delay_min_ns;
        restart.tmux = tmux;
        restart.socket = tmux_socket;
        restart.command = respawn;
        restart.log_pipe = log_pipe;
    } else if (respawn != NULL || log_pipe != NULL) {
        usage_error("--respawn and --respawn-log go with --restart on-failure or always%s", "");
    }

    /* Diagnostic knob: exercise the portable fallback on any platform. */
    const char *watch = getenv("MOSAIC_HB_WATCH");
    if (watch != NULL && strcmp(watch, "poll") != 0)
        usage_error("MOSAIC_HB_WATCH='%s': the only value is 'poll'", watch);
    int force_poll = watch != NULL;

    /* The daemon runs from "/", so relative dirs are made absolute now. */
    char absolute_run_dir[PATH_MAX], absolute_textfile_dir[PATH_MAX];
    run_dir = absolute(run_dir, absolute_run_dir, "cannot resolve the run dir");
    if (textfile_dir != NULL) {
        textfile_dir = absolute(textfile_dir, absolute_textfile_dir, "cannot resolve the textfile dir");
        struct stat st;
        if (stat(textfile_dir, &st) != 0)
            fail("cannot use the textfile dir", textfile_dir, errno);
        if (!S_ISDIR(st.st_mode))
            fail("cannot use the textfile dir", textfile_dir, ENOTDIR);
    }

    /* Refuse before creating anything. */
    pid_t pid = (pid_t)pid_value;
    if (hb_proc_alive(pid, 0) == 0)
        fail("no such process", pid_text, 0);

    const char *why = NULL;
    int dirfd = hb_open_run_dir(run_dir, 1, &why);
    if (dirfd < 0)
        fail(why ? why : "cannot create the run dir", run_dir, why ? 0 : errno);
    close(dirfd);

    /* Stop signals (and SIGUSR2, a hook's "the state changed") stay blocked
     * except while the loop waits, so a signal is never lost between a
     * check and a wait. A write past RLIMIT_FSIZE must
     * fail with EFBIG rather than kill us. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigset_t stop_signals, wait_mask;
    sigemptyset(&stop_signals);
    const int handled[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
    for (size_t k = 0; k < sizeof handled / sizeof handled[0]; k++) {
        sa.sa_handler = handled[k] == SIGUSR2 ? on_state_signal : on_stop_signal;
        sigaction(handled[k], &sa, NULL);
        sigaddset(&stop_signals, handled[k]);
    }
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &stop_signals, &wait_mask);
    for (size_t k = 0; k < sizeof handled / sizeof handled[0]; k++)
        sigdelset(&wait_mask, handled[k]);

    hb_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.agent = agent;
    cfg.pid = pid;
    cfg.run_dir = run_dir;
    cfg.interval = interval;
    cfg.fsync = do_fsync;
    cfg.runtime = runtime;
    cfg.textfile_dir = textfile_dir;
    cfg.force_poll = force_poll;
    cfg.wait_mask = &wait_mask;
    cfg.interrupted = on_interrupted;
    cfg.restart = restart.policy != HB_RESTART_NO ? &restart : NULL;

    if (foreground) {
        int end = hb_run(&cfg, &why);
        if (end == HB_END_ERROR)
            fail(why ? why : "failed", agent, errno);
        return 0;
    }
    pid_t daemon_pid = hb_spawn_daemon(&cfg, &why);
    if (daemon_pid < 0)
        fail(why ? why : "cannot start the sidecar", agent, errno);
    printf("%d\n", (int)daemon_pid);
    return 0;
}
