/* husk_spawn.c: the native stage of Husk.
 *
 * C# decides everything and hands over a flat list of operations; this file
 * only clones and walks them with raw system calls. The child never returns
 * into managed code, never allocates and never uses stdio: a failing op sends
 * (op index, step, errno) on the channel and exits. libc is used only for thin
 * system-call wrappers: never for anything that takes a lock or coordinates
 * threads (the setxid family broadcasts to a thread list that, after a raw
 * clone3, names threads this process does not have).
 *
 * Paths inside the sandbox are resolved with openat2(RESOLVE_IN_ROOT) against
 * the root they belong to, so symlinks resolve the way the sandbox will see
 * them, and mounts go through the new mount API (open_tree, fsopen, fsmount,
 * move_mount, mount_setattr) on the resolved file descriptors. */
#define _GNU_SOURCE
#include "husk_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/personality.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef FSCONFIG_SET_FD
#define FSCONFIG_SET_FD 5
#endif

#define HUSK_EXPORT __attribute__((visibility("default")))

/* The init program, linked in by husk_init_blob.S. */
extern const unsigned char husk_init_start[];
extern const unsigned char husk_init_end[];

/* ---- signal dispositions of the process before the runtime changed them ---- */

static uint64_t initially_ignored;

__attribute__((constructor)) static void record_ignored_signals(void)
{
    for (int sig = 1; sig < 64; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            initially_ignored |= 1ULL << (sig - 1);
    }
    /* A runtime that was already up ignores SIGPIPE for itself; payloads expect the default. */
    initially_ignored &= ~(1ULL << (SIGPIPE - 1));
}

/* The signals whose disposition the calling process may have changed since it started (a handler,
 * or ignored where it started with the default): the only ones a child must put back. A runtime may
 * change any of them at any time; husk-pool, which installs nothing but its SIGPIPE, says so. */
static uint64_t changed_signals = ~0ULL;

void husk_signals_changed_only(uint64_t mask)
{
    changed_signals = mask;
}

/* A library's host is no shell: what it ignores is its own (Python ignores SIGXFSZ and SIGPIPE for
 * itself, and a program that writes past RLIMIT_FSIZE must still die of it, as under subprocess).
 * libhusk calls this once, before its first sandbox; the spec's IgnoredSignals still apply. */
HUSK_EXPORT void husk_forget_ignored_signals(void)
{
    initially_ignored = 0;
}

/* ---- raw system calls the libc may lack ---- */

static long sys_clone3(struct clone_args *args)
{
    return syscall(SYS_clone3, args, sizeof(*args));
}

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static int sys_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

static void drop_roots(void);

/* Every attach goes through here: what a root's kept descriptor sees may lie beneath it now. */
static int sys_move_mount(int from_dirfd, const char *from, int to_dirfd, const char *to, unsigned int flags)
{
    int r = (int)syscall(SYS_move_mount, from_dirfd, from, to_dirfd, to, flags);
    drop_roots();
    return r;
}

static int sys_mount_setattr(int dirfd, const char *path, unsigned int flags, uint64_t set, uint64_t clear)
{
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = set;
    attr.attr_clr = clear;
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr);
}

static int sys_fsopen(const char *fstype, unsigned int flags)
{
    return (int)syscall(SYS_fsopen, fstype, flags);
}

static int sys_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

static int sys_fsmount(int fd, unsigned int flags, unsigned int attrs)
{
    return (int)syscall(SYS_fsmount, fd, flags, attrs);
}

static int sys_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int sys_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

static int sys_faccessat2(int dirfd, const char *path, int mode, int flags)
{
    return (int)syscall(SYS_faccessat2, dirfd, path, mode, flags);
}

static int sys_seccomp(unsigned int op, unsigned int flags, void *args)
{
    return (int)syscall(SYS_seccomp, op, flags, args);
}

static int sys_capset(struct __user_cap_header_struct *h, struct __user_cap_data_struct *d)
{
    return (int)syscall(SYS_capset, h, d);
}

static _Noreturn void sys_exit(int code)
{
    for (;;)
        syscall(SYS_exit_group, code);
}

/* ---- scoped descriptors (bubblewrap's cleanup_fd and steal_fd, crun's cleanup_close) ----
 *
 * A descriptor declared `autoclose` is closed when its variable goes out of scope, and errno
 * survives the close, so an op can fail with `return -1` wherever it is. This is compile-time
 * only (no allocation, no handler), so it is safe in the child. steal_fd hands a descriptor on
 * (to the caller, or to husk-init) instead; close_fd closes one early, where the order matters. */
static void close_fd(int *fd)
{
    if (*fd >= 0) {
        int e = errno;
        close(*fd);
        errno = e;
        *fd = -1;
    }
}

static int steal_fd(int *fd)
{
    int r = *fd;
    *fd = -1;
    return r;
}

#define autoclose __attribute__((cleanup(close_fd)))

/* A scratch name on the base tmpfs (relative to the cwd, the base) removed when it goes out of scope. */
static void unlink_scratch(const char **name)
{
    int e = errno;
    unlinkat(AT_FDCWD, *name, 0);
    errno = e;
}

#define autounlink __attribute__((cleanup(unlink_scratch)))

/* ---- the child's state ----
 *
 * The child works in the supervisor's memory (CLONE_VM) until it execs, and several spawning
 * threads may each have a child at work at once. So its state lives in the region husk_spawn maps
 * for that spawn (which also holds the child's stacks), reached through a thread-local pointer:
 * the child runs on its spawning thread's TLS, and that thread sleeps in clone3 until the child
 * execs (CLONE_VFORK), as does a child that vforks the payload. The macros below keep the code
 * reading like plain variables. */
#define MAX_HELD_FDS 64
#define PATH_BUF 4096
struct child_state {
    int channel_fd;            /* child end of the supervisor channel */
    bool building;             /* between ROOT_BEGIN and ROOT_FINISH: /newroot and /oldroot exist */
    bool shared_base;          /* a pool's template began the build: its runs share one base */
    int hostproc_fd;           /* the host's /proc, opened before the pivot */
    int root_fds[3];           /* the roots (HUSK_ROOT_NEW, OLD, BASE) while building, open until a mount moves (drop_roots) */
    int landlock_fd;
    int pty_slave;             /* OPEN_PTY's slave, until it becomes the payload's stdio */
    unsigned bindfile_counter;
    int held_fds[MAX_HELD_FDS];
    pid_t held_by[MAX_HELD_FDS]; /* memory is shared across CLONE_VM forks; fd tables are not */
    int held_count;
    int current_step;          /* errors inside an op carry their step, set just before the call */
    bool checked_mntns;        /* the first mount op checked we are not in the host's namespace */
    bool own_memory;           /* a copy of the supervisor's memory (not borrowed with CLONE_VM) */
    char *fork_stack_base;     /* stacks for the children the plan forks, one per depth */
    int fork_depth;
    size_t error_detail_len;
    char error_detail[PATH_BUF]; /* text that explains the error about to be reported */
    char pid_entry[PATH_BUF];  /* exec: "NAME=<pid>" for SandboxSpec.PidVariable */
};

/* initial-exec: no __tls_get_addr (which could allocate) when the child reads it. */
static __thread struct child_state *cs __attribute__((tls_model("initial-exec")));

#define channel_fd (cs->channel_fd)
#define building (cs->building)
#define shared_base (cs->shared_base)
#define hostproc_fd (cs->hostproc_fd)
#define landlock_fd (cs->landlock_fd)
#define pty_slave (cs->pty_slave)
#define bindfile_counter (cs->bindfile_counter)
#define held_fds (cs->held_fds)
#define held_by (cs->held_by)
#define held_count (cs->held_count)
#define current_step (cs->current_step)
#define checked_mntns (cs->checked_mntns)
#define own_memory (cs->own_memory)
#define fork_stack_base (cs->fork_stack_base)
#define fork_depth (cs->fork_depth)
#define error_detail (cs->error_detail)
#define error_detail_len (cs->error_detail_len)

/* LANDLOCK_ACCESS_FS_EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV */
#define LANDLOCK_FILE_RIGHTS ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15))

static void report(int kind, int op, int step, int error, int64_t value)
{
    husk_report r;
    r.kind = kind;
    r.op = op;
    r.step = step;
    r.error = error;
    r.value = value;
    if (channel_fd >= 0) {
        ssize_t n;
        do
            n = send(channel_fd, &r, sizeof r, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
    }
}

/* Text that explains the error about to be reported (sent first, as a DETAIL report). */

static void set_error_detail(const char *text, size_t len)
{
    if (len >= sizeof error_detail)
        len = sizeof error_detail - 1;
    memcpy(error_detail, text, len);
    error_detail_len = len;
}

static void report_detail(int op)
{
    if (error_detail_len == 0 || channel_fd < 0)
        return;
    char buf[sizeof(husk_report) + PATH_BUF];
    husk_report r;
    memset(&r, 0, sizeof r);
    r.kind = HUSK_REPORT_DETAIL;
    r.op = op;
    memcpy(buf, &r, sizeof r);
    memcpy(buf + sizeof r, error_detail, error_detail_len);
    ssize_t n;
    do
        n = send(channel_fd, buf, sizeof r + error_detail_len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    error_detail_len = 0;
}

static _Noreturn void fail(int op, int step, int error)
{
    report(HUSK_REPORT_ERROR, op, step, error, 0);
    sys_exit(127);
}


#define CHILD_STACK_SIZE (256 * 1024)
/* Forks a plan may contain (the planner makes at most three: joining a pid namespace, creating
 * one, starting the payload under husk-init); stack slot 0 is the first child's own. */
#define FORK_DEPTH 4

static void reset_child_state(void)
{
    memset(cs, 0, sizeof *cs);
    channel_fd = -1;
    building = false;
    hostproc_fd = -1;
    for (int i = 0; i < 3; i++)
        cs->root_fds[i] = -1;
    landlock_fd = -1;
    pty_slave = -1;
    held_count = 0;
    bindfile_counter = 0;
    current_step = 0;
    checked_mntns = false;
    own_memory = false;
    fork_depth = 0;
}

#define CHECK(expr)                                   \
    do {                                              \
        if ((expr) < 0)                               \
            return -1;                                \
    } while (0)

/* ---- small string helpers (no libc allocation) ---- */

static size_t str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        errno = ENAMETOOLONG;
        return (size_t)-1;
    }
    memcpy(dst, src, n + 1);
    return n;
}

static int fmt_int(char *buf, size_t cap, long v)
{
    char tmp[24];
    int n = 0;
    bool neg = v < 0;
    unsigned long u = neg ? (unsigned long)(-(v + 1)) + 1 : (unsigned long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u && n < 22);
    if (neg)
        tmp[n++] = '-';
    if ((size_t)n + 1 > cap)
        return -1;
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return n;
}

/* ---- path resolution ---- */

static int ensure_node(unsigned root, const char *path, bool dir, mode_t mode);
static int send_own_pid_kind(int kind, int index);
static int send_fd(int fd, int kind);
static _Noreturn void become_init(const husk_op *op, int index, pid_t child, int init_fd);
static int op_bind(const husk_op *op, bool *skipped);

/* Closes the roots' kept descriptors. Mounts stack on /newroot as the plan runs, and a descriptor
 * opened before a mount there would keep seeing what lies beneath it: every attach, and every op
 * that is not a plain path op (namespaces, the pivots, credentials), drops them (run_ops). */
static void drop_roots(void)
{
    for (int i = 0; i < 3; i++)
        close_fd(&cs->root_fds[i]);
}

