/*
 * What a beat writes, and the rules for what goes in it: agent names,
 * intervals, the record (AGENT.hb) and the Prometheus textfile.
 */
#include "hb_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

/* ---- names and arguments ------------------------------------------------ */

int hb_valid_agent_name(const char *name)
{
    if (name == NULL || !isalnum((unsigned char)name[0]) || !isascii((unsigned char)name[0]))
        return 0;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        unsigned char c = (unsigned char)*p;
        if (n >= HB_AGENT_MAX || !isascii(c) || !(isalnum(c) || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int hb_parse_interval(const char *text, double *out)
{
    if (text == NULL || *text == '\0' || isspace((unsigned char)*text))
        return -1;
    /* Decimal only, as the Python side reads seconds: strtod would also take
     * hex ("0x10" is 16) and "inf"/"nan". */
    if (text[strspn(text, "0123456789.eE+-")] != '\0')
        return -1;
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(value)
        || value < HB_INTERVAL_MIN || value > HB_INTERVAL_MAX)
        return -1;
    *out = value;
    return 0;
}

static const char *const hb_states[] = {"starting", "working", "waiting", "idle"};
static const char *const hb_waits[] = {"permission", "question"};

static int hb_one_of(const char *name, const char *const *names, size_t count)
{
    for (size_t i = 0; name != NULL && i < count; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
}

int hb_valid_state(const char *name)
{
    return hb_one_of(name, hb_states, sizeof hb_states / sizeof hb_states[0]);
}

int hb_valid_waiting_for(const char *name)
{
    return hb_one_of(name, hb_waits, sizeof hb_waits / sizeof hb_waits[0]);
}

/* ---- key=value files ------------------------------------------------------ */

/* The next line of a key=value file at *P (before END), with the record
 * reader's rules: a key [a-z][a-z0-9_]{0,31}, '=', a value without control
 * characters, '\n'. KEY gets the key, *VALUE and *VLEN the value.
 *   1  a line; *P moves past it
 *   0  the end of the text
 *  -1  not a valid line (or no final newline: the file was cut) */
static int hb_next_field(const char **p, const char *end, char key[33],
                         const char **value, size_t *vlen)
{
    const char *line = *p;
    if (line >= end)
        return 0;
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    const char *eq = memchr(line, '=', (size_t)(end - line));
    if (nl == NULL || eq == NULL || eq > nl)
        return -1;
    size_t klen = (size_t)(eq - line);
    if (klen == 0 || klen > 32 || !(line[0] >= 'a' && line[0] <= 'z'))
        return -1;
    for (size_t i = 0; i < klen; i++) {
        char c = line[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return -1;
    }
    for (const char *c = eq + 1; c < nl; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return -1;
    memcpy(key, line, klen);
    key[klen] = '\0';
    *value = eq + 1;
    *vlen = (size_t)(nl - eq - 1);
    *p = nl + 1;
    return 1;
}

/* VALUE (VLEN bytes) as positive finite seconds ("1764680000.123456"). */
static int hb_parse_seconds(const char *value, size_t vlen, double *out)
{
    char copy[40];
    if (vlen == 0 || vlen >= sizeof copy || strspn(value, "0123456789.") < vlen)
        return -1;
    memcpy(copy, value, vlen);
    copy[vlen] = '\0';
    char *end;
    double v = strtod(copy, &end);
    if (*end != '\0' || !isfinite(v) || v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* VALUE (VLEN bytes) into BUF if it is one of NAMES. */
static int hb_take_name(const char *value, size_t vlen, char *buf, size_t size,
                        int (*valid)(const char *))
{
    if (vlen >= size)
        return -1;
    memcpy(buf, value, vlen);
    buf[vlen] = '\0';
    return valid(buf) ? 0 : -1;
}

/* ---- the agent's state ----------------------------------------------------- */

int hb_format_state(const hb_agent_state *state, const char *agent, char *buf, size_t size)
{
    int n = snprintf(buf, size, "state=%s\nsource=hook\nepoch=%.6f\nagent=%s\n",
                     state->state, state->epoch, agent);
    if (n < 0 || (size_t)n >= size)
        return -1;
    if (state->waiting_for[0] != '\0') {
        int m = snprintf(buf + n, size - (size_t)n, "waiting_for=%s\n", state->waiting_for);
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
        n += m;
    }
    return n;
}

int hb_parse_state(const char *text, size_t len, const char *agent, hb_agent_state *out)
{
    hb_agent_state st;
    memset(&st, 0, sizeof st);
    int seen_state = 0, seen_source = 0, seen_epoch = 0, seen_agent = 0, seen_wait = 0;
    const char *p = text, *end = text + len, *value;
    size_t vlen;
    char key[33];
    int got;
    if (len == 0 || memchr(text, '\0', len) != NULL)
        return 0;
    /* Each key once; keys this version does not know are skipped, so that a
     * newer writer may add some. */
    while ((got = hb_next_field(&p, end, key, &value, &vlen)) == 1) {
        if (strcmp(key, "state") == 0) {
            if (seen_state++ || hb_take_name(value, vlen, st.state, sizeof st.state, hb_valid_state) != 0)
                return 0;
        } else if (strcmp(key, "source") == 0) {
            if (seen_source++ || vlen != 4 || memcmp(value, "hook", 4) != 0)
                return 0;
        } else if (strcmp(key, "epoch") == 0) {
            if (seen_epoch++ || hb_parse_seconds(value, vlen, &st.epoch) != 0)
                return 0;
        } else if (strcmp(key, "agent") == 0) {
            if (seen_agent++ || vlen != strlen(agent) || memcmp(value, agent, vlen) != 0)
                return 0;
        } else if (strcmp(key, "waiting_for") == 0) {
            if (seen_wait++ || hb_take_name(value, vlen, st.waiting_for, sizeof st.waiting_for,
                                            hb_valid_waiting_for) != 0)
                return 0;
        }
    }
    if (got < 0 || !seen_state || !seen_source || !seen_epoch || !seen_agent)
        return 0;
    if (strcmp(st.state, "waiting") != 0)
        st.waiting_for[0] = '\0';   /* only a waiting agent waits for something */
    *out = st;
    return 1;
}

int hb_read_state(int dirfd, const char *agent, hb_agent_state *out)
{
    char name[HB_AGENT_MAX + 16], buf[HB_STATE_FILE_MAX];
    hb_file_name(name, sizeof name, agent, ".state");
    ssize_t n = hb_read_small(dirfd, name, buf, sizeof buf);
    if (n < 0 && errno != ENOENT && errno != EFBIG && errno != EINVAL && errno != ELOOP)
        return -1;
    /* Missing, a symlink, too large, not a file, or malformed: unknown. */
    if (n < 0 || hb_parse_state(buf, (size_t)n, agent, out) != 1) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    return 1;
}

int hb_write_state(int dirfd, const char *agent, const hb_agent_state *state)
{
    char buf[HB_STATE_FILE_MAX], tmp_name[HB_AGENT_MAX + 40], name[HB_AGENT_MAX + 16];
    int len = hb_format_state(state, agent, buf, sizeof buf);
    if (len < 0) {
        errno = EOVERFLOW;
        return -1;
    }
    snprintf(tmp_name, sizeof tmp_name, "%s.state.tmp.%d", agent, (int)getpid());
    hb_file_name(name, sizeof name, agent, ".state");
    return hb_write_atomic(dirfd, name, tmp_name, buf, (size_t)len, 0600, 0);
}

/* The record of AGENT, as read by a hook or a new sidecar: 1 and *N set;
 * 0 when there is no record to read (missing, too large, not a regular
 * file, a symlink); -1 on another error (errno). */
static int hb_read_agent_record(int dirfd, const char *agent, char *buf, size_t size, ssize_t *n)
{
    char name[HB_AGENT_MAX + 16];
    hb_file_name(name, sizeof name, agent, ".hb");
    *n = hb_read_small(dirfd, name, buf, size);
    if (*n < 0)
        return errno == ENOENT || errno == EFBIG || errno == EINVAL || errno == ELOOP ? 0 : -1;
    return 1;
}

/* A field's value of digits only, NUL-terminated in COPY; 0 if it is
 * empty, too long for COPY, or not all digits. */
static int hb_field_digits(const char *value, size_t vlen, char *copy, size_t size)
{
    if (vlen == 0 || vlen >= size)
        return 0;
    for (size_t i = 0; i < vlen; i++)   /* VALUE is not NUL-terminated */
        if (value[i] < '0' || value[i] > '9')
            return 0;
    memcpy(copy, value, vlen);
    copy[vlen] = '\0';
    return 1;
}

int hb_read_record_owner(int dirfd, const char *agent, pid_t *hb_pid,
                         unsigned long long *hb_start, double *epoch)
{
    char buf[HB_RECORD_MAX * 4];
    ssize_t n;
    int found = hb_read_agent_record(dirfd, agent, buf, sizeof buf, &n);
    if (found != 1)
        return found;
    const char *p = buf, *end = buf + n, *value;
    size_t vlen;
    char key[33];
    int got, ok = 0, seen_status = 0, seen_pid = 0, seen_start = 0, seen_epoch = 0;
    long pid = 0;
    unsigned long long start = 0;
    double when = 0;
    /* Each key once, and hb_start 1 to 2^64-1 in at most 20 digits, as
     * record.py reads them: a record that it calls corrupt names no one to
     * signal here either (a second hb_start could name anyone). */
    while ((got = hb_next_field(&p, end, key, &value, &vlen)) == 1) {
        if (strcmp(key, "status") == 0) {
            if (seen_status++)
                return 0;
            ok = vlen == 2 && memcmp(value, "ok", 2) == 0;
        } else if (strcmp(key, "hb_pid") == 0) {
            char copy[16];
            if (seen_pid++ || !hb_field_digits(value, vlen, copy, sizeof copy))
                return 0;
            pid = strtol(copy, NULL, 10);
        } else if (strcmp(key, "hb_start") == 0) {
            char copy[21];
            errno = 0;
            if (seen_start++ || !hb_field_digits(value, vlen, copy, sizeof copy))
                return 0;
            start = strtoull(copy, NULL, 10);
            if (errno == ERANGE || start == 0)
                return 0;
        } else if (strcmp(key, "epoch") == 0) {
            if (seen_epoch++ || hb_parse_seconds(value, vlen, &when) != 0)
                return 0;
        }
    }
    if (got < 0 || !ok || pid <= 0 || pid > INT_MAX || when <= 0)
        return 0;
    *hb_pid = (pid_t)pid;
    *hb_start = start;
    *epoch = when;
    return 1;
}

int hb_read_record_restarts(int dirfd, const char *agent, pid_t pid, unsigned long long *restarts)
{
    char buf[HB_RECORD_MAX * 4];
    ssize_t n;
    int found = hb_read_agent_record(dirfd, agent, buf, sizeof buf, &n);
    if (found != 1)
        return found;
    const char *p = buf, *end = buf + n, *value;
    size_t vlen;
    char key[33], copy[24];
    int got, same_pid = 0, counted = 0;
    unsigned long long count = 0;
    while ((got = hb_next_field(&p, end, key, &value, &vlen)) == 1) {
        if (!hb_field_digits(value, vlen, copy, sizeof copy))
            continue;
        if (strcmp(key, "pid") == 0)
            same_pid = strtoll(copy, NULL, 10) == (long long)pid;
        else if (strcmp(key, "restarts") == 0)
            count = strtoull(copy, NULL, 10), counted = 1;
    }
    if (got < 0 || !same_pid || !counted)
        return 0;
    *restarts = count;
    return 1;
}

/* ---- one beat ------------------------------------------------------------ */

void hb_file_name(char *buf, size_t size, const char *agent, const char *suffix)
{
    snprintf(buf, size, "%s%s", agent, suffix);
}

int hb_format_record(const hb_record *rec, char *buf, size_t size)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t secs = now.tv_sec;
    struct tm local;
    char ts[40];
    if (localtime_r(&secs, &local) == NULL || strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S%z", &local) == 0)
        return -1;
    /* The seed's three keys first, so that its readers keep working. */
    int n = snprintf(buf, size,
                     "ts=%s\npid=%d\nstatus=%s\nagent=%s\n"
                     "epoch=%lld.%03ld\nseq=%llu\ninterval=%g\nhb_pid=%d\npid_start=%llu\n",
                     ts, (int)rec->pid, rec->status, rec->agent,
                     (long long)now.tv_sec, now.tv_nsec / 1000000L, rec->seq,
                     rec->interval, (int)rec->hb_pid, rec->pid_start);
    if (n < 0 || (size_t)n >= size)
        return -1;
    if (rec->runtime != NULL) {
        int m = snprintf(buf + n, size - (size_t)n, "runtime=%s\n", rec->runtime);
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
        n += m;
    }
    if (rec->hb_start != 0) {
        /* The beat's time on the boot clock goes with the writer's identity:
         * a reader uses it only for a sidecar it found alive, on this boot. */
        int m = snprintf(buf + n, size - (size_t)n, "hb_start=%llu\nsince_boot=%.3f\n",
                         rec->hb_start, hb_boot_clock());
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
        n += m;
    }
    /* The hook's state after the existing keys: older readers keep them as
     * unknown keys. */
    const hb_agent_state *st = rec->state;
    if (st != NULL && st->state[0] != '\0') {
        int m = snprintf(buf + n, size - (size_t)n,
                         "state=%s\nstate_source=hook\nstate_epoch=%.6f\n", st->state, st->epoch);
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
        n += m;
        if (st->waiting_for[0] != '\0') {
            m = snprintf(buf + n, size - (size_t)n, "waiting_for=%s\n", st->waiting_for);
            if (m < 0 || (size_t)m >= size - (size_t)n)
                return -1;
            n += m;
        }
    }
    const hb_restart_facts *rs = rec->restart;
    if (rs != NULL) {
        int m = snprintf(buf + n, size - (size_t)n, "restart=%s\nrestarts=%llu\n", rs->policy, rs->restarts);
        if (m >= 0 && (size_t)m < size - (size_t)n && rs->exit_signal > 0)
            n += m, m = snprintf(buf + n, size - (size_t)n, "last_exit_signal=%d\n", rs->exit_signal);
        else if (m >= 0 && (size_t)m < size - (size_t)n && rs->exit_status >= 0)
            n += m, m = snprintf(buf + n, size - (size_t)n, "last_exit_status=%d\n", rs->exit_status);
        if (m >= 0 && (size_t)m < size - (size_t)n && rs->last_restart > 0)
            n += m, m = snprintf(buf + n, size - (size_t)n, "last_restart=%.3f\n", rs->last_restart);
        if (m >= 0 && (size_t)m < size - (size_t)n && rs->restart_at > 0)
            n += m, m = snprintf(buf + n, size - (size_t)n, "restart_at=%.3f\nrestart_delay=%.3f\n",
                                 rs->restart_at, rs->restart_delay);
        if (m >= 0 && (size_t)m < size - (size_t)n && rs->gave_up)
            n += m, m = snprintf(buf + n, size - (size_t)n, "gave_up=1\n");
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
        n += m;
    }
    return n;
}

int hb_write_record(int dirfd, const hb_record *rec, int do_fsync)
{
    char buf[HB_RECORD_MAX], tmp_name[HB_AGENT_MAX + 16], name[HB_AGENT_MAX + 16];
    int len = hb_format_record(rec, buf, sizeof buf);
    if (len < 0) {
        errno = EOVERFLOW;
        return -1;
    }
    hb_file_name(tmp_name, sizeof tmp_name, rec->agent, ".hb.tmp");
    hb_file_name(name, sizeof name, rec->agent, ".hb");
    return hb_write_atomic(dirfd, name, tmp_name, buf, (size_t)len, 0600, do_fsync);
}

/* ---- Prometheus textfile ------------------------------------------------- */

/* The state as a one-hot gauge, in the style of kube-state-metrics' pod
 * phase: one series per state, 1 for the current one, so that a query
 * needs no string matching on a value. unknown is 1 until a hook speaks. */
static int hb_format_state_metrics(const hb_record *rec, char *buf, size_t size)
{
    static const char *const all[] = {"starting", "working", "waiting", "idle", "unknown"};
    const char *current = rec->state != NULL && rec->state->state[0] ? rec->state->state : "unknown";
    const char *runtime = rec->runtime ? rec->runtime : "";
    int n = snprintf(buf, size,
        "# HELP mosaic_agent_state The agent's state (1 for the current one), from its CLI's hooks.\n"
        "# TYPE mosaic_agent_state gauge\n");
    for (size_t i = 0; n >= 0 && (size_t)n < size && i < sizeof all / sizeof all[0]; i++)
        n += snprintf(buf + n, size - (size_t)n,
                      "mosaic_agent_state{agent=\"%s\",runtime=\"%s\",state=\"%s\"} %d\n",
                      rec->agent, runtime, all[i], strcmp(all[i], current) == 0);
    if (n < 0 || (size_t)n >= size)
        return -1;
    double since = strcmp(current, "unknown") != 0 ? rec->state->epoch : 0;
    n += snprintf(buf + n, size - (size_t)n,
        "# HELP mosaic_agent_state_since_seconds Unix time the agent's current state began (0: unknown).\n"
        "# TYPE mosaic_agent_state_since_seconds gauge\n"
        "mosaic_agent_state_since_seconds{agent=\"%s\",runtime=\"%s\"} %.3f\n",
        rec->agent, runtime, since);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int hb_format_metrics(const hb_record *rec, double epoch, double start_seconds, char *buf, size_t size)
{
    char labels[HB_AGENT_MAX + HB_RUNTIME_MAX + 32];
    /* Agent and runtime names are [A-Za-z0-9_-]: nothing to escape. */
    snprintf(labels, sizeof labels, "{agent=\"%s\",runtime=\"%s\"}",
             rec->agent, rec->runtime ? rec->runtime : "");
    int up = strcmp(rec->status, "dead") != 0;
    int n = snprintf(buf, size,
        "# HELP mosaic_agent_heartbeat_timestamp_seconds Unix time of the agent's last heartbeat.\n"
        "# TYPE mosaic_agent_heartbeat_timestamp_seconds gauge\n"
        "mosaic_agent_heartbeat_timestamp_seconds%s %.3f\n"
        "# HELP mosaic_agent_heartbeat_interval_seconds Seconds between the agent's heartbeats.\n"
        "# TYPE mosaic_agent_heartbeat_interval_seconds gauge\n"
        "mosaic_agent_heartbeat_interval_seconds%s %g\n"
        "# HELP mosaic_agent_up 1 while the agent process is alive, 0 once it has died.\n"
        "# TYPE mosaic_agent_up gauge\n"
        "mosaic_agent_up%s %d\n"
        "# HELP mosaic_agent_start_time_seconds Unix time the agent process started.\n"
        "# TYPE mosaic_agent_start_time_seconds gauge\n"
        "mosaic_agent_start_time_seconds%s %.2f\n",
        labels, epoch, labels, rec->interval, labels, up, labels, start_seconds);
    if (n < 0 || (size_t)n >= size)
        return -1;
    int m = hb_format_state_metrics(rec, buf + n, size - (size_t)n);
    if (m < 0)
        return -1;
    n += m;
    if (rec->restart != NULL) {
        const hb_restart_facts *rs = rec->restart;
        m = snprintf(buf + n, size - (size_t)n,
            "# HELP mosaic_agent_restarts_total Restarts of the agent by its sidecar since it was launched.\n"
            "# TYPE mosaic_agent_restarts_total counter\n"
            "mosaic_agent_restarts_total%s %llu\n"
            "# HELP mosaic_agent_restarting 1 while the dead agent waits out its restart delay.\n"
            "# TYPE mosaic_agent_restarting gauge\n"
            "mosaic_agent_restarting%s %d\n"
            "# HELP mosaic_agent_restart_gave_up 1 once the burst limit stopped the restarts.\n"
            "# TYPE mosaic_agent_restart_gave_up gauge\n"
            "mosaic_agent_restart_gave_up%s %d\n",
            labels, rs->restarts, labels, rs->restart_at > 0, labels, rs->gave_up);
        if (m < 0 || (size_t)m >= size - (size_t)n)
            return -1;
        n += m;
    }
    return n;
}

int hb_write_metrics(int dirfd, const hb_record *rec, double start_seconds)
{
    char buf[8192], tmp_name[HB_AGENT_MAX + 32], name[HB_AGENT_MAX + 32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int len = hb_format_metrics(rec, (double)now.tv_sec + now.tv_nsec / 1e9, start_seconds, buf, sizeof buf);
    if (len < 0) {
        errno = EOVERFLOW;
        return -1;
    }
    /* node_exporter reads only *.prom, so the temp file is never scraped. */
    snprintf(name, sizeof name, "mosaic_%s.prom", rec->agent);
    snprintf(tmp_name, sizeof tmp_name, "mosaic_%s.prom.tmp", rec->agent);
    return hb_write_atomic(dirfd, name, tmp_name, buf, (size_t)len, 0644, 0);
}
