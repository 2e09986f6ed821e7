/*
 * mosaic-hb log: the writer behind `tmux pipe-pane`, one per agent pane.
 *
 * It copies its stdin (the pane's output) to a log file and must never
 * hold the agent up, so: it reads all the time, whatever happens to the
 * file; a failed write (a full disk, a file-size limit) drops that data,
 * counted, and says so in the log once writing works again. It rotates the
 * file at a size cap, keeping one old file (NAME.1), and it writes a marker
 * line each time it starts, so that a launch, a relaunch and a restart can
 * be told apart in the log. A log deleted, or moved away, behind its back
 * is begun again at its path within a second of the next output (else every
 * later byte would go, unseen, to a file nobody can reach, and take its
 * disk space until the writer ends).
 *
 * It is small on purpose (at most about 200 KB of private memory per
 * agent): no stdio buffers, no heap, one static read buffer. The file is
 * opened through a descriptor of its directory (checked as a run dir is:
 * ours, not a symlink, not group- or world-writable) with O_NOFOLLOW, so a
 * planted symlink is never followed; a hard-linked or foreign file is
 * refused too.
 *
 * The compiled program is in the binary only; the extension has no use
 * for it (setup.py's sidecar_sources()).
 */
#include "hb_internal.h"
#include "hb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>      /* renameat, snprintf */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One read of the pane's output; tmux writes in chunks of a few KB.
 * Larger buffers cost private memory (every page a read touches) to save
 * little CPU: 32 KB measured 156-160 KB of USS and 64 KB up to 188 KB
 * against 140 KB here, for 10-20% less CPU per MB (docs/benchmarks.md). */
static char buffer[16384];

typedef struct log_file {
    int dirfd;
    int fd;                         /* -1 while the file cannot be opened */
    const char *name;               /* in dirfd */
    char old_name[NAME_MAX + 1];    /* NAME.1 */
    long long size;
    long long max_bytes;            /* 0: never rotate */
    unsigned long long dropped;     /* bytes lost since the last good write */
    int drop_errno;
    time_t looked_at;               /* the last check_path, CLOCK_MONOTONIC seconds */
} log_file;

static int write_all(int fd, const char *p, size_t len, size_t *done)
{
    *done = 0;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        *done += (size_t)n;
    }
    return 0;
}

/* Open (creating, 0600) the log for appending. -1 (errno) if it cannot be
 * opened, or is not a regular file of ours with a single link. */
static int open_log(log_file *log)
{
    int fd = openat(log->dirfd, log->name,
                    O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        errno = EINVAL;
        goto fail;
    }
    if (st.st_uid != geteuid()) {
        errno = EPERM;
        goto fail;
    }
    if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)
        goto fail;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    log->fd = fd;
    log->size = st.st_size;
    return 0;
fail:
    hb_close_quietly(fd);
    return -1;
}

/* The file ends in the middle of a line (a writer cut short): 1. */
static int ends_mid_line(const log_file *log)
{
    char last;
    return log->size > 0 && pread(log->fd, &last, 1, log->size - 1) == 1 && last != '\n';
}

/* Append LEN bytes of TEXT; a failure is counted as dropped data. */
static void append(log_file *log, const char *text, size_t len);

static void rotate(log_file *log)
{
    /* A rename that fails (the directory is read-only now) is tried again
     * after another max_bytes, not on every chunk; but a log deleted is
     * begun again now. */
    if (renameat(log->dirfd, log->name, log->dirfd, log->old_name) != 0 && errno != ENOENT) {
        log->size = 0;
        return;
    }
    close(log->fd);
    log->fd = -1;
    (void)open_log(log);
}

/* At most once a second (a clock read, which is no system call on Linux):
 * if the path no longer names the open file (deleted, or moved away by
 * hand or by a logrotate), begin the log again there. */
