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
 * husk_plan_image) and its descriptors (SCM_RIGHTS). The main thread reads it, copies it and hands
 * it to a worker thread, which relocates the plan and calls husk_spawn as the supervisor's spawn
 * threads do: the run borrows the template's memory (CLONE_VM | CLONE_VFORK) instead of copying
 * it, moves its descriptors to HUSK_POOL_FD_BASE + index in its own table (where the plan names
 * them), finishes the tree in namespaces of its own and starts the payload exactly as a cold
 * launch does (the same ops, the same stage). The worker sleeps until the run execs, then answers
 * with the run's pidfd and the request's id: answers come in the order runs exec, not the order
 * asked. Workers are kept, never ended: a run's parent-death signal follows the thread that cloned
 * it. The main thread reaps each run and writes its status to the run's status pipe, after
 * husk-init's own when that came first: a run killed before husk-init could report still has an
 * end. End of file on the control socket ends the template. No policy here: the supervisor planned
 * every op. */
#define _GNU_SOURCE
#include "husk_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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

/* The runs not reaped yet: workers add, the main thread reaps; under runs_lock. */
static struct run *runs;
static size_t run_count, run_capacity;
static pthread_mutex_t runs_lock = PTHREAD_MUTEX_INITIALIZER;
static int runs_added = -1; /* an eventfd: wakes the main thread's poll when a run was added */

/* The largest message: a request and a plan image (the socket's buffer bounds it anyway). */
#define MAX_MESSAGE (4u << 20)

static int control = -1;
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;

