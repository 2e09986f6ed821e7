/*
 * The physical limit of one heartbeat: the bash sidecar's beat, done in C
 * with nothing added. Each beat is kill(pid, 0), a ts/pid/status record
 * formatted with strftime, a temp file written and renamed over the record,
 * and a nanosleep. No lock, no pidfd, no identity check: mosaic-hb does more
 * per beat than this, so this is the floor it is measured against.
 *
 * usage: c_loop HB_FILE PID INTERVAL_SECONDS
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fputs("usage: c_loop HB_FILE PID INTERVAL_SECONDS\n", stderr);
        return 2;
    }
    const char *hb_path = argv[1];
    long pid_arg = strtol(argv[2], NULL, 10);
    double interval = strtod(argv[3], NULL);
    if (pid_arg <= 0 || !(interval > 0)) {
        fputs("c_loop: PID and INTERVAL_SECONDS must be positive\n", stderr);
        return 2;
    }
    pid_t pid = (pid_t)pid_arg;

    char tmp_path[4096];
    if (snprintf(tmp_path, sizeof tmp_path, "%s.tmp.%d", hb_path, (int)getpid()) >= (int)sizeof tmp_path) {
        fputs("c_loop: HB_FILE is too long\n", stderr);
        return 2;
    }
    struct timespec pause;
    pause.tv_sec = (time_t)interval;
    pause.tv_nsec = (long)((interval - (double)pause.tv_sec) * 1e9);

    /* Like `kill -0` in bash: any failure, EPERM included, ends the loop. */
    while (kill(pid, 0) == 0) {
        time_t now = time(NULL);
        struct tm local;
        char ts[40], record[128];
        if (localtime_r(&now, &local) == NULL || strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S%z", &local) == 0)
            ts[0] = '\0';
        int len = snprintf(record, sizeof record, "ts=%s\npid=%d\nstatus=ok\n", ts, (int)pid);

        /* As bash's `> tmp && mv tmp hb`: the rename only follows a good write. */
        int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            ssize_t written = write(fd, record, (size_t)len);
            if (close(fd) == 0 && written == len)
                rename(tmp_path, hb_path);
        }
        nanosleep(&pause, NULL);
    }
    return 0;
}