static void check_path(log_file *log)
{
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0 || now.tv_sec == log->looked_at)
        return;
    log->looked_at = now.tv_sec;
    struct stat at_path, open_file;
    if (fstat(log->fd, &open_file) != 0)
        return;
    if (fstatat(log->dirfd, log->name, &at_path, AT_SYMLINK_NOFOLLOW) != 0
            ? errno == ENOENT
            : at_path.st_dev != open_file.st_dev || at_path.st_ino != open_file.st_ino) {
        close(log->fd);
        log->fd = -1;
        (void)open_log(log);    /* if it fails, append counts what is dropped */
    }
}

static void append(log_file *log, const char *text, size_t len)
{
    if (log->fd >= 0)
        check_path(log);
    if (log->fd < 0 && open_log(log) != 0) {
        log->dropped += len;
        log->drop_errno = errno;
        return;
    }
    if (log->dropped > 0) {
        char note[160];
        int n = snprintf(note, sizeof note, "%s[mosaic: %llu bytes of output were not logged: %s]\n",
                         ends_mid_line(log) ? "\n" : "", log->dropped, strerror(log->drop_errno));
        /* 0 when snprintf failed and nothing was written (read below). */
        size_t done = 0;
        if (n > 0 && write_all(log->fd, note, (size_t)n, &done) == 0) {
            log->size += (long long)done;
            log->dropped = 0;
        } else {
            log->size += (long long)done;
            log->dropped += len;
            log->drop_errno = errno;
            return;
        }
    }
    size_t done;
    if (write_all(log->fd, text, len, &done) != 0) {
        log->dropped += len - done;
        log->drop_errno = errno;
    }
    log->size += (long long)done;
    if (log->max_bytes > 0 && log->size >= log->max_bytes) {
        /* The file's own size: another process may have cut it short. */
        struct stat st;
        if (fstat(log->fd, &st) == 0 && st.st_size < log->size)
            log->size = st.st_size;
        if (log->size >= log->max_bytes)
            rotate(log);
    }
}

static void write_marker(log_file *log, const char *event)
{
    char stamp[32], marker[256];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(stamp, sizeof stamp, "%lld", (long long)now);
    /* The agent's name: the file's, without ".log". */
    size_t name_len = strlen(log->name);
    if (name_len > 4 && strcmp(log->name + name_len - 4, ".log") == 0)
        name_len -= 4;
    int n = snprintf(marker, sizeof marker, "%s=== mosaic: %.*s %s %s ===\n",
                     log->fd >= 0 && ends_mid_line(log) ? "\n" : "", (int)name_len, log->name, event, stamp);
    if (n > 0)
        append(log, marker, (size_t)n < sizeof marker ? (size_t)n : sizeof marker - 1);
}

int hb_log_run(const char *path, long long max_bytes, const char *event, const char **why)
{
    *why = NULL;
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0) {
        *why = "not a file path";
        errno = EINVAL;
        return -1;
    }
    size_t dir_len = slash == path ? 1 : (size_t)(slash - path);
    if (dir_len >= sizeof dir || strlen(slash + 1) + 2 > NAME_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, dir_len);
    dir[dir_len] = '\0';

    log_file log;
    memset(&log, 0, sizeof log);
    log.fd = -1;
    log.name = slash + 1;
    log.max_bytes = max_bytes;
    snprintf(log.old_name, sizeof log.old_name, "%s.1", log.name);
    log.dirfd = hb_open_run_dir(dir, 1, why);
    if (log.dirfd < 0) {
        if (*why != NULL) {
            /* hb_open_run_dir speaks of a run dir; this is the log dir. */
            if (strstr(*why, "symlink"))
                *why = "log dir is a symlink";
            else if (strstr(*why, "another user"))
                *why = "log dir is owned by another user";
            else
                *why = "log dir is group- or world-writable";
        }
        return -1;
    }
    if (open_log(&log) != 0) {
        *why = errno == EINVAL ? "log is not a regular file with one link" : "cannot open the log";
        return -1;
    }
    write_marker(&log, event);

    for (;;) {
        ssize_t n = read(0, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return 0;   /* the pane, or its pipe, is gone */
        if (n < 0) {
            *why = "cannot read the pane's output";
            return -1;
        }
        append(&log, buffer, (size_t)n);
    }
}