static void reply(int kind, int error, int pid, int passed_fd, uint64_t id)
{
    husk_pool_reply r;
    memset(&r, 0, sizeof r);
    r.magic = HUSK_POOL_MAGIC;
    r.kind = kind;
    r.error = error;
    r.pid = pid;
    r.id = id;
    pthread_mutex_lock(&send_lock);
    husk_send_with_fd(control, &r, sizeof r, passed_fd);
    pthread_mutex_unlock(&send_lock);
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
    pthread_mutex_lock(&runs_lock);
    if (run_count == run_capacity) {
        size_t capacity = run_capacity ? run_capacity * 2 : 64;
        struct run *more = realloc(runs, capacity * sizeof *runs);
        if (more == NULL) {
            /* Cannot track it: its status still comes from husk-init, and pid 1 reaps it. */
            close(pidfd);
            close(status_fd);
            pthread_mutex_unlock(&runs_lock);
            return;
        }
        runs = more;
        run_capacity = capacity;
    }
    runs[run_count].pidfd = pidfd;
    runs[run_count].status_fd = status_fd;
    run_count++;
    pthread_mutex_unlock(&runs_lock);
    uint64_t one = 1;
    while (write(runs_added, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

/* One request as read: its message (a copy of its own: the run reads its plan from it until it
 * execs) and its descriptors, at the numbers recvmsg gave them. */
struct request {
    char *message;
    size_t size;
    int fds[HUSK_POOL_MAX_FDS];
    int fd_count;
    struct request *next;
};

static int init_fd = -1;

/* Serves one request: plan relocated, clone (the run moves its descriptors into place), answer. */
static void serve(struct request *rq)
{
    husk_pool_request req;
    memset(&req, 0, sizeof req);
    husk_spawn_result res;
    memset(&res, 0, sizeof res);
    res.pidfd = -1;
    int error = 0;
    if (rq->size < sizeof req) {
        error = EINVAL;
        goto done;
    }
    memcpy(&req, rq->message, sizeof req);
    if (req.magic != HUSK_POOL_MAGIC || (int)req.fd_count != rq->fd_count || req.channel < 0 || req.channel >= rq->fd_count ||
        req.status < 0 || req.status >= rq->fd_count || req.cgroup >= rq->fd_count) {
        error = EINVAL;
        goto done;
    }
    /* The image follows the header, 8-aligned in the message as sent (malloc aligns to 16). */
    husk_plan_image *img = (husk_plan_image *)(rq->message + sizeof req);
    if (!relocate(img, rq->size - sizeof req)) {
        error = EINVAL;
        goto done;
    }
    husk_spawn_args args;
    memset(&args, 0, sizeof args);
    args.clone_flags = req.clone_flags;
    args.ops = (uint64_t)(uintptr_t)((char *)img + img->ops);
    args.op_count = img->op_count;
    /* CLONE_INTO_CGROUP reads our descriptor at the clone, before the run moves its own. */
    args.cgroup_fd = req.cgroup >= 0 ? rq->fds[req.cgroup] : -1;
    args.init_fd = init_fd;
    args.flags = HUSK_SPAWN_MOUNTS | HUSK_SPAWN_BUILDING;
    args.host_mntns = req.host_mntns;
    args.channel = HUSK_POOL_FD_BASE + req.channel;
    args.channel_peer = -1;
    args.fd_moves = (uint64_t)(uintptr_t)rq->fds;
    args.fd_move_count = (uint32_t)rq->fd_count;
    args.fd_move_base = HUSK_POOL_FD_BASE;
    if (husk_spawn(&args, &res) < 0)
        error = res.error;
done:
    /* The answer goes before the main thread knows the run: its reap closes the pidfd we send. */
    reply(HUSK_POOL_SPAWNED, error, error ? -1 : res.pid, error ? -1 : res.pidfd, req.id);
    if (!error) {
        /* The run's status pipe stays open here until the run is reaped. */
        int status = fcntl(rq->fds[req.status], F_DUPFD_CLOEXEC, 3);
        remember(res.pidfd, status);
    }
    for (int i = 0; i < rq->fd_count; i++)
        close(rq->fds[i]);
    free(rq->message);
    free(rq);
}

/* The workers and their queue. A worker is never ended (see the top); one is added when a request
 * finds none idle. */
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_ready = PTHREAD_COND_INITIALIZER;
static struct request *queue_head, *queue_tail;
static int idle_workers;

static void *worker(void *unused)
{
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&queue_lock);
        idle_workers++;
        while (queue_head == NULL)
            pthread_cond_wait(&queue_ready, &queue_lock);
        idle_workers--;
        struct request *rq = queue_head;
        queue_head = rq->next;
        if (queue_head == NULL)
            queue_tail = NULL;
        pthread_mutex_unlock(&queue_lock);
        serve(rq);
    }
    return NULL;
}

/* Starts one more worker (detached, a small stack); the error number, or 0. */
static int start_worker(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256u << 10);
    pthread_t thread;
    int e = pthread_create(&thread, &attr, worker, NULL);
    pthread_attr_destroy(&attr);
    if (e == 0)
        pthread_detach(thread);
    return e;
}

/* Queues a request for a worker, starting one when none is idle. If that start fails, the request
 * waits for a busy one (there is always one: the first is started before READY). */