/* The directory a root names (owned by the cache: do not close it), opened by path on first use
 * after the last mount; -1 when not building. Consecutive path ops share one open instead of
 * reopening the root at every lookup (a dear system call in this stage's hot path). */
static int open_root(unsigned root)
{
    static const char *const paths[3] = { "/newroot", "/oldroot", "/" };
    if (!building || root > HUSK_ROOT_BASE)
        return -1;
    if (cs->root_fds[root] < 0)
        cs->root_fds[root] = open(paths[root], O_PATH | O_DIRECTORY | O_CLOEXEC);
    return cs->root_fds[root];
}

/* Opens path as seen from the given root. Before ROOT_BEGIN every root is the plain one. */
static int resolve(unsigned root, const char *path, uint64_t flags, uint64_t mode, bool nofollow)
{
    if (nofollow)
        flags |= O_NOFOLLOW;
    int rfd = open_root(root);
    if (rfd < 0)
        return sys_openat2(AT_FDCWD, path, flags | O_CLOEXEC, mode, 0);
    return sys_openat2(rfd, path, flags | O_CLOEXEC, mode, RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT);
}

/* Splits "/a/b/c" into parent "/a/b" and name "c" in buf. */
static int split_path(const char *path, char *buf, const char **parent, const char **name)
{
    if (str_copy(buf, PATH_BUF, path) == (size_t)-1)
        return -1;
    char *slash = strrchr(buf, '/');
    if (slash == NULL) {
        *parent = ".";
        *name = buf;
    } else if (slash == buf) {
        *parent = "/";
        *name = buf + 1;
    } else {
        *slash = 0;
        *parent = buf;
        *name = slash + 1;
    }
    if (**name == 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/* Opens the directory that holds path (as root sees it), its last name left in *name (inside tmp). */
static int open_parent(unsigned root, const char *path, char *tmp, const char **name)
{
    const char *parent;
    if (split_path(path, tmp, &parent, name) < 0)
        return -1;
    current_step = HUSK_STEP_DEST;
    return resolve(root, parent, O_PATH | O_DIRECTORY, 0, false);
}

/* Creates every missing parent directory of path, with mode. */
static int make_parents(unsigned root, const char *path, mode_t mode)
{
    char buf[PATH_BUF];
    if (str_copy(buf, sizeof buf, path) == (size_t)-1)
        return -1;
    char *last = strrchr(buf, '/');
    if (last == NULL || last == buf)
        return 0; /* the parent is the root itself */
    *last = 0;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0)
            continue;
        char saved = *p;
        *p = 0;
        if (ensure_node(root, buf, true, mode) < 0)
            return -1;
        *p = saved;
        if (saved == 0)
            return 0;
    }
}

/* Makes sure path exists as a directory (dir) or something else (file), creating it with mode. */
static int ensure_node(unsigned root, const char *path, bool dir, mode_t mode)
{
    autoclose int fd = resolve(root, path, O_PATH, 0, false);
    if (fd >= 0)
        return 0;
    if (errno != ENOENT)
        return -1;
    char tmp[PATH_BUF];
    const char *parent, *name;
    if (split_path(path, tmp, &parent, &name) < 0)
        return -1;
    autoclose int pfd = resolve(root, parent, O_PATH | O_DIRECTORY, 0, false);
    if (pfd < 0)
        return -1;
    int r;
    if (dir) {
        r = mkdirat(pfd, name, mode);
    } else {
        autoclose int created = openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
        r = created;
    }
    return r < 0 && errno != EEXIST ? -1 : 0;
}

/* With TRY and NO_CREATE, an op whose destination is missing or unreachable is skipped. */
static bool destination_absent(const husk_op *op)
{
    if ((op->flags & (HUSK_F_TRY | HUSK_F_NO_CREATE)) != (HUSK_F_TRY | HUSK_F_NO_CREATE))
        return false;
    autoclose int fd = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH, 0, false);
    if (fd >= 0)
        return false;
    return errno == ENOENT || errno == EACCES || errno == ENOTDIR;
}

static int prepare_destination(const husk_op *op, bool dir)
{
    unsigned root = HUSK_S2_ROOT(op->flags);
    const char *dst = (const char *)(uintptr_t)op->s2;
    if (op->flags & HUSK_F_NO_CREATE)
        return 0;
    current_step = HUSK_STEP_PARENTS;
    CHECK(make_parents(root, dst, op->b ? (mode_t)op->b : 0755));
    current_step = HUSK_STEP_DEST;
    CHECK(ensure_node(root, dst, dir, dir ? 0755 : 0444));
    return 0;
}

/* ---- operations ---- */

static int op_root_begin(const husk_op *op)
{
    const char *base = (const char *)(uintptr_t)op->s1;
    current_step = HUSK_STEP_NONE;
    hostproc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    /* Nothing we mount may travel back to the host. */
    current_step = HUSK_STEP_ATTR;
    CHECK(mount(NULL, "/", NULL, MS_SLAVE | MS_REC | MS_SILENT, NULL));
    current_step = HUSK_STEP_MOUNT;
    CHECK(mount("tmpfs", base, "tmpfs", (unsigned long)op->a | MS_SILENT, (const char *)(uintptr_t)op->s2));
    current_step = HUSK_STEP_DEST;
    CHECK(chdir(base));
    CHECK(mkdir("newroot", 0755));
    CHECK(mount("newroot", "newroot", NULL, MS_BIND | MS_REC | MS_SILENT, NULL));
    CHECK(mkdir("oldroot", 0755));
    current_step = HUSK_STEP_MOUNT;
    CHECK(sys_pivot_root(base, "oldroot"));
    CHECK(chdir("/"));
    current_step = HUSK_STEP_DEST;
    building = true;
    if (op->flags & HUSK_F_SEND_BASE) {
        /* The open directory keeps the tmpfs alive after the sandbox is gone: the supervisor
         * reads the layers kept there. */
        current_step = HUSK_STEP_DATA;
        autoclose int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(fd);
        CHECK(send_fd(fd, HUSK_REPORT_STORAGE));
    }
    return 0;
}

static int op_root_finish(const husk_op *op)
{
    current_step = HUSK_STEP_ATTR;
    CHECK(mount("oldroot", "/oldroot", NULL, MS_REC | MS_PRIVATE | MS_SILENT, NULL));
    current_step = HUSK_STEP_MOUNT;
    CHECK(umount2("/oldroot", MNT_DETACH));
    autoclose int oldbase = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    CHECK(oldbase);
    CHECK(chdir("/newroot"));
    CHECK(sys_pivot_root(".", "."));
    CHECK(fchdir(oldbase));
    CHECK(umount2(".", MNT_DETACH));
    CHECK(chdir("/"));
    close_fd(&oldbase);
    building = false;
    if (op->a != 0) {
        current_step = HUSK_STEP_ATTR;
        CHECK(mount(NULL, "/", NULL, (unsigned long)op->a | MS_REC | MS_SILENT, NULL));
    }
    return 0;
}

/* A root by chroot(2), in the caller's mount namespace: nothing is mounted. The host's /proc stays
 * reachable through hostproc_fd (the later writes to /proc/self), and at op->fd for husk-init's gate,
 * which reopens its start FIFO there; dup2 leaves that one open across the exec. */
static int op_chroot(const husk_op *op)
{
    current_step = HUSK_STEP_NONE;
    if (hostproc_fd < 0) {
        hostproc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(hostproc_fd);
    }
    if (op->fd >= 0) {
        if (op->fd == channel_fd) {
            /* As for a dup2 op: the number asked for is our channel, which moves away first. */
            int moved = fcntl(channel_fd, F_DUPFD_CLOEXEC, 3);
            CHECK(moved);
            channel_fd = moved;
        }
        if (hostproc_fd == op->fd)
            CHECK(fcntl(op->fd, F_SETFD, 0));
        else
            CHECK(dup3(hostproc_fd, op->fd, 0));
    }
    current_step = HUSK_STEP_DEST;
    CHECK(chroot((const char *)(uintptr_t)op->s1));
    CHECK(chdir("/"));
    return 0;
}

/* Resolves the source of a bind; returns an O_PATH fd, or -1 with errno. */
static int open_bind_source(const husk_op *op)
{
    if (op->flags & HUSK_F_SOURCE_FD) {
        /* The fd belongs to the caller's mount namespace: bind what it names, checked afterwards. */
        char link[64], target[PATH_BUF];
        if (fmt_int(link, sizeof link, op->fd) < 0)
            return -1;
        char rel[80] = "self/fd/";
        memcpy(rel + 8, link, strlen(link) + 1);
        ssize_t n = readlinkat(hostproc_fd, rel, target, sizeof target - 1);
        if (n < 0)
            return -1;
        target[n] = 0;
        return resolve(HUSK_ROOT_OLD, target, O_PATH, 0, false);
    }
    return resolve(HUSK_S1_ROOT(op->flags), (const char *)(uintptr_t)op->s1, O_PATH, 0,
                   (op->flags & HUSK_F_NOFOLLOW) != 0);
}

/* TRY: what vanished since the plan was made (errno ENOENT) is skipped; any other error is the op's. */
static int skip_if_vanished(const husk_op *op, bool *skipped)
{
    if ((op->flags & HUSK_F_TRY) && errno == ENOENT) {
        *skipped = true;
        return 0;
    }
    return -1;
}

static int op_bind(const husk_op *op, bool *skipped)
{
    /* IfPresent: a destination the sandbox does not show (a host path under its private /tmp) is skipped. */
    if (destination_absent(op)) {
        *skipped = true;
        return 0;
    }
    current_step = HUSK_STEP_SOURCE;
    autoclose int src = open_bind_source(op);
    if (src < 0)
        return skip_if_vanished(op, skipped);
    if (op->flags & HUSK_F_IF_WRITABLE) {
        if (sys_faccessat2(src, "", W_OK, AT_EMPTY_PATH) < 0) {
            if (errno == EACCES || errno == ENOENT || errno == EROFS || errno == EPERM) {
                *skipped = true;
                return 0;
            }
            return -1;
        }
    }
    struct stat st;
    if (fstat(src, &st) < 0)
        return -1;
    /* A non-directory may go on a symlink itself rather than on what it points to. */
    autoclose int link = -1;
    if ((op->flags & HUSK_F_ONTO_SYMLINK) && !S_ISDIR(st.st_mode)) {
        current_step = HUSK_STEP_DEST;
        struct stat lst;
        link = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH, 0, true);
        if (link >= 0 && (fstat(link, &lst) < 0 || !S_ISLNK(lst.st_mode)))
            close_fd(&link);
    }
    if (link < 0 && prepare_destination(op, S_ISDIR(st.st_mode)) < 0)
        return -1;
    current_step = HUSK_STEP_MOUNT;
    /* c = 1: the source's own mount only (OCI's "bind"); otherwise the mounts below it too. */
    autoclose int tree = sys_open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | ((op->c & 1) ? 0 : AT_RECURSIVE));
    close_fd(&src);
    CHECK(tree);
    current_step = HUSK_STEP_ATTR;
    uint64_t set = op->a; /* further MOUNT_ATTR_* (noexec, nosymfollow) */
    set |= (op->flags & HUSK_F_SUID) ? 0 : MOUNT_ATTR_NOSUID;
    if (!(op->flags & HUSK_F_DEVICES))
        set |= MOUNT_ATTR_NODEV;
    if (op->flags & HUSK_F_READONLY)
        set |= MOUNT_ATTR_RDONLY;
    if (set != 0)
        CHECK(sys_mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, set, 0));
    current_step = HUSK_STEP_DEST;
    autoclose int dst = link >= 0 ? steal_fd(&link) : resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH, 0, false);
    CHECK(dst);
    current_step = HUSK_STEP_MOUNT;
    int r = sys_move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    close_fd(&tree);
    CHECK(r);
    if (op->flags & HUSK_F_SOURCE_FD) {
        struct stat fd_st, mnt_st;
        close_fd(&dst);
        current_step = HUSK_STEP_RACE;
        dst = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH, 0, false);
        if (dst < 0 || fstat(op->fd, &fd_st) < 0 || fstat(dst, &mnt_st) < 0)
            return -1;
        if (fd_st.st_ino != mnt_st.st_ino || fd_st.st_dev != mnt_st.st_dev) {
            errno = EXDEV;
            return -1;
        }
    }
    return 0;
}

