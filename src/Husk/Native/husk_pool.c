/* husk_pool.c: a pool's template (husk-pool).
 *
 * A static program the native stage execs from a sealed, execute-only memfd at the end of a
 * template plan: inside the sandbox's user namespace, with its mount tree half built (the host's
 * root still at /oldroot, the root's read-only parts in place). Its image is its own, so it holds
 * nothing of the supervisor, and as it cannot read that image it is non-dumpable from its first
 * instruction. It is pid 1 of a pid namespace of its own: when it ends, every run ends with it.
 *
 * usage: husk-pool CONTROL_FD
 * Each message on the control socket asks for one run: a husk_pool_request, the run's plan (a
 * husk_plan_image) and its descriptors (SCM_RIGHTS), which land at HUSK_POOL_FD_BASE + index,
 * where the plan names them. The template relocates the plan and calls husk_spawn with a copying
 * clone (its address space is small, and it must not wait for one run while others ask), and
 * answers with the run's pidfd. The run finishes the tree in namespaces of its own and starts
 * the payload exactly as a cold launch does (the same ops, the same stage). The template reaps
 * each run and writes its status to the run's status pipe, after husk-init's own when that came
 * first: a run killed before husk-init could report still has an end. End of file on the control
 * socket ends the template. No policy here: the supervisor planned every op. */
#define _GNU_SOURCE
#include "husk_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int32_t husk_spawn(const husk_spawn_args *args, husk_spawn_result *result);
int32_t husk_init_memfd(void);
void husk_send_with_fd(int sock, const void *data, size_t len, int passed_fd);
void husk_signals_changed_only(uint64_t mask);

/* A run the template has not reaped yet. */
struct run {
    int pidfd;
    int status_fd;
};

static struct run *runs;
static size_t run_count, run_capacity;

/* The largest message: a request and a plan image (the socket's buffer bounds it anyway). */
#define MAX_MESSAGE (4u << 20)

static void reply(int fd, int kind, int error, int pid, int passed_fd)
{
    husk_pool_reply r = { HUSK_POOL_MAGIC, kind, error, pid };
    husk_send_with_fd(fd, &r, sizeof r, passed_fd);
}

/* Turns the image's offsets into pointers; false when it is not a well-formed image of size n. */
static int relocate(husk_plan_image *img, size_t n)
{
    if (n < sizeof *img || img->magic != HUSK_PLAN_MAGIC || img->size != n || (img->ops & 7) || (img->relocs & 7) ||
        img->ops > n || (uint64_t)img->op_count * sizeof(husk_op) > n - img->ops || img->relocs > n ||
        (uint64_t)img->reloc_count * 8 > n - img->relocs)
        return 0;
    char *base = (char *)img;
    const uint64_t *relocs = (const uint64_t *)(base + img->relocs);
    for (uint32_t i = 0; i < img->reloc_count; i++) {
        uint64_t at = relocs[i];
        if ((at & 7) || at > n - 8)
            return 0;
        uint64_t *slot = (uint64_t *)(base + at);
        if (*slot >= n)
            return 0;
        *slot += (uint64_t)(uintptr_t)base;
    }
    return 1;
}

static void remember(int pidfd, int status_fd)
{
    if (run_count == run_capacity) {
        size_t capacity = run_capacity ? run_capacity * 2 : 64;
        struct run *more = realloc(runs, capacity * sizeof *runs);
        if (more == NULL) {
            /* Cannot track it: its status still comes from husk-init, and pid 1 reaps it. */
            close(pidfd);
            close(status_fd);
            return;
        }
        runs = more;
        run_capacity = capacity;
    }
    runs[run_count].pidfd = pidfd;
    runs[run_count].status_fd = status_fd;
    run_count++;
}

/* One request: descriptors into place, plan relocated, clone, answer. */
static void serve(int control, char *buffer, size_t n, const int *fds, int fd_count, int init_fd)
{
    husk_pool_request req;
    int placed = 0;
    husk_spawn_result res;
    memset(&res, 0, sizeof res);
    res.pidfd = -1;
    int error = 0;
    if (n < sizeof req) {
        error = EINVAL;
        goto done;
    }
    memcpy(&req, buffer, sizeof req);
    if (req.magic != HUSK_POOL_MAGIC || (int)req.fd_count != fd_count || req.channel < 0 || req.channel >= fd_count ||
        req.status < 0 || req.status >= fd_count || req.cgroup >= fd_count) {
        error = EINVAL;
        goto done;
    }
    /* The image follows the header, 8-aligned in the buffer as sent. */
    husk_plan_image *img = (husk_plan_image *)(buffer + sizeof req);
    if (!relocate(img, n - sizeof req)) {
        error = EINVAL;
        goto done;
    }
    for (; placed < fd_count; placed++) {
        if (dup3(fds[placed], HUSK_POOL_FD_BASE + placed, O_CLOEXEC) < 0) {
            error = errno;
            goto done;
        }
    }
    husk_spawn_args args;
    memset(&args, 0, sizeof args);
    args.clone_flags = req.clone_flags;
    args.ops = (uint64_t)(uintptr_t)((char *)img + img->ops);
    args.op_count = img->op_count;
    args.cgroup_fd = req.cgroup >= 0 ? HUSK_POOL_FD_BASE + req.cgroup : -1;
    args.init_fd = init_fd;
    args.flags = HUSK_SPAWN_MOUNTS | HUSK_SPAWN_COPY | HUSK_SPAWN_BUILDING;
    args.host_mntns = req.host_mntns;
    args.channel = HUSK_POOL_FD_BASE + req.channel;
    args.channel_peer = -1;
    if (husk_spawn(&args, &res) < 0)
        error = res.error;
done:
    reply(control, HUSK_POOL_SPAWNED, error, error ? -1 : res.pid, error ? -1 : res.pidfd);
    if (!error) {
        /* The run's status pipe stays open here until the run is reaped. */
        int status = fcntl(HUSK_POOL_FD_BASE + req.status, F_DUPFD_CLOEXEC, 3);
        remember(res.pidfd, status);
    }
    for (int i = 0; i < placed; i++)
        close(HUSK_POOL_FD_BASE + i);
    for (int i = 0; i < fd_count; i++)
        close(fds[i]);
}