static void hand_over(struct request *rq)
{
    pthread_mutex_lock(&queue_lock);
    rq->next = NULL;
    if (queue_tail != NULL)
        queue_tail->next = rq;
    else
        queue_head = rq;
    queue_tail = rq;
    int queued = 0;
    for (struct request *q = queue_head; q != NULL; q = q->next)
        queued++;
    int start = idle_workers < queued;
    pthread_cond_signal(&queue_ready);
    pthread_mutex_unlock(&queue_lock);
    if (start)
        start_worker();
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
    control = atoi(argv[1]);
    /* Not dumpable (an unreadable image makes us so anyway): nothing of another user namespace
     * may read or trace this memory, which every run borrows until it execs. A run makes it
     * dumpable for the moment it opens its own /proc files (op_write_proc). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* The ambient set carried our capabilities through exec; nothing we start may inherit them
     * that way (a run also loses them when it enters its own user namespace). */
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    /* A run whose supervisor stopped reading must not take the template down with SIGPIPE
     * (the runs get the default back: the stage resets what was not ignored at our start). */
    signal(SIGPIPE, SIG_IGN);
    /* Nothing else here changes a disposition: a run puts back SIGPIPE alone, not all 62. */
    husk_signals_changed_only(1ULL << (SIGPIPE - 1));
    /* A run moves its descriptors to HUSK_POOL_FD_BASE and above. The limit is otherwise the
     * caller's: the runs' payloads inherit it, as a cold payload inherits the caller's. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < HUSK_POOL_FD_BASE + HUSK_POOL_MAX_FDS + 64) {
        rl.rlim_cur = rl.rlim_max < HUSK_POOL_FD_BASE + HUSK_POOL_MAX_FDS + 64 ? rl.rlim_max : HUSK_POOL_FD_BASE + HUSK_POOL_MAX_FDS + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    init_fd = husk_init_memfd();
    if (init_fd < 0) {
        reply(HUSK_POOL_READY, -init_fd, getpid(), -1, 0);
        return 1;
    }
    runs_added = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (runs_added < 0) {
        reply(HUSK_POOL_READY, errno, getpid(), -1, 0);
        return 1;
    }
    /* The first worker before READY: a request never waits for one that cannot be made. */
    int e = start_worker();
    if (e != 0) {
        reply(HUSK_POOL_READY, e, getpid(), -1, 0);
        return 1;
    }
    char *buffer = malloc(MAX_MESSAGE);
    struct pollfd *fds = NULL;
    size_t fds_capacity = 0;
    if (buffer == NULL) {
        reply(HUSK_POOL_READY, ENOMEM, getpid(), -1, 0);
        return 1;
    }
    reply(HUSK_POOL_READY, 0, getpid(), -1, 0);
    for (;;) {
        pthread_mutex_lock(&runs_lock);
        size_t watched = run_count;
        if (fds_capacity < watched + 2) {
            size_t capacity = (watched + 2) * 2;
            struct pollfd *more = realloc(fds, capacity * sizeof *fds);
            if (more == NULL) {
                pthread_mutex_unlock(&runs_lock);
                return 1;
            }
            fds = more;
            fds_capacity = capacity;
        }
        for (size_t i = 0; i < watched; i++) {
            fds[i + 2].fd = runs[i].pidfd;
            fds[i + 2].events = POLLIN;
            fds[i + 2].revents = 0;
        }
        pthread_mutex_unlock(&runs_lock);
        fds[0].fd = control;
        fds[0].events = POLLIN;
        fds[0].revents = 0;
        fds[1].fd = runs_added;
        fds[1].events = POLLIN;
        fds[1].revents = 0;
        if (poll(fds, watched + 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (fds[1].revents) {
            uint64_t added;
            while (read(runs_added, &added, sizeof added) < 0 && errno == EINTR)
                ;
        }
        /* Workers only append, so the first `watched` runs are where they were. Reap from the
         * end, so the swap in reap() never moves a run not yet looked at. */
        pthread_mutex_lock(&runs_lock);
        for (size_t i = watched; i > 0; i--) {
            if (fds[i + 1].revents)
                reap(i - 1);
        }
        pthread_mutex_unlock(&runs_lock);
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
        struct request *rq = calloc(1, sizeof *rq);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int k = 0; k < count; k++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
                if (rq != NULL && rq->fd_count < HUSK_POOL_MAX_FDS)
                    rq->fds[rq->fd_count++] = fd;
                else
                    close(fd);
            }
        }
        husk_pool_request head;
        memset(&head, 0, sizeof head);
        if ((size_t)n >= sizeof head)
            memcpy(&head, buffer, sizeof head);
        int refused = rq == NULL ? ENOMEM : (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? E2BIG : 0;
        if (!refused && (rq->message = malloc((size_t)n)) == NULL)
            refused = ENOMEM;
        if (refused) {
            if (rq != NULL) {
                for (int k = 0; k < rq->fd_count; k++)
                    close(rq->fds[k]);
                free(rq);
            }
            reply(HUSK_POOL_SPAWNED, refused, -1, -1, head.id);
            continue;
        }
        memcpy(rq->message, buffer, (size_t)n);
        rq->size = (size_t)n;
        hand_over(rq);
    }
}