/* Applies one "key\0value\0" entry to an fs context. A key prefixed by '@', '%' or '+'
 * takes a path in the old root, the base or the new root, passed as a file descriptor. */
static int apply_fs_option(int fsfd, const char *key, const char *value)
{
    unsigned root;
    switch (key[0]) {
    case '@':
        root = HUSK_ROOT_OLD;
        break;
    case '%':
        root = HUSK_ROOT_BASE;
        break;
    case '+':
        root = HUSK_ROOT_NEW;
        break;
    default:
        if (*value == 0)
            return sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
        return sys_fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0);
    }
    key++;
    autoclose int fd = resolve(root, value, O_PATH | O_DIRECTORY, 0, false);
    if (fd < 0)
        return -1;
    int r = sys_fsconfig(fsfd, FSCONFIG_SET_FD, key, NULL, fd);
    if (r < 0 && errno == EINVAL) {
        /* Kernels before 6.13 take layers only as paths: name the resolved directory. */
        char path[64] = "/proc/self/fd/";
        if (fmt_int(path + 14, sizeof path - 14, fd) >= 0)
            r = sys_fsconfig(fsfd, FSCONFIG_SET_STRING, key, path, 0);
        if (r < 0 && hostproc_fd >= 0) {
            char alt[96] = "/oldroot/proc/self/fd/";
            if (fmt_int(alt + 22, sizeof alt - 22, fd) >= 0)
                r = sys_fsconfig(fsfd, FSCONFIG_SET_STRING, key, alt, 0);
        }
    }
    return r;
}

static int op_mount(const husk_op *op, int *option_index)
{
    const char *fstype = (const char *)(uintptr_t)op->s1;
    if (destination_absent(op))
        return 0;
    if (prepare_destination(op, true) < 0)
        return -1;
    current_step = HUSK_STEP_MOUNT;
    autoclose int fsfd = sys_fsopen(fstype, FSOPEN_CLOEXEC);
    CHECK(fsfd);
    const char *opt = (const char *)(uintptr_t)op->p1;
    int index = 0;
    while (opt != NULL && *opt) {
        const char *key = opt;
        const char *value = key + strlen(key) + 1;
        current_step = HUSK_STEP_OPTION;
        *option_index = index;
        if (apply_fs_option(fsfd, key, value) < 0) {
            /* TRY: a layer that vanished since the plan was made (or whose idmapped view the
             * supervisor could not make for that reason) skips the mount. */
            if ((op->flags & HUSK_F_TRY) && errno == ENOENT && (key[0] == '@' || key[0] == '%'))
                return 0;
            return -1;
        }
        opt = value + strlen(value) + 1;
        index++;
    }
    current_step = HUSK_STEP_MOUNT;
    CHECK(sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
    autoclose int mfd = sys_fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned)op->a);
    close_fd(&fsfd);
    CHECK(mfd);
    current_step = HUSK_STEP_DEST;
    autoclose int dst = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH | O_DIRECTORY, 0, false);
    CHECK(dst);
    current_step = HUSK_STEP_MOUNT;
    return sys_move_mount(mfd, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static int op_mkdir(const husk_op *op)
{
    unsigned root = HUSK_S2_ROOT(op->flags);
    const char *path = (const char *)(uintptr_t)op->s2;
    current_step = HUSK_STEP_PARENTS;
    CHECK(make_parents(root, path, op->b ? (mode_t)op->b : 0755));
    current_step = HUSK_STEP_DEST;
    autoclose int fd = resolve(root, path, O_PATH, 0, false);
    if (fd >= 0) {
        struct stat st;
        CHECK(fstat(fd, &st));
        if (!S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
        return 0;
    }
    CHECK(ensure_node(root, path, true, op->mode));
    return 0;
}

/* Mounts a fresh symlink over the non-directory name in pfd: it is made on the base as
 * "symlink", cloned as a mount, moved on top (without following name) and unlinked. The name
 * shows in the sandbox's mountinfo ("/symlink//deleted"), as it does under mkosi-sandbox. */
static int overmount_symlink(const char *target, int pfd, const char *name)
{
    if (!building) {
        errno = EEXIST;
        return -1;
    }
    current_step = HUSK_STEP_MOUNT;
    /* The runs of a pool share their template's base: theirs are named after them. */
    char own[32] = "symlink";
    if (shared_base) {
        own[7] = '-';
        fmt_int(own + 8, sizeof own - 8, (long)getpid());
    }
    CHECK(symlinkat(target, AT_FDCWD, own)); /* cwd is the base */
    autounlink const char *scratch = own;
    autoclose int tree = sys_open_tree(AT_FDCWD, scratch, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
    CHECK(tree);
    return sys_move_mount(tree, "", pfd, name, MOVE_MOUNT_F_EMPTY_PATH);
}

static int op_symlink(const husk_op *op)
{
    const char *target = (const char *)(uintptr_t)op->s1;
    const char *path = (const char *)(uintptr_t)op->s2;
    unsigned root = HUSK_S2_ROOT(op->flags);
    current_step = HUSK_STEP_PARENTS;
    if (!(op->flags & HUSK_F_NO_PARENTS))
        CHECK(make_parents(root, path, op->b ? (mode_t)op->b : 0755));
    char tmp[PATH_BUF];
    const char *name;
    autoclose int pfd = open_parent(root, path, tmp, &name);
    CHECK(pfd);
    int r = symlinkat(target, pfd, name);
    if (r < 0 && errno == EEXIST && (op->flags & HUSK_F_IDENTICAL_OK)) {
        char existing[PATH_BUF];
        ssize_t n = readlinkat(pfd, name, existing, sizeof existing - 1);
        if (n >= 0) {
            existing[n] = 0;
            if (strcmp(existing, target) == 0)
                r = 0;
            else
                set_error_detail(existing, (size_t)n);
        }
        if (r < 0) {
            current_step = HUSK_STEP_EXISTS;
            errno = EEXIST;
        }
    }
    if (r < 0 && errno == EEXIST && (op->flags & HUSK_F_OVERMOUNT)) {
        /* Anything but a directory (as the sandbox will resolve it) gets a link mounted over it. */
        struct stat st;
        autoclose int fd = resolve(root, path, O_PATH, 0, false);
        bool dir = fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
        close_fd(&fd);
        if (dir) {
            current_step = HUSK_STEP_EXISTS;
            errno = EEXIST;
        } else {
            r = overmount_symlink(target, pfd, name);
        }
    }
    return r;
}

static int copy_data(int out, const husk_op *op)
{
    if (op->fd >= 0) {
        char buf[8192];
        for (;;) {
            ssize_t n = read(op->fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return -1;
            if (n == 0)
                return 0;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(out, buf + off, (size_t)(n - off));
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0)
                    return -1;
                off += w;
            }
        }
    }
    const char *data = (const char *)(uintptr_t)op->p1;
    for (uint64_t off = 0; off < op->c;) {
        ssize_t w = write(out, data + off, (size_t)(op->c - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        off += (uint64_t)w;
    }
    return 0;
}

static int op_write_file(const husk_op *op)
{
    unsigned root = HUSK_S2_ROOT(op->flags);
    const char *path = (const char *)(uintptr_t)op->s2;
    if (destination_absent(op))
        return 0;
    current_step = HUSK_STEP_PARENTS;
    if (!(op->flags & HUSK_F_NO_CREATE))
        CHECK(make_parents(root, path, op->b ? (mode_t)op->b : 0755));
    if (!(op->flags & HUSK_F_BIND_DATA)) {
        current_step = HUSK_STEP_DEST;
        autoclose int fd = resolve(root, path, O_WRONLY | O_CREAT | O_TRUNC, op->mode, false);
        CHECK(fd);
        current_step = HUSK_STEP_DATA;
        return copy_data(fd, op);
    }
    /* Write a hidden file on the base tmpfs, bind it, then unlink it. Named after us and the op:
     * the runs of a pool share their template's base. */
    char name[64] = "bindfile-";
    int len = 9 + fmt_int(name + 9, sizeof name - 9, (long)getpid());
    name[len++] = '-';
    fmt_int(name + len, sizeof name - (size_t)len, (long)bindfile_counter++);
    current_step = HUSK_STEP_DATA;
    autoclose int fd = openat(AT_FDCWD, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); /* cwd is the base */
    CHECK(fd);
    autounlink const char *bindfile = name;
    CHECK(fchmod(fd, op->mode));
    CHECK(copy_data(fd, op));
    close_fd(&fd);
    current_step = HUSK_STEP_DEST;
    if (!(op->flags & HUSK_F_NO_CREATE))
        CHECK(ensure_node(root, path, false, 0444));
    husk_op bind;
    memset(&bind, 0, sizeof bind);
    bind.kind = HUSK_OP_BIND;
    bind.flags = HUSK_ROOT_BASE | (root << 2) | HUSK_F_NO_CREATE | (op->flags & HUSK_F_READONLY);
    bind.fd = -1;
    char src[80] = "/";
    memcpy(src + 1, bindfile, strlen(bindfile) + 1);
    bind.s1 = (uint64_t)(uintptr_t)src;
    bind.s2 = op->s2;
    bool skipped = false;
    return op_bind(&bind, &skipped);
}

static int op_chmod(const husk_op *op)
{
    current_step = HUSK_STEP_DEST;
    autoclose int fd = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH, 0, false);
    CHECK(fd);
    /* fchmod refuses O_PATH descriptors; go through the descriptor's proc entry. */
    char path[64] = "self/fd/";
    fmt_int(path + 8, sizeof path - 8, fd);
    int r = hostproc_fd >= 0 ? fchmodat(hostproc_fd, path, op->mode, 0) : -1;
    if (hostproc_fd < 0) {
        char full[80] = "/proc/self/fd/";
        fmt_int(full + 14, sizeof full - 14, fd);
        r = chmod(full, op->mode);
    }
    return r;
}

static int op_remount_ro(const husk_op *op)
{
    current_step = HUSK_STEP_DEST;
    autoclose int fd = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH, 0, false);
    CHECK(fd);
    current_step = HUSK_STEP_ATTR;
    return sys_mount_setattr(fd, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY, 0);
}

/* The runs of a pool's template that are opening their own /proc files at this moment: they
 * borrow the template's memory (so this count is the template's, shared by all of them), and its
 * dumpability with it. */
static int borrowed_dumpable_holders;

static int open_proc_for_write(const char *path)
{
    if (hostproc_fd >= 0)
        return openat(hostproc_fd, path, O_WRONLY | O_CLOEXEC);
    char full[PATH_BUF] = "/proc/";
    if (str_copy(full + 6, sizeof full - 6, path) == (size_t)-1)
        return -1;
    return open(full, O_WRONLY | O_CLOEXEC);
}

static int op_write_proc(const husk_op *op)
{
    const char *path = (const char *)(uintptr_t)op->s1;
    /* Our own /proc files belong to root while we are not dumpable, and a nested user namespace
     * (--disable-userns) maps nobody to root: be dumpable just for the open. No sandboxed code
     * runs yet, and the write itself is checked against the opener's credentials. The
     * supervisor's memory, when we borrow it, is dumpable and stays as it is. A pool's template's
     * memory, which its runs borrow, is not: its runs make it dumpable while any of them opens,
     * the last one to finish makes it not dumpable again, and an open that lost a race with
     * another's reset is tried again. */
    bool self = strncmp(path, "self/", 5) == 0;
    bool own = own_memory && self;
    bool template = !own_memory && shared_base && self; /* shared_base: a template's run, all its life */
    if (own)
        CHECK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    if (template)
        __atomic_add_fetch(&borrowed_dumpable_holders, 1, __ATOMIC_SEQ_CST);
    autoclose int fd = -1;
    for (int attempt = 0;; attempt++) {
        if (template)
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        fd = open_proc_for_write(path);
        if (fd >= 0 || !template || errno != EACCES || attempt == 100)
            break;
        sched_yield();
    }
    int e = errno; /* the open's */
    if (own)
        CHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    if (template && __atomic_sub_fetch(&borrowed_dumpable_holders, 1, __ATOMIC_SEQ_CST) == 0)
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    errno = e;
    CHECK(fd);
    current_step = HUSK_STEP_DATA;
    husk_op copy = *op;
    copy.fd = -1;
    return copy_data(fd, &copy);
}

/* True when /proc/self/setgroups says "deny". */
static bool setgroups_denied(void)
{
    autoclose int fd = hostproc_fd >= 0 ? openat(hostproc_fd, "self/setgroups", O_RDONLY | O_CLOEXEC)
                                        : open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[8];
    ssize_t n = read(fd, buf, sizeof buf);
    return n >= 4 && memcmp(buf, "deny", 4) == 0;
}

static int op_caps(const husk_op *op)
{
    const husk_caps *caps = (const husk_caps *)(uintptr_t)op->p1;
    if (caps->flags & HUSK_CAPS_ONLY_RAISE_AMBIENT) {
        for (int cap = 0; cap < 64; cap++) {
            if (!(caps->ambient & (1ULL << cap)))
                continue;
            /* EPERM: not permitted and inheritable; EINVAL: unknown to this kernel. */
            if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM && errno != EINVAL)
                return -1;
        }
        return 0;
    }
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    /* A switch away from root (the sandbox's ids without a user namespace of its own) cleared the
     * effective set and kept the permitted one: raise it again to drop the bounding set. */
    CHECK(syscall(SYS_capget, &hdr, data));
    for (int i = 0; i < 2; i++)
        data[i].effective = data[i].permitted;
    CHECK(sys_capset(&hdr, data));
    if (caps->flags & HUSK_CAPS_SET_SECUREBITS)
        CHECK(prctl(PR_SET_SECUREBITS, caps->securebits, 0, 0, 0));
    for (int cap = 0; cap < 64; cap++) {
        if (caps->bounding & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno != EINVAL)
                return -1;
            break; /* past the kernel's last capability: the rest are unknown to it too */
        }
    }
    for (int i = 0; i < 2; i++) {
        data[i].effective = (uint32_t)(caps->effective >> (32 * i));
        data[i].permitted = (uint32_t)(caps->permitted >> (32 * i));
        data[i].inheritable = (uint32_t)(caps->inheritable >> (32 * i));
    }
    CHECK(sys_capset(&hdr, data));
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    for (int cap = 0; cap < 64; cap++) {
        if (!(caps->ambient & (1ULL << cap)))
            continue;
        CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
    }
    return 0;
}

