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
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int hb_write_metrics(int dirfd, const hb_record *rec, double start_seconds)
{
    char buf[2048], tmp_name[HB_AGENT_MAX + 32], name[HB_AGENT_MAX + 32];
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
