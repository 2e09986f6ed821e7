/*
 * The pane log writer of `mosaic-hb log` (hb_log.c); compiled into the
 * mosaic-hb executable only.
 */
#ifndef MOSAIC_HB_LOG_H
#define MOSAIC_HB_LOG_H

#define HB_LOG_MAX_BYTES_DEFAULT (10LL * 1000 * 1000)   /* 10 MB */
#define HB_LOG_MAX_BYTES_MIN 1024LL

/* Copy stdin to the log PATH (absolute) until end of input, after a marker
 * line naming EVENT; rotate to PATH.1 at MAX_BYTES (0: never). Creates
 * PATH's directory 0700 if missing. Returns 0 at end of input, or -1 if the
 * log cannot be set up or stdin fails (errno, and *why when there is more
 * to say). Write errors never end it: the data is dropped and counted. */
int hb_log_run(const char *path, long long max_bytes, const char *event, const char **why);

#endif /* MOSAIC_HB_LOG_H */