static int op_loopback_up(void)
{
    autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(s);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    CHECK(ioctl(s, SIOCGIFFLAGS, &ifr));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return ioctl(s, SIOCSIFFLAGS, &ifr);
}

/* Lock files stay open where they were opened (close-on-exec, so the payload drops them at its
 * exec); husk-init keeps them. Fixed numbers could exceed RLIMIT_NOFILE or clobber the caller's. */

static int op_lock_file(const husk_op *op)
{
    if (held_count >= MAX_HELD_FDS) {
        errno = EMFILE;
        return -1;
    }
    autoclose int fd = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_RDONLY, 0, false);
    CHECK(fd);
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = F_RDLCK;
    l.l_whence = SEEK_SET;
    /* An open-file-description lock survives the fork into husk-init, which keeps the fd. */
    int r;
    do
        r = fcntl(fd, F_OFD_SETLKW, &l);
    while (r < 0 && errno == EINTR);
    CHECK(r);
    held_fds[held_count] = steal_fd(&fd);
    held_by[held_count] = getpid();
    held_count++;
    return 0;
}

/* A channel message: one husk_report, room for one descriptor (SCM_RIGHTS). */
struct fd_message {
    husk_report report;
    struct iovec iov;
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg;
};

static struct msghdr *fd_message_init(struct fd_message *m)
{
    memset(m, 0, sizeof *m);
    m->iov.iov_base = &m->report;
    m->iov.iov_len = sizeof m->report;
    m->msg.msg_iov = &m->iov;
    m->msg.msg_iovlen = 1;
    m->msg.msg_control = m->control;
    m->msg.msg_controllen = sizeof m->control;
    return &m->msg;
}