/* A run ended: write its status (after husk-init's, if it wrote one), forget it. */
static void reap(size_t i)
{
    siginfo_t si;
    struct rusage ru;
    memset(&si, 0, sizeof si);
    memset(&ru, 0, sizeof ru);
    long r;
    do
        r = syscall(SYS_waitid, P_PIDFD, runs[i].pidfd, &si, WEXITED, &ru);
    while (r < 0 && errno == EINTR);
    if (r == 0 && runs[i].status_fd >= 0) {
        husk_init_status st;
        memset(&st, 0, sizeof st);
        st.magic = HUSK_INIT_MAGIC;
        if (si.si_code == CLD_EXITED)
            st.wait_status = (si.si_status & 0xff) << 8;
        else
            st.wait_status = (si.si_status & 0x7f) | (si.si_code == CLD_DUMPED ? 0x80 : 0);
        st.user_usec = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
        st.system_usec = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
        st.max_rss_kib = ru.ru_maxrss;
        st.written_bytes = -1;
        while (write(runs[i].status_fd, &st, sizeof st) < 0 && errno == EINTR)
            ;
    }
    close(runs[i].pidfd);
    if (runs[i].status_fd >= 0)
        close(runs[i].status_fd);
    runs[i] = runs[--run_count];
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 127;
    int control = atoi(argv[1]);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* The ambient set carried our capabilities through exec; nothing we start may inherit them
     * that way (a run also loses them when it enters its own user namespace). */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    /* A run whose supervisor stopped reading must not take the template down with SIGPIPE
     * (the runs get the default back: the stage resets what was not ignored at our start). */
    signal(SIGPIPE, SIG_IGN);
    /* Nothing else here changes a disposition: a run puts back SIGPIPE alone, not all 62. */
    husk_signals_changed_only(1ULL << (SIGPIPE - 1));
    /* The runs' descriptors land at HUSK_POOL_FD_BASE and above. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < HUSK_POOL_FD_BASE + HUSK_POOL_MAX_FDS + 64) {
        rl.rlim_cur = rl.rlim_max < HUSK_POOL_FD_BASE + HUSK_POOL_MAX_FDS + 64 ? rl.rlim_max : HUSK_POOL_FD_BASE + HUSK_POOL_MAX_FDS + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int init_fd = husk_init_memfd();
    if (init_fd < 0) {
        reply(control, HUSK_POOL_READY, -init_fd, getpid(), -1);
        return 1;
    }
    char *buffer = malloc(MAX_MESSAGE);
    struct pollfd *fds = NULL;
    size_t fds_capacity = 0;
    if (buffer == NULL) {
        reply(control, HUSK_POOL_READY, ENOMEM, getpid(), -1);
        return 1;
    }
    reply(control, HUSK_POOL_READY, 0, getpid(), -1);
    for (;;) {
        if (fds_capacity < run_count + 1) {
            fds_capacity = (run_count + 1) * 2;
            struct pollfd *more = realloc(fds, fds_capacity * sizeof *fds);
            if (more == NULL)
                return 1;
            fds = more;
        }
        fds[0].fd = control;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        for (size_t i = 0; i < run_count; i++) {
            fds[i + 1].fd = runs[i].pidfd;
            fds[i + 1].events = POLLIN;
            fds[i + 1].revents = 0;
        }
        size_t watched = run_count;
        if (poll(fds, watched + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        /* Reap from the end, so the swap in reap() never moves a run not yet looked at. */
        for (size_t i = watched; i > 0; i--) {
            if (fds[i].revents)
                reap(i - 1);
        }
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char control_buf[CMSG_SPACE(sizeof(int) * HUSK_POOL_MAX_FDS)];
        struct iovec iov = { buffer, MAX_MESSAGE };
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control_buf;
        msg.msg_controllen = sizeof control_buf;
        ssize_t n = recvmsg(control, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0; /* the supervisor is gone: so are the runs, with us */
        int passed[HUSK_POOL_MAX_FDS];
        int passed_count = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int k = 0; k < count && passed_count < HUSK_POOL_MAX_FDS; k++)
                memcpy(&passed[passed_count++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
        }
        if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
            for (int k = 0; k < passed_count; k++)
                close(passed[k]);
            reply(control, HUSK_POOL_SPAWNED, E2BIG, -1, -1);
            continue;
        }
        serve(control, buffer, (size_t)n, passed, passed_count, init_fd);
    }
}
