# Declarations of the C core (hb.h) for the Cython binding.
from posix.types cimport pid_t


cdef extern from "<signal.h>":
    ctypedef struct sigset_t:
        pass


cdef extern from "hb.h" nogil:
    int HB_AGENT_MAX
    int HB_RECORD_MAX
    int HB_STATE_FILE_MAX
    double HB_INTERVAL_MIN
    double HB_INTERVAL_MAX

    enum:
        HB_END_ERROR
        HB_END_DEAD
        HB_END_STOPPED
        HB_END_REPLACED

    enum:
        HB_GO_ON
        HB_STOP
        HB_HAND_OVER
        HB_READ_STATE

    ctypedef struct hb_config:
        const char *agent
        pid_t pid
        const char *run_dir
        double interval
        int fsync
        const char *runtime
        const char *textfile_dir
        int force_poll
        const sigset_t *wait_mask
        int (*interrupted)(void *ctx) noexcept
        void *ctx
        void (*started)(void *ctx) noexcept
        const void *restart

    ctypedef struct hb_record:
        const char *agent
        const char *runtime
        const char *status
        pid_t pid
        pid_t hb_pid
        unsigned long long pid_start
        unsigned long long seq
        double interval

    ctypedef struct hb_proc_entry:
        pid_t pid
        pid_t ppid
        int zombie
        unsigned long long cpu_ticks
        unsigned long long start
        unsigned long long rss_pages

    int hb_valid_agent_name(const char *name)
    int hb_parse_interval(const char *text, double *out)
    int hb_proc_start_time(pid_t pid, unsigned long long *start)
    int hb_proc_alive(pid_t pid, unsigned long long pid_start)
    int hb_proc_list(hb_proc_entry **out, size_t *count)
    int hb_proc_resident(pid_t pid, unsigned long long *pages)
    int hb_wait_exit(pid_t pid, unsigned long long pid_start, double timeout)
    int hb_open_run_dir(const char *dir, int create, const char **why)
    int hb_write_record(int dirfd, const hb_record *rec, int do_fsync)
    double hb_boot_clock()
    int hb_run(const hb_config *cfg, const char **why)


cdef extern from "<errno.h>":
    # Not in Cython's libc.errno; differs from EOPNOTSUPP on macOS.
    int ENOTSUP