static int send_fd_of(int fd, int kind, int op)
{
    struct fd_message m;
    struct msghdr *msg = fd_message_init(&m);
    m.report.kind = kind;
    m.report.op = op;
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do
        n = sendmsg(channel_fd, msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

static int send_fd(int fd, int kind)
{
    return send_fd_of(fd, kind, 0);
}

/* Receives the next detached mount the supervisor sent (an idmapped view of a host directory,
 * which only it can make: idmapping a host filesystem needs CAP_SYS_ADMIN where that filesystem
 * was mounted) and attaches it at s2. Without a descriptor, the message's error says why. */
static int op_attach_mount(const husk_op *op, bool *skipped)
{
    struct fd_message m;
    struct msghdr *msg = fd_message_init(&m);
    current_step = HUSK_STEP_SOURCE;
    ssize_t n;
    do
        n = recvmsg(channel_fd, msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) /* the supervisor went away */
        sys_exit(127);
    autoclose int tree = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        memcpy(&tree, CMSG_DATA(c), sizeof tree);
    if (tree < 0) {
        errno = m.report.error > 0 ? m.report.error : EBADF;
        return skip_if_vanished(op, skipped);
    }
    unsigned root = HUSK_S2_ROOT(op->flags);
    const char *dst = (const char *)(uintptr_t)op->s2;
    current_step = HUSK_STEP_PARENTS;
    if (make_parents(root, dst, 0700) < 0)
        return -1;
    current_step = HUSK_STEP_DEST;
    if (ensure_node(root, dst, true, 0700) < 0)
        return -1;
    autoclose int fd = resolve(root, dst, O_PATH | O_DIRECTORY, 0, false);
    if (fd < 0)
        return -1;
    current_step = HUSK_STEP_MOUNT;
    /* The directory may also have been removed after the supervisor cloned it (a container's
     * root that its engine unmounted and deleted while the sandbox started): nothing of it is left
     * to show, and its place stays an empty directory. */
    if (sys_move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return skip_if_vanished(op, skipped);
    return 0;
}

/* ---- the sandbox's network namespace ----
 *
 * RUN: a host tool (ip, nft) configures the namespace with the capabilities this child holds in
 * the sandbox's user namespace, which the payload never gets. It runs in a child of ours that
 * borrows our memory until its exec (as op_fork's children do), with its input from a memfd, its
 * output kept for the error message, and the capabilities of the op's mask made ambient, so that
 * they survive the exec of a tool run by a user other than root. */

struct run_ctx {
    const husk_op *op;
    int in_fd;
    int out_fd;
    int exec_errno;            /* written by the child (shared memory) when its exec fails */
};

static int run_child(void *p)
{
    struct run_ctx *ctx = p;
    const husk_op *op = ctx->op;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (dup2(ctx->in_fd, 0) < 0 || dup2(ctx->out_fd, 1) < 0 || dup2(ctx->out_fd, 2) < 0)
        goto failed;
    sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (op->a != 0) {
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        if (syscall(SYS_capget, &hdr, data) < 0)
            goto failed;
        for (int i = 0; i < 2; i++)
            data[i].inheritable |= (uint32_t)(op->a >> (32 * i));
        if (sys_capset(&hdr, data) < 0)
            goto failed;
        for (int cap = 0; cap < 64; cap++)
            if ((op->a & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
                goto failed;
    }
    {
        char *const empty[] = { NULL };
        char *const *envp = op->p2 ? (char *const *)(uintptr_t)op->p2 : empty;
        execve((const char *)(uintptr_t)op->s1, (char *const *)(uintptr_t)op->p1, envp);
    }
failed:
    ctx->exec_errno = errno;
    sys_exit(127);
}

static int op_run(const husk_op *op)
{
    if (fork_depth >= FORK_DEPTH) {
        errno = E2BIG;
        return -1;
    }
    current_step = HUSK_STEP_DATA;
    autoclose int in = (int)syscall(SYS_memfd_create, "husk-run", MFD_CLOEXEC);
    CHECK(in);
    const char *text = (const char *)(uintptr_t)op->s2;
    size_t len = text ? strlen(text) : 0;
    for (size_t done = 0; done < len;) {
        ssize_t n = write(in, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        CHECK(n);
        done += (size_t)n;
    }
    CHECK(lseek(in, 0, SEEK_SET));
    int pipefd[2];
    CHECK(pipe2(pipefd, O_CLOEXEC));
    autoclose int out_read = pipefd[0];
    autoclose int out_write = pipefd[1];
    struct run_ctx ctx = { op, in, out_write, 0 };
    current_step = HUSK_STEP_SOURCE;
    char *stack_top = fork_stack_base + (size_t)(fork_depth + 2) * CHILD_STACK_SIZE;
    pid_t child = clone(run_child, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &ctx);
    CHECK(child);
    close_fd(&out_write);
    /* Its output explains a failure: the first part of it is kept, the rest read and dropped. */
    char buf[1024];
    size_t kept = 0;
    for (;;) {
        char scratch[256];
        char *to = kept < sizeof buf ? buf + kept : scratch;
        size_t room = kept < sizeof buf ? sizeof buf - kept : sizeof scratch;
        ssize_t n = read(out_read, to, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (to == buf + kept)
            kept += (size_t)n;
    }
    int status = 0;
    pid_t r;
    do
        r = waitpid(child, &status, 0);
    while (r < 0 && errno == EINTR);
    CHECK(r);
    if (ctx.exec_errno != 0) {
        errno = ctx.exec_errno;
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (op->flags & HUSK_F_TRY)
        return 0;
    current_step = HUSK_STEP_DATA;
    while (kept > 0 && (buf[kept - 1] == '\n' || buf[kept - 1] == ' '))
        kept--;
    set_error_detail(buf, kept);
    errno = WIFEXITED(status) ? EPROTO : EINTR;
    return -1;
}

/* NET_SOCKET: one of the supervisor's sockets, made here so that it belongs to the sandbox's
 * network namespace (a socket keeps the namespace it was made in), then handed over. */
static int op_net_socket(const husk_op *op, int index, bool *skipped)
{
    int family = (int)op->a, type = (int)op->b;
    current_step = HUSK_STEP_SOURCE;
    autoclose int s = socket(family, type | SOCK_CLOEXEC, family == AF_NETLINK ? (int)op->c : 0);
    if (s < 0 && (op->flags & HUSK_F_TRY) && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        *skipped = true;
        return 0;
    }
    CHECK(s);
    if (family == AF_NETLINK) {
        /* a - family, b - type, c - the netlink protocol: nothing to listen on, the kernel names it */
        struct sockaddr_nl nl;
        memset(&nl, 0, sizeof nl);
        nl.nl_family = AF_NETLINK;
        current_step = HUSK_STEP_DEST;
        if (bind(s, (struct sockaddr *)&nl, sizeof nl) < 0) {
            if (op->flags & HUSK_F_TRY) {
                *skipped = true;
                return 0;
            }
            return -1;
        }
        current_step = HUSK_STEP_DATA;
        return send_fd_of(s, HUSK_REPORT_SOCKET, index);
    }
    int one = 1;
    CHECK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t salen;
    if (family == AF_INET6) {
        CHECK(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
        struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&ss;
        sa->sin6_family = AF_INET6;
        sa->sin6_port = htons((uint16_t)op->c);
        memcpy(&sa->sin6_addr, (const void *)(uintptr_t)op->p1, 16);
        salen = sizeof *sa;
    } else {
        struct sockaddr_in *sa = (struct sockaddr_in *)&ss;
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)op->c);
        memcpy(&sa->sin_addr, (const void *)(uintptr_t)op->p1, 4);
        salen = sizeof *sa;
    }
    current_step = HUSK_STEP_DEST;
    if (bind(s, (struct sockaddr *)&ss, salen) < 0) {
        if ((op->flags & HUSK_F_TRY) && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
            *skipped = true; /* no IPv6 in this kernel: the sandbox has none either */
            return 0;
        }
        return -1;
    }
    if ((type & 0xf) == SOCK_STREAM)
        CHECK(listen(s, 4096));
    current_step = HUSK_STEP_DATA;
    return send_fd_of(s, HUSK_REPORT_SOCKET, index);
}

/* A pseudo-terminal from the sandbox's own devpts: the slave stays here as fd a, the master
 * goes to the supervisor, which relays it to the caller's terminal. */
static int op_open_pty(const husk_op *op)
{
    current_step = HUSK_STEP_DEST;
    autoclose int master = open((const char *)(uintptr_t)op->s1, O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(master);
    int unlock = 0;
    int slave = -1;
    current_step = HUSK_STEP_MOUNT;
    if (ioctl(master, TIOCSPTLCK, &unlock) == 0 &&
        (op->p1 == 0 || ioctl(master, TIOCSWINSZ, (void *)(uintptr_t)op->p1) == 0))
        slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(slave);
    pty_slave = slave;
    if (op->flags & HUSK_F_CONSOLE) {
        /* /dev/console is the terminal (OCI's process.terminal): the slave bound on it. */
        current_step = HUSK_STEP_DEST;
        const char *console = (const char *)(uintptr_t)op->s2;
        CHECK(ensure_node(HUSK_ROOT_CWD, console, false, 0666));
        current_step = HUSK_STEP_MOUNT;
        autoclose int tree = sys_open_tree(slave, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        CHECK(tree);
        autoclose int dst = resolve(HUSK_ROOT_CWD, console, O_PATH, 0, false);
        CHECK(dst);
        CHECK(sys_move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
    }
    current_step = HUSK_STEP_DATA;
    return send_fd(master, HUSK_REPORT_TERMINAL);
}

/* A device node (OCI's linux.devices). In a user namespace mknod is refused (EPERM): with TRY the
 * host's node of the same name is bound instead, as runc does. An existing node is kept. */
static int op_mknod(const husk_op *op)
{
    unsigned root = HUSK_S2_ROOT(op->flags);
    const char *path = (const char *)(uintptr_t)op->s2;
    current_step = HUSK_STEP_PARENTS;
    CHECK(make_parents(root, path, 0755));
    char tmp[PATH_BUF];
    const char *name;
    autoclose int pfd = open_parent(root, path, tmp, &name);
    CHECK(pfd);
    current_step = HUSK_STEP_MOUNT;
    if (mknodat(pfd, name, (mode_t)op->mode, (dev_t)op->a) < 0) {
        if (errno == EEXIST)
            return 0;
        if (!(errno == EPERM && (op->flags & HUSK_F_TRY)))
            return -1;
        husk_op bind;
        memset(&bind, 0, sizeof bind);
        bind.kind = HUSK_OP_BIND;
        bind.flags = HUSK_ROOT_OLD | (root << 2) | HUSK_F_DEVICES;
        bind.fd = -1;
        bind.s1 = op->s1;
        bind.s2 = op->s2;
        bind.b = 0755;
        bool skipped = false;
        return op_bind(&bind, &skipped);
    }
    if (op->b != (uint64_t)-1 || op->c != (uint64_t)-1) {
        current_step = HUSK_STEP_ATTR;
        CHECK(fchownat(pfd, name, (uid_t)op->b, (gid_t)op->c, AT_SYMLINK_NOFOLLOW));
    }
    return 0;
}

/* Hides a path (OCI's linux.maskedPaths): an empty read-only tmpfs over a directory, /dev/null
 * over anything else; a path that is not there needs no hiding. */
static int op_mask(const husk_op *op)
{
    unsigned root = HUSK_S2_ROOT(op->flags);
    const char *path = (const char *)(uintptr_t)op->s2;
    current_step = HUSK_STEP_DEST;
    autoclose int dst = resolve(root, path, O_PATH, 0, false);
    if (dst < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    struct stat st;
    CHECK(fstat(dst, &st));
    current_step = HUSK_STEP_MOUNT;
    autoclose int tree = -1;
    if (S_ISDIR(st.st_mode)) {
        autoclose int fsfd = sys_fsopen("tmpfs", FSOPEN_CLOEXEC);
        CHECK(fsfd);
        CHECK(sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "tmpfs", 0));
        CHECK(sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "size", "0", 0));
        CHECK(sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
        tree = sys_fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    } else {
        current_step = HUSK_STEP_SOURCE;
        autoclose int null = resolve(HUSK_S1_ROOT(op->flags), (const char *)(uintptr_t)op->s1, O_PATH, 0, false);
        CHECK(null);
        current_step = HUSK_STEP_MOUNT;
        tree = sys_open_tree(null, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    }
    CHECK(tree);
    return sys_move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

static int op_seccomp(const husk_op *op)
{
    struct sock_fprog prog;
    prog.len = (unsigned short)op->c;
    prog.filter = (struct sock_filter *)(uintptr_t)op->p1;
    int r;
    if (op->a == 0) {
        /* Stacked filters: an earlier one need only allow prctl (bubblewrap's documented rule),
         * so try that first; seccomp(2) next, for a filter that allows only it. */
        r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
        if (r < 0) {
            int e = errno;
            r = sys_seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog);
            if (r < 0)
                errno = e;
        }
    } else {
        r = sys_seccomp(SECCOMP_SET_MODE_FILTER, (unsigned)op->a, &prog);
    }
    CHECK(r);
    if ((op->a & SECCOMP_FILTER_FLAG_NEW_LISTENER) && r > 0) {
        /* Sent, not closed: it is close-on-exec, and a close here would be a call the new filter
         * may stop, with nobody yet serving the listener (sendmsg itself is never stopped). */
        CHECK(send_fd(r, HUSK_REPORT_LISTENER));
    }
    return 0;
}

/* What glibc's execvp does when the kernel cannot execute a file (ENOEXEC: a script without "#!"):
 * run it with /bin/sh, as { "/bin/sh", file, argv[1], ... }. The plan leaves a spare slot before
 * argv[0], so that argv is built in place without allocating; argv[0] is put back afterwards, as
 * a later directory of PATH is tried with the original argv. Returns with errno from the shell. */
static void exec_script(const char *file, char *const *argv, char *const *envp)
{
    if (argv[0] == NULL) {
        char *const args[] = { (char *)"/bin/sh", (char *)file, NULL };
        execve(args[0], args, envp);
        return;
    }
    char **args = (char **)argv - 1;
    char *saved = args[1];
    args[0] = (char *)"/bin/sh";
    args[1] = (char *)file;
    execve(args[0], args, envp);
    int e = errno;
    args[1] = saved;
    errno = e;
}

/* execvp without allocation: PATH comes from the payload's environment. With EXEC_INIT, husk-init
 * runs first in its gate mode (argv p1 as the planner built it): it looks the payload up, reports
 * a failure on the channel (dup'ed to b, so it survives the exec), waits on the start FIFO and only
 * then execs the payload; the supervisor that made us need not wait for that. */
static int op_exec(const husk_op *op, const husk_spawn_args *args)
{
    if (op->flags & HUSK_F_EXEC_INIT) {
        char *const *argv = (char *const *)(uintptr_t)op->p1;
        char *const *envp = (char *const *)(uintptr_t)op->p2;
        if (args->init_fd < 0) {
            errno = EBADF;
            return -1;
        }
        if (op->b != 0 && (int)op->b != channel_fd) {
            CHECK(dup3(channel_fd, (int)op->b, 0));
        } else if (op->b != 0) {
            CHECK(fcntl(channel_fd, F_SETFD, 0));
        }
        current_step = HUSK_STEP_INIT;
        syscall(SYS_execveat, args->init_fd, "", argv, envp, AT_EMPTY_PATH);
        int e = errno;
        if (op->b != 0 && (int)op->b != channel_fd)
            close((int)op->b);
        errno = e;
        return -1;
    }
    const char *file = (const char *)(uintptr_t)op->s1;
    char *const *argv = (char *const *)(uintptr_t)op->p1;
    char *const *envp = (char *const *)(uintptr_t)op->p2;
    if ((op->flags & HUSK_F_ENV_PID) && op->c != 0) {
        /* "NAME=" becomes "NAME=<our pid>": only this process knows its pid as the payload sees it. */
        char **slot = (char **)(uintptr_t)op->c;
        size_t n = str_copy(cs->pid_entry, sizeof cs->pid_entry - 24, *slot);
        if (n == (size_t)-1)
            return -1;
        fmt_int(cs->pid_entry + n, 24, (long)getpid());
        *slot = cs->pid_entry;
    }
    bool script = (op->flags & HUSK_F_SCRIPT_SHELL) != 0;
    if (!(op->flags & HUSK_F_SEARCH_PATH) || strchr(file, '/') != NULL) {
        execve(file, argv, envp);
        if (errno == ENOEXEC && script)
            exec_script(file, argv, envp);
        return -1;
    }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char *const *e = envp; e && *e; e++) {
        if (strncmp(*e, "PATH=", 5) == 0) {
            path = *e + 5;
            break;
        }
    }
    bool saw_eacces = false;
    size_t flen = strlen(file);
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        char buf[PATH_BUF];
        size_t dlen = (size_t)(end - p);
        if (dlen + flen + 2 <= sizeof buf) {
            if (dlen == 0) {
                memcpy(buf, file, flen + 1);
            } else {
                memcpy(buf, p, dlen);
                buf[dlen] = '/';
                memcpy(buf + dlen + 1, file, flen + 1);
            }
            execve(buf, argv, envp);
            if (errno == ENOEXEC && script)
                exec_script(buf, argv, envp);
            /* EACCES counts only for a file that exists: a directory of PATH we may not search
             * (root's, seen from a sandbox) must not turn "not found" into "permission denied". */
            struct stat st;
            if (errno == EACCES && stat(buf, &st) == 0)
                saw_eacces = true;
            else if (errno == EACCES)
                errno = ENOENT;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT)
                return -1;
        }
        if (*end == 0)
            break;
        p = end;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    return -1;
}

/* Where the payload of a HUSK_SPAWN_CONTINUE spawn comes back to: set by husk_spawn in the only
 * thread of the process that calls it (husk_continue's copy), taken by the payload, a copy of it. */
static sigjmp_buf continue_point;

/* The plan's end when the payload is the caller itself: the stage's own descriptors go (the
 * channel last: its end of file tells the supervisor the sandbox is set up), and husk_spawn
 * returns 1. The memory is the caller's own, so it is dumpable again, as the caller was. */
static _Noreturn void op_return(const husk_spawn_args *args)
{
    if (!(args->flags & HUSK_SPAWN_CONTINUE)) {
        errno = EINVAL;
        fail(-1, HUSK_STEP_NONE, EINVAL);
    }
    close_fd(&hostproc_fd);
    close_fd(&landlock_fd);
    close_fd(&pty_slave);
    for (int i = 0; i < held_count; i++)
        close(held_fds[i]);
    held_count = 0;
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    close_fd(&channel_fd);
    siglongjmp(continue_point, 1);
}

/* The parent side of a fork: become husk-init, reaping the child. */
static _Noreturn void become_init(const husk_op *op, int index, pid_t child, int init_fd)
{
    current_step = HUSK_STEP_INIT;
    const int32_t *keep = (const int32_t *)(uintptr_t)op->p1;
    char pidbuf[24], fdbuf[24], iobuf[24], stopsbuf[2] = { (op->flags & HUSK_F_REPORT_STOPS) ? '1' : '0', 0 };
    fmt_int(pidbuf, sizeof pidbuf, child);
    int status_fd = (op->flags & HUSK_F_INIT_STATUS) ? op->fd : -1;
    fmt_int(fdbuf, sizeof fdbuf, status_fd);
    /* Our own I/O accounting, which gathers what every process we reap wrote: opened now, read
     * by husk-init itself at the end (the supervisor may not read a non-dumpable process's). */
    int io_fd = -1;
    if (status_fd >= 0)
        io_fd = hostproc_fd >= 0 ? openat(hostproc_fd, "self/io", O_RDONLY) : open("/proc/self/io", O_RDONLY);
    fmt_int(iobuf, sizeof iobuf, io_fd);
    /* Everything the plan did not name closes on exec; the kept fds stay open. */
    sys_close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    for (uint64_t i = 0; i < op->a; i++)
        fcntl(keep[i], F_SETFD, 0);
    for (int i = 0; i < held_count; i++)
        if (held_by[i] == getpid())
            fcntl(held_fds[i], F_SETFD, 0);
    if (status_fd >= 0)
        fcntl(status_fd, F_SETFD, 0);
    if (io_fd >= 0)
        fcntl(io_fd, F_SETFD, 0);
    /* husk-init needs no privilege: with no capabilities and an execute-only image, it
     * starts non-dumpable, so the payload can neither read its memory nor open its file. */
    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
          0, 0, 0);
    for (int cap = 0; cap < 64; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
            break;
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    sys_capset(&hdr, data);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    char *const argv[] = { (char *)"husk-init", pidbuf, fdbuf, iobuf, stopsbuf, NULL };
    char *const envp[] = { NULL };
    syscall(SYS_execveat, init_fd, "", argv, envp, AT_EMPTY_PATH);
    /* The child is ours to stop when we cannot wait for it. */
    kill(child, SIGKILL);
    fail(index, HUSK_STEP_INIT, errno);
}

/* A sigset of the signals a mask names (HUSK_SIGNAL_BIT). */
static void sigset_from_mask(sigset_t *set, uint64_t mask)
{
    sigemptyset(set);
    for (int sig = 1; sig <= 64; sig++)
        if (mask & HUSK_SIGNAL_BIT(sig))
            sigaddset(set, sig);
}

/* A child forked with CLONE_VM runs on a stack of its own: one per fork depth (FORK_DEPTH). */
struct fork_ctx {
    const husk_spawn_args *args;
    const husk_op *op;
    int index;
    sigset_t mask;
};

static _Noreturn void run_ops(const husk_spawn_args *args, uint32_t start);

static int fork_child(void *p)
{
    struct fork_ctx *ctx = p;
    sigprocmask(SIG_SETMASK, &ctx->mask, NULL);
    /* Die with our new parent, which dies with the supervisor (unless the sandbox outlives it). */
    if (!(ctx->args->flags & HUSK_SPAWN_DETACHED))
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if ((ctx->op->flags & HUSK_F_REPORT_PID) && send_own_pid_kind(HUSK_REPORT_PID, ctx->index) < 0)
        fail(ctx->index, HUSK_STEP_NONE, errno);
    /* The locks are husk-init's to hold; the payload does not get them. */
    for (int i = 0; i < held_count; i++)
        close(held_fds[i]);
    run_ops(ctx->args, (uint32_t)ctx->index + 1);
}

/* The child continues with the next ops; the parent becomes husk-init, reaping it. The child
 * shares our memory (CLONE_VM) and we sleep until it execs or exits (CLONE_VFORK), as
 * posix_spawn does: copying this address space, a copy of the supervisor's, would cost more
 * than the whole rest of the setup. */
static int op_fork(const husk_op *op, int index, const husk_spawn_args *args)
{
    if (fork_depth >= FORK_DEPTH) {
        errno = E2BIG;
        return -1;
    }
    /* Signals for husk-init stay blocked across its exec, queued until it reads them. */
    sigset_t block;
    struct fork_ctx ctx;
    ctx.args = args;
    ctx.op = op;
    ctx.index = index;
    sigset_from_mask(&block, HUSK_INIT_SIGNALS);
    sigprocmask(SIG_BLOCK, &block, &ctx.mask);
    fork_depth++;
    char *stack_top = fork_stack_base + (size_t)(fork_depth + 1) * CHILD_STACK_SIZE;
    if (op->flags & HUSK_F_DETACH) {
        /* The child is the supervisor's, as runc's init is: once we are gone it is reparented to
         * the caller's subreaper (conmon, containerd's shim), which waits for it. We sleep until
         * it execs (or fails, having reported why), then leave. */
        pid_t sibling = clone(fork_child, stack_top, CLONE_VM | CLONE_VFORK | CLONE_PARENT, &ctx);
        CHECK(sibling);
        sys_exit(0);
    }
    if (args->flags & HUSK_SPAWN_CONTINUE) {
        /* The payload is the caller, going on with its own memory on its own stack: a copy, made
         * by glibc so that its thread is glibc's own again (tid, robust list; our clone3 was raw). */
        pid_t copy = _Fork();
        CHECK(copy);
        if (copy == 0)
            fork_child(&ctx);
        become_init(op, index, copy, args->init_fd);
    }
    pid_t child = clone(fork_child, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &ctx);
    CHECK(child);
    become_init(op, index, child, args->init_fd);
}

static void reset_signals(void)
{
    for (int sig = 1; sig < 65; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || !(changed_signals & (1ULL << (sig - 1))))
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = (initially_ignored & (1ULL << (sig - 1))) ? SIG_IGN : SIG_DFL;
        sigaction(sig, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Tries each candidate directory; the first that works also becomes PWD in the payload's
 * environment (the env slot in c points into the exec op's envp, which we own). */
static int op_chdir(const husk_op *op, int index)
{
    char *const *candidates = (char *const *)(uintptr_t)op->p1;
    char *const *pwds = (char *const *)(uintptr_t)op->p2;
    char **slot = (char **)(uintptr_t)op->c;
    current_step = HUSK_STEP_DEST;
    if (candidates == NULL)
        return chdir((const char *)(uintptr_t)op->s2);
    int e = ENOENT;
    for (int i = 0; candidates[i] != NULL; i++) {
        if (chdir(candidates[i]) == 0) {
            if (slot != NULL && pwds != NULL)
                *slot = pwds[i];
            /* The front door says so when the caller's directory could not be entered. */
            if (i > 0)
                report(HUSK_REPORT_CHDIR, index, HUSK_STEP_NONE, 0, i);
            return 0;
        }
        e = errno;
    }
    errno = e;
    return -1;
}

/* Sends a message the kernel stamps with our credentials (the supervisor's end has SO_PASSCRED),
 * translating our pid into the supervisor's pid namespace. Passing SCM_CREDENTIALS ourselves
 * would fail while our ids are still unmapped. */
/* The supervisor's end of the seqpacket channel is closed: it died (SIGKILL). */
static bool supervisor_gone(void)
{
    struct pollfd pfd = { .fd = channel_fd, .events = 0 };
    return channel_fd >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
}

static int send_own_pid_kind(int kind, int index)
{
    husk_report r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    r.op = index;
    ssize_t n;
    do
        n = send(channel_fd, &r, sizeof r, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

static int run_op(const husk_op *op, int index, const husk_spawn_args *args, int *option_index)
{
    bool skipped = false;
    current_step = HUSK_STEP_NONE;
    switch (op->kind) {
    case HUSK_OP_NOP:
        return 0;
    case HUSK_OP_WAIT_PARENT: {
        char b;
        ssize_t n;
        do
            n = recv(channel_fd, &b, 1, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0) /* the supervisor went away */
            sys_exit(127);
        /* Ids are mapped now (that needed our /proc files to belong to the caller): from here on,
         * nothing may read a copy of the supervisor's memory. */
        return own_memory ? prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) : 0;
    }
    case HUSK_OP_SETNS:
        return setns(op->fd, (int)op->a);
    case HUSK_OP_UNSHARE:
        return unshare((int)op->a);
    case HUSK_OP_FORK:
        return op_fork(op, index, args);
    case HUSK_OP_ROOT_BEGIN:
        return op_root_begin(op);
    case HUSK_OP_ROOT_FINISH:
        return op_root_finish(op);
    case HUSK_OP_BIND:
        return op_bind(op, &skipped);
    case HUSK_OP_MOUNT:
        return op_mount(op, option_index);
    case HUSK_OP_MKDIR:
        return op_mkdir(op);
    case HUSK_OP_SYMLINK:
        return op_symlink(op);
    case HUSK_OP_WRITE_FILE:
        return op_write_file(op);
    case HUSK_OP_CHMOD:
        return op_chmod(op);
    case HUSK_OP_REMOUNT_RO:
        return op_remount_ro(op);
    case HUSK_OP_CHDIR:
        return op_chdir(op, index);
    case HUSK_OP_SETHOSTNAME: {
        const char *name = (const char *)(uintptr_t)op->s1;
        return (op->flags & HUSK_F_DOMAIN) ? setdomainname(name, strlen(name)) : sethostname(name, strlen(name));
    }
    case HUSK_OP_PERSONALITY:
        return personality((unsigned long)op->a) < 0 ? -1 : 0;
    case HUSK_OP_CHROOT:
        return op_chroot(op);
    case HUSK_OP_MKNOD:
        return op_mknod(op);
    case HUSK_OP_MASK:
        return op_mask(op);
    case HUSK_OP_SYNC: {
        report(HUSK_REPORT_SYNC, index, HUSK_STEP_NONE, 0, 0);
        char b;
        ssize_t n;
        do
            n = recv(channel_fd, &b, 1, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0) /* the supervisor went away, or gave up on us */
            sys_exit(127);
        return 0;
    }
    case HUSK_OP_WRITE_PROC:
        return op_write_proc(op);
    case HUSK_OP_SETID:
        /* Raw calls: glibc's wrappers would signal every thread its (stale, copied) thread list
         * names, and wait forever for them. */
    {
        /* Changing ids makes the memory non-dumpable, and borrowed memory is the supervisor's:
         * put its flag back, or our /proc files (a nested user namespace's setgroups and maps)
         * would belong to the host's root, which ids in a subordinate range cannot write. */
        int dumpable = own_memory ? 0 : prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
        CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
        /* Where setgroups is denied (a joined namespace mapped without helpers) nobody can change
         * the groups, so there is nothing to clear. */
        if ((op->flags & HUSK_F_SETGROUPS) && syscall(SYS_setgroups, (size_t)op->c, (const gid_t *)(uintptr_t)op->p1) < 0 &&
            !(op->c == 0 && errno == EPERM && setgroups_denied()))
            return -1;
        CHECK(syscall(SYS_setresgid, (gid_t)op->b, (gid_t)op->b, (gid_t)op->b));
        CHECK(syscall(SYS_setresuid, (uid_t)op->a, (uid_t)op->a, (uid_t)op->a));
        /* New ids clear the parent-death signal (as root the sandbox's ids are a subordinate
         * range): arm it again, or a husk killed with SIGKILL would leave the sandbox running.
         * A supervisor that died before this has closed its end of the channel. A detached
         * sandbox (husk-runtime) outlives its supervisor: it never had the signal. */
        if (!(args->flags & HUSK_SPAWN_DETACHED))
            CHECK(prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
        if (supervisor_gone())
            sys_exit(127);
        if (dumpable > 0)
            CHECK(prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0));
        return 0;
    }
    case HUSK_OP_CAPS:
        return op_caps(op);
    case HUSK_OP_PRCTL:
        return prctl((int)op->a, (unsigned long)op->b, (unsigned long)op->c, 0, 0);
    case HUSK_OP_RLIMIT: {
        struct rlimit rl = { (rlim_t)op->b, (rlim_t)op->c };
        struct rlimit now;
        if ((op->flags & HUSK_F_CLAMP) && getrlimit((__rlimit_resource_t)op->a, &now) == 0) {
            /* Only root in the initial namespace may raise a hard limit: lower, never fail. */
            if (rl.rlim_max > now.rlim_max)
                rl.rlim_max = now.rlim_max;
            if (rl.rlim_cur > rl.rlim_max)
                rl.rlim_cur = rl.rlim_max;
        }
        return setrlimit((__rlimit_resource_t)op->a, &rl);
    }
    case HUSK_OP_SETSID:
        return setsid() < 0 ? -1 : 0;
    case HUSK_OP_DUP2: {
        int from = (op->flags & HUSK_F_PTY_SLAVE) ? pty_slave : op->fd;
        if (from == (int)op->a)
            return fcntl(from, F_SETFD, 0);
        if ((int)op->a == channel_fd) {
            /* The number asked for is our channel to the supervisor: move the channel away first,
             * or later errors would be written into the payload's descriptor. */
            int moved = fcntl(channel_fd, F_DUPFD_CLOEXEC, 3);
            CHECK(moved);
            channel_fd = moved;
        }
        return dup3(from, (int)op->a, 0);
    }
    case HUSK_OP_CLOEXEC_RANGE:
        if (op->a > op->b)
            return 0;
        return sys_close_range((unsigned)op->a, (unsigned)op->b, CLOSE_RANGE_CLOEXEC);
    case HUSK_OP_WAIT_FD: {
        char b;
        ssize_t n;
        do
            n = read(op->fd, &b, 1);
        while (n < 0 && errno == EINTR);
        close(op->fd);
        return 0;
    }
    case HUSK_OP_LOCK_FILE:
        return op_lock_file(op);
    case HUSK_OP_SECCOMP:
        return op_seccomp(op);
    case HUSK_OP_EXEC:
        return op_exec(op, args);
    case HUSK_OP_RETURN:
        op_return(args);
    case HUSK_OP_LOOPBACK_UP:
        return op_loopback_up();
    case HUSK_OP_SET_CTTY:
        return ioctl(op->fd, TIOCSCTTY, 0);
    case HUSK_OP_OPEN_PTY:
        return op_open_pty(op);
    case HUSK_OP_ATTACH_MOUNT:
        return op_attach_mount(op, &skipped);
    case HUSK_OP_RUN:
        return op_run(op);
    case HUSK_OP_NET_SOCKET:
        return op_net_socket(op, index, &skipped);
    case HUSK_OP_CLOSE:
        close(op->fd);
        return 0;
    case HUSK_OP_UMASK:
        umask(op->mode);
        return 0;
    case HUSK_OP_EXPECT_NO_USERNS:
        if (unshare(CLONE_NEWUSER) == 0) {
            errno = EEXIST;
            return -1;
        }
        return 0;
    case HUSK_OP_SIGNAL_MASK: {
        sigset_t set;
        sigset_from_mask(&set, op->a);
        CHECK(sigprocmask(SIG_SETMASK, &set, NULL));
        for (int sig = 1; sig <= 64; sig++) {
            if (!(op->b & (1ULL << (sig - 1))))
                continue;
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_IGN;
            CHECK(sigaction(sig, &sa, NULL));
        }
        return 0;
    }
    case HUSK_OP_LANDLOCK_CREATE:
        landlock_fd = (int)syscall(SYS_landlock_create_ruleset, (void *)(uintptr_t)op->p1, (size_t)op->c, 0);
        return landlock_fd < 0 ? -1 : 0;
    case HUSK_OP_LANDLOCK_RULE: {
        if (op->b == 1) { /* LANDLOCK_RULE_PATH_BENEATH */
            struct {
                uint64_t allowed;
                int32_t parent_fd;
            } __attribute__((packed)) rule;
            current_step = HUSK_STEP_DEST;
            autoclose int fd = resolve(HUSK_S2_ROOT(op->flags), (const char *)(uintptr_t)op->s2, O_PATH, 0, false);
            /* An optional rule on a path this process cannot reach (missing, or behind a directory
             * it may not search) would grant nothing the payload, with the same ids, could use. */
            if (fd < 0)
                return (op->flags & HUSK_F_TRY) && (errno == ENOENT || errno == EACCES) ? 0 : -1;
            /* The kernel takes only file rights on a file (EINVAL otherwise): a bind of a file
             * inherits what its mount point would grant a directory. */
            struct stat st;
            rule.allowed = op->a;
            if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
                rule.allowed &= LANDLOCK_FILE_RIGHTS;
            rule.parent_fd = fd;
            return (int)syscall(SYS_landlock_add_rule, landlock_fd, 1, &rule, 0);
        }
        struct {
            uint64_t allowed;
            uint64_t port;
        } net = { op->a, op->c };
        return (int)syscall(SYS_landlock_add_rule, landlock_fd, (int)op->b, &net, 0);
    }
    case HUSK_OP_LANDLOCK_RESTRICT: {
        int r = (int)syscall(SYS_landlock_restrict_self, landlock_fd, (unsigned)op->a);
        close_fd(&landlock_fd);
        return r;
    }
    default:
        errno = ENOSYS;
        return -1;
    }
}

/* Says hello with our pid (SCM_CREDENTIALS: the kernel translates it into the supervisor's pid
 * namespace), so the supervisor can map our ids while its spawning thread waits for our exec. */
static int send_hello(void)
{
    return send_own_pid_kind(HUSK_REPORT_HELLO, -1);
}

/* The descriptors a caller asked to be moved: each first above the target range (a source may sit
 * on another's target), then into place. Our own table: the caller's is not touched. */
static void move_fds(const husk_spawn_args *args)
{
    const int32_t *from = (const int32_t *)(uintptr_t)args->fd_moves;
    uint32_t n = args->fd_move_count;
    if (from == NULL || n == 0)
        return;
    int high[64];
    if (n > sizeof high / sizeof high[0])
        sys_exit(127);
    for (uint32_t i = 0; i < n; i++) {
        high[i] = fcntl(from[i], F_DUPFD_CLOEXEC, args->fd_move_base + (int)n);
        if (high[i] < 0)
            sys_exit(127);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (dup3(high[i], args->fd_move_base + (int)i, O_CLOEXEC) < 0)
            sys_exit(127);
        close(high[i]);
    }
}

static _Noreturn void child_main(const husk_spawn_args *args, char *stacks, pid_t supervisor, bool copied)
{
    move_fds(args);
    reset_child_state();
    own_memory = copied;
    channel_fd = args->channel;
    /* Our copy of the supervisor's end would keep our own end from ever seeing EOF. */
    close(args->channel_peer);
    fork_stack_base = stacks;
    const husk_op *ops = (const husk_op *)(uintptr_t)args->ops;
    /* A copy of the supervisor's memory must not be readable: it turns non-dumpable (once its
     * ids are mapped: until then the supervisor needs its /proc files, see WAIT_PARENT). Borrowed
     * memory (CLONE_VM) is the supervisor's own, not a copy, and dumpability belongs to the
     * memory: setting it here would change the supervisor. No sandboxed code runs before exec. */
    uint32_t first = 0;
    while (first < args->op_count && ops[first].kind == HUSK_OP_CLOSE)
        first++; /* the supervisor's own descriptors go first (SandboxSpec.SupervisorFds) */
    if (own_memory && (first == args->op_count || ops[first].kind != HUSK_OP_WAIT_PARENT))
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (!(args->flags & HUSK_SPAWN_DETACHED))
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (!(args->clone_flags & CLONE_NEWPID) && getppid() != supervisor)
        sys_exit(127);
    reset_signals();
    umask(0);
    if (send_hello() < 0)
        sys_exit(127);
    if (args->flags & HUSK_SPAWN_BUILDING) {
        /* A pool's template began the build: /newroot and /oldroot are there, /proc is not. */
        building = true;
        shared_base = true;
        hostproc_fd = open("/oldroot/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (hostproc_fd < 0)
            fail(0, HUSK_STEP_NAMESPACE, errno);
    }
    run_ops(args, 0);
}

static _Noreturn void run_ops(const husk_spawn_args *args, uint32_t start)
{
    const husk_op *ops = (const husk_op *)(uintptr_t)args->ops;
    for (uint32_t i = start; i < args->op_count; i++) {
        const husk_op *op = &ops[i];
        bool mounts = op->kind == HUSK_OP_ROOT_BEGIN || op->kind == HUSK_OP_BIND || op->kind == HUSK_OP_MOUNT ||
                      op->kind == HUSK_OP_REMOUNT_RO || op->kind == HUSK_OP_ATTACH_MOUNT || op->kind == HUSK_OP_MKNOD ||
                      op->kind == HUSK_OP_MASK;
        if (mounts && !checked_mntns) {
            /* A mount plan must never run in the supervisor's mount namespace. */
            struct stat st;
            int r = hostproc_fd >= 0 ? fstatat(hostproc_fd, "self/ns/mnt", &st, 0) : stat("/proc/self/ns/mnt", &st);
            if (r < 0)
                fail((int)i, HUSK_STEP_NAMESPACE, errno);
            if (!(args->flags & HUSK_SPAWN_MOUNTS) || (uint64_t)st.st_ino == args->host_mntns)
                fail((int)i, HUSK_STEP_NAMESPACE, EPERM);
            checked_mntns = true;
        }
        /* Only plain path ops may share the roots' descriptors (an attach drops them itself). */
        bool path_op = op->kind == HUSK_OP_BIND || op->kind == HUSK_OP_MOUNT || op->kind == HUSK_OP_MKDIR ||
                       op->kind == HUSK_OP_SYMLINK || op->kind == HUSK_OP_WRITE_FILE || op->kind == HUSK_OP_CHMOD ||
                       op->kind == HUSK_OP_MKNOD || op->kind == HUSK_OP_MASK || op->kind == HUSK_OP_REMOUNT_RO;
        if (!path_op)
            drop_roots();
        int option_index = 0;
        if (run_op(op, (int)i, args, &option_index) < 0) {
            int e = errno;
            report_detail((int)i);
            report(HUSK_REPORT_ERROR, (int)i, current_step, e, option_index);
            sys_exit(127);
        }
    }
    /* A plan always ends in exec; reaching here is a planning error. */
    fail((int)args->op_count, HUSK_STEP_NONE, ENOEXEC);
}

/* clone3 with a new stack, calling fn(arg) in the child (glibc exports no clone3 wrapper). The
 * child starts on the stack clone_args names; registers other than rax/x0 survive the call. */
long husk_clone3_call(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
#if defined(__x86_64__)
__asm__(".text\n"
        ".type husk_clone3_call, @function\n"
        "husk_clone3_call:\n"
        "  mov %rdx, %r8\n"          /* fn */
        "  mov %rcx, %r9\n"          /* arg */
        "  mov $435, %eax\n"         /* __NR_clone3 */
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"
        "  mov %r9, %rdi\n"
        "  call *%r8\n"
        "  mov %eax, %edi\n"
        "  mov $231, %eax\n"         /* __NR_exit_group */
        "  syscall\n"
        "  hlt\n"
        "1: ret\n"
        ".size husk_clone3_call, .-husk_clone3_call\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".type husk_clone3_call, %function\n"
        "husk_clone3_call:\n"
        "  mov x10, x2\n"
        "  mov x11, x3\n"
        "  mov x8, #435\n"
        "  svc #0\n"
        "  cbnz x0, 1f\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, x11\n"
        "  blr x10\n"
        "  mov x8, #94\n"            /* __NR_exit_group */
        "  svc #0\n"
        "  brk #0\n"
        "1: ret\n"
        ".size husk_clone3_call, .-husk_clone3_call\n");
#else
#error "husk_spawn supports x86_64 and aarch64"
#endif

struct spawn_ctx {
    const husk_spawn_args *args;
    char *stacks;
    pid_t supervisor;
};

static int spawn_child(void *p)
{
    struct spawn_ctx *ctx = p;
    child_main(ctx->args, ctx->stacks, ctx->supervisor, false);
}


HUSK_EXPORT int32_t husk_spawn(const husk_spawn_args *args, husk_spawn_result *result)
{
    memset(result, 0, sizeof *result);
    result->pid = -1;
    result->pidfd = -1;
    /* One region per spawn: the child's state, then a stack per fork depth. */
    size_t state_size = (sizeof(struct child_state) + 4095) & ~(size_t)4095;
    size_t region = state_size + (size_t)(FORK_DEPTH + 1) * CHILD_STACK_SIZE;
    char *base = mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        result->error = errno;
        return -1;
    }
    cs = (struct child_state *)base; /* this thread's TLS is the child's until it execs */
    char *stacks = base + state_size;
    bool continuing = (args->flags & HUSK_SPAWN_CONTINUE) != 0;
    /* A continuing spawn's child is its parent's (CLONE_PARENT): the supervisor is that process. */
    struct spawn_ctx ctx = { args, stacks, continuing ? getppid() : getpid() };
    /* The runtime's signal handlers must never run in the child: block everything across the
     * clone; the child resets dispositions before unblocking. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);

    int pidfd = -1;
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = args->clone_flags | CLONE_PIDFD;
    ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
    ca.exit_signal = 0; /* waited through the pidfd only, never by a SIGCHLD reaper */
    if (args->cgroup_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = (uint64_t)args->cgroup_fd;
    }
    if (continuing)
        ca.flags |= CLONE_PARENT;
    long pid;
    if (!(args->clone_flags & CLONE_NEWTIME) && !(args->flags & HUSK_SPAWN_CONTINUE)) {
        /* posix_spawn's way: the child borrows our memory and we sleep until it execs, instead of
         * copying an address space the size of a .NET process. (A new time namespace cannot share
         * memory with its parent, so it takes the copying path; a pool's template clones each run
         * from a thread of its own, so only that thread waits.) */
        ca.flags |= CLONE_VM | CLONE_VFORK;
        ca.stack = (uint64_t)(uintptr_t)stacks;
        ca.stack_size = CHILD_STACK_SIZE;
        pid = husk_clone3_call(&ca, sizeof ca, spawn_child, &ctx);
        if (pid < 0) {
            errno = (int)-pid;
            pid = -1;
        }
    } else {
        if (continuing && sigsetjmp(continue_point, 0) != 0) {
            /* The payload, back from its RETURN op: the caller's code goes on in the sandbox. */
            cs = NULL;
            munmap(base, region);
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return 1;
        }
        pid = sys_clone3(&ca);
        if (pid == 0)
            child_main(args, stacks, ctx.supervisor, true);
    }
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    cs = NULL;
    munmap(base, region);
    if (pid < 0) {
        result->error = e;
        return -1;
    }
    result->pid = (int32_t)pid;
    result->pidfd = pidfd;
    return 0;
}

/* The payload of a continuing launch is the calling process itself (libmini-sandbox's
 * mini_sandbox_start): its code goes on in the sandbox once this returns 1. The caller may be
 * threaded (the runtime's threads at least), so it is first copied by glibc's fork, which leaves
 * the copy's locks consistent; the copy, single-threaded, spawns the sandbox's first process as
 * the caller's child (CLONE_PARENT: the calling thread is its parent and supervises it), sends
 * the caller the spawn's result (husk_spawn_result, the pidfd with SCM_RIGHTS) on result_fd and
 * leaves. The plan's fork makes the payload from that process's copy. Returns 1 in the payload,
 * 0 in the caller once its copy is gone, -1 with errno when the copy could not be made. */
/* Sends len bytes of data on a socket with passed_fd (SCM_RIGHTS) unless it is -1: the answer
 * of a process that cloned a sandbox's child for a supervisor (husk_continue, husk-pool). */
void husk_send_with_fd(int sock, const void *data, size_t len, int passed_fd)
{
    struct iovec iov = { (void *)data, len };
    char control[CMSG_SPACE(sizeof(int))];
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (passed_fd >= 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &passed_fd, sizeof passed_fd);
    }
    while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

HUSK_EXPORT int32_t husk_continue(const husk_spawn_args *args, int32_t result_fd)
{
    pid_t copy = fork();
    if (copy < 0)
        return -1;
    if (copy == 0) {
        husk_spawn_result r;
        if (husk_spawn(args, &r) == 1)
            return 1;
        husk_send_with_fd(result_fd, &r, sizeof r, r.pidfd);
        _exit(0);
    }
    int status;
    while (waitpid(copy, &status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* The address of husk_continue, for a library that cannot link to it (libmini-sandbox reaches it
 * through libhusk.so, which exports only the C ABI of husk.h). */
HUSK_EXPORT void *husk_continue_entry(void)
{
    return (void *)husk_continue;
}

/* A sealed, execute-only memfd holding an embedded program (husk-init, a pool's husk-pool). */
int32_t husk_sealed_memfd(const char *name, const unsigned char *start, size_t len)
{
    autoclose int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -errno;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, start + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        off += (size_t)w;
    }
    if (fchmod(fd, 0111) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        return -errno;
    fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC); /* kernels before 6.3 lack it */
    fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL);
    return steal_fd(&fd);
}

/* husk-init's, created once per supervisor (and once per pool template). */
HUSK_EXPORT int32_t husk_init_memfd(void)
{
    return husk_sealed_memfd("husk-init", husk_init_start, (size_t)(husk_init_end - husk_init_start));
}

HUSK_EXPORT int32_t husk_abi_version(void)
{
    return 1;
}

/* Sizes and offsets for AbiTests: C's view of each shared struct. */
HUSK_EXPORT int32_t husk_abi_layout(int32_t which, int32_t field)
{
#define OFF(t, f) ((int32_t)offsetof(t, f))
    switch (which) {
    case 0: { /* husk_op */
        const int32_t v[] = { (int32_t)sizeof(husk_op), OFF(husk_op, kind), OFF(husk_op, flags), OFF(husk_op, fd),
                              OFF(husk_op, mode), OFF(husk_op, a), OFF(husk_op, b), OFF(husk_op, c),
                              OFF(husk_op, s1), OFF(husk_op, s2), OFF(husk_op, p1), OFF(husk_op, p2) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 1: {
        const int32_t v[] = { (int32_t)sizeof(husk_spawn_args), OFF(husk_spawn_args, clone_flags),
                              OFF(husk_spawn_args, ops), OFF(husk_spawn_args, op_count),
                              OFF(husk_spawn_args, cgroup_fd), OFF(husk_spawn_args, init_fd),
                              OFF(husk_spawn_args, flags), OFF(husk_spawn_args, host_mntns),
                              OFF(husk_spawn_args, channel), OFF(husk_spawn_args, channel_peer),
                              OFF(husk_spawn_args, fd_moves), OFF(husk_spawn_args, fd_move_count),
                              OFF(husk_spawn_args, fd_move_base) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 2: {
        const int32_t v[] = { (int32_t)sizeof(husk_spawn_result), OFF(husk_spawn_result, pid),
                              OFF(husk_spawn_result, pidfd), OFF(husk_spawn_result, error),
                              OFF(husk_spawn_result, reserved) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 3: {
        const int32_t v[] = { (int32_t)sizeof(husk_report), OFF(husk_report, kind), OFF(husk_report, op),
                              OFF(husk_report, step), OFF(husk_report, error), OFF(husk_report, value) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 4: {
        const int32_t v[] = { (int32_t)sizeof(husk_init_status), OFF(husk_init_status, magic),
                              OFF(husk_init_status, wait_status), OFF(husk_init_status, user_usec),
                              OFF(husk_init_status, system_usec), OFF(husk_init_status, max_rss_kib),
                              OFF(husk_init_status, written_bytes) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 5: {
        const int32_t v[] = { (int32_t)sizeof(husk_caps), OFF(husk_caps, bounding), OFF(husk_caps, effective),
                              OFF(husk_caps, permitted), OFF(husk_caps, inheritable), OFF(husk_caps, ambient),
                              OFF(husk_caps, securebits), OFF(husk_caps, flags) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 6: {
        const int32_t v[] = { (int32_t)sizeof(husk_plan_image), OFF(husk_plan_image, magic), OFF(husk_plan_image, op_count),
                              OFF(husk_plan_image, ops), OFF(husk_plan_image, relocs), OFF(husk_plan_image, reloc_count),
                              OFF(husk_plan_image, size) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 7: {
        const int32_t v[] = { (int32_t)sizeof(husk_pool_request), OFF(husk_pool_request, magic), OFF(husk_pool_request, fd_count),
                              OFF(husk_pool_request, clone_flags), OFF(husk_pool_request, host_mntns), OFF(husk_pool_request, channel),
                              OFF(husk_pool_request, status), OFF(husk_pool_request, cgroup), OFF(husk_pool_request, flags),
                              OFF(husk_pool_request, id) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    case 8: {
        const int32_t v[] = { (int32_t)sizeof(husk_pool_reply), OFF(husk_pool_reply, magic), OFF(husk_pool_reply, kind),
                              OFF(husk_pool_reply, error), OFF(husk_pool_reply, pid), OFF(husk_pool_reply, id) };
        return field < (int32_t)(sizeof v / sizeof v[0]) ? v[field] : -1;
    }
    default:
        return -1;
    }
#undef OFF
}
