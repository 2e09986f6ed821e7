/*
 * Generic POSIX plumbing, with nothing of mosaic's policy in it: clocks,
 * mkdir -p, a private directory, the atomic write, the record lock, pipes
 * and closing fds.
 */
#include "hb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>      /* renameat */
#include <string.h>
#include <sys/file.h>   /* flock */
#include <sys/select.h> /* pselect */
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
#if defined(__linux__)
#  include <sys/syscall.h>
#endif

/* ---- clocks -------------------------------------------------------------- */

long long hb_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct timespec hb_ns_to_timespec(long long ns)
{
    struct timespec ts;
    if (ns < 0)
        ns = 0;
    ts.tv_sec = (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    return ts;
}

double hb_boot_clock(void)
{
    struct timespec ts;
#if defined(CLOCK_BOOTTIME)
    if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double hb_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- directories --------------------------------------------------------- */

int hb_mkdirs(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path) {
        errno = len ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (char *p = path + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = saved;
            if (saved == '\0')
                return 0;
        }
    }
}

int hb_open_run_dir(const char *dir, int create, const char **why)
{
    *why = NULL;
    if (create && hb_mkdirs(dir) != 0)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR) {
            struct stat st;
            if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
                *why = "run dir is a symlink";
                errno = ELOOP;
            }
        }
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (st.st_uid != geteuid()) {
        *why = "run dir is owned by another user";
        errno = EPERM;
        goto fail;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        *why = "run dir is group- or world-writable";
        errno = EPERM;
        goto fail;
    }
    return fd;

fail:
    hb_close_quietly(fd);
    return -1;
}

/* ---- the atomic write ---------------------------------------------------- */

/* O_EXCL, so a planted symlink or any leftover is refused; the caller holds
 * the lock, so whatever is there is debris and is removed once. */
int hb_write_atomic(int dirfd, const char *name, const char *tmp_name,
                    const char *buf, size_t len, mode_t mode, int do_fsync)
{
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = openat(dirfd, tmp_name, flags, mode);
    if (fd < 0 && errno == EEXIST && unlinkat(dirfd, tmp_name, 0) == 0)
        fd = openat(dirfd, tmp_name, flags, mode);
    if (fd < 0)
        return -1;
    /* The daemon's umask is 077; a file meant for other readers gets its
     * mode back explicitly. */
    if ((mode & 077) && fchmod(fd, mode) != 0)
        goto fail;

    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        p += n;
        left -= (size_t)n;
    }
    if (do_fsync && fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {   /* NFS and full disks may report only here */
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (renameat(dirfd, tmp_name, dirfd, name) != 0)
        goto fail;
    if (do_fsync)
        (void)fsync(dirfd);   /* the data is safe; this makes the rename durable */
    return 0;

fail:;
    int err = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp_name, 0);
    errno = err;
    return -1;
}

/* ---- reading ------------------------------------------------------------- */

/* O_NONBLOCK, so that a FIFO planted under the name cannot hang the
 * reader; the fstat then refuses it. One read: the writers replace these
 * files whole by rename, so a short file is the whole file. */
ssize_t hb_read_small(int dirfd, const char *name, char *buf, size_t size)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    do {
        n = read(fd, buf, size - 1);
    } while (n < 0 && errno == EINTR);
    if (n >= 0 && (size_t)n >= size - 1) {
        errno = EFBIG;
        n = -1;
    }
    if (n >= 0)
        buf[n] = '\0';
out:
    hb_close_quietly(fd);
    return n;
}

/* ---- the lock ------------------------------------------------------------ */

int hb_open_lock_file(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* A POSIX record lock, not flock(), because F_GETLK names the holder. */
int hb_try_lock(int fd, pid_t *holder)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return 1;
    if (errno != EAGAIN && errno != EACCES)
        return -1;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    *holder = 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        *holder = fl.l_pid;
    return 0;
}

/* ---- fds ----------------------------------------------------------------- */

int hb_pipe_cloexec(int fds[2])
{
#if defined(__linux__)
    return pipe2(fds, O_CLOEXEC);
#else
    if (pipe(fds) != 0)
        return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

void hb_close_from(int lowest)
{
#if defined(__linux__) && defined(SYS_close_range)
    if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = lowest; fd < max; fd++)
        close(fd);
}

void hb_close_quietly(int fd)
{
    if (fd >= 0) {
        int err = errno;
        close(fd);
        errno = err;
    }
}

/* ---- running a program (the restart path only) ---------------------------- */

int hb_spawn_capture(char *const argv[], char *out, size_t size, long long timeout_ns)
{
    int fds[2];
    if (hb_pipe_cloexec(fds) != 0)
        return -1;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_init(&attr);
    /* The sidecar blocks its stop signals and ignores SIGPIPE: neither may
     * be inherited by tmux. */
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t child;
    int err = posix_spawn(&child, argv[0], &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (err != 0) {
        close(fds[0]);
        errno = err;
        return -1;
    }
    size_t got = 0;
    int timed_out = 0;
    long long deadline = hb_monotonic_ns() + timeout_ns;
    for (;;) {
        long long left = deadline - hb_monotonic_ns();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN, .revents = 0};
        int ready = poll(&pfd, 1, (int)(left / 1000000LL) + 1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;
        char scratch[256];
        char *into = got + 1 < size ? out + got : scratch;
        size_t room = got + 1 < size ? size - 1 - got : sizeof scratch;
        ssize_t n = read(fds[0], into, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (into != scratch)
            got += (size_t)n;
    }
    close(fds[0]);
    if (size > 0)
        out[got < size ? got : size - 1] = '\0';
    if (timed_out)
        kill(child, SIGKILL);
    int status;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    if (timed_out) {
        errno = ETIMEDOUT;
        return -1;
    }
    return status;
}

int hb_sleep_ns(long long ns, const sigset_t *mask)
{
    struct timespec ts = hb_ns_to_timespec(ns);
    return pselect(0, NULL, NULL, NULL, &ts, mask) < 0 ? -1 : 0;
}

int hb_try_flock(int fd)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 1;
    return errno == EWOULDBLOCK ? 0 : -1;
}

int hb_exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}
