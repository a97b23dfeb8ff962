/* mini_sandbox.c: libmini-sandbox (and, built with -DMINITAP, libmini-tapbox) on libhusk.
 *
 * The functions of linux-sandbox-api.h. Configuration calls go to libhusk (husk_mini_sandbox.h),
 * which checks them as mini-sandbox does and keeps the configuration. mini_sandbox_start has
 * libhusk prepare the sandbox, then calls husk_continue on this thread: the process is copied,
 * and the sandbox's payload, a copy of the copy, comes back here and returns 0 to the program,
 * inside the sandbox. This file keeps what the payload needs without calling libhusk (whose
 * runtime does not survive a fork): the state, the last error, and which descriptors and signal
 * dispositions are the program's. The payload closes every descriptor libhusk opened and puts
 * back every disposition libhusk's runtime changed, so the program goes on as it was. */
#define _GNU_SOURCE
#include "husk_mini_sandbox.h"
#include "linux-sandbox-api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#ifdef MINITAP
#define TAPBOX 1
#else
#define TAPBOX 0
#endif

/* Set in the sandbox, so a program started there does not nest another (mini-sandbox's name). */
#define NESTED_VARIABLE "__INTERNAL_MINI_SANDBOX_ON"

/* mini-sandbox keeps 254 bytes of its last message. */
#define MESSAGE_SIZE 255

enum { NOT_RUNNING, RUNNING, FAILED };

static int state = NOT_RUNNING;
static int last_code;
static char last_message[MESSAGE_SIZE];

/* ---- what is the program's and what is libhusk's ----
 *
 * Around every call into libhusk the open descriptors and the signal dispositions are compared:
 * what appeared during the call is libhusk's (its runtime's, the sandbox's plumbing), what was
 * there before is the program's. */

#define MAX_SIGNAL 64

struct fd_set_list {
    int *fds;
    size_t count, capacity;
};

static struct fd_set_list husk_fds;                 /* descriptors libhusk opened */
static struct sigaction program_action[MAX_SIGNAL + 1]; /* a disposition before libhusk changed it */
static struct sigaction husk_action[MAX_SIGNAL + 1];    /* what libhusk set it to */
static bool husk_changed[MAX_SIGNAL + 1];

struct snapshot {
    struct fd_set_list fds;
    struct sigaction actions[MAX_SIGNAL + 1];
};

static void list_add(struct fd_set_list *l, int fd)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->fds[i] == fd)
            return;
    if (l->count == l->capacity) {
        size_t capacity = l->capacity ? l->capacity * 2 : 64;
        int *more = realloc(l->fds, capacity * sizeof *more);
        if (more == NULL)
            return;
        l->fds = more;
        l->capacity = capacity;
    }
    l->fds[l->count++] = fd;
}

static bool list_has(const struct fd_set_list *l, int fd)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->fds[i] == fd)
            return true;
    return false;
}

/* The open descriptors, from /proc/self/fd (or, without it, by asking each of the first 4096). */
static void open_fds(struct fd_set_list *out)
{
    out->count = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        for (int fd = 0; fd < 4096; fd++)
            if (fcntl(fd, F_GETFD) >= 0)
                list_add(out, fd);
        return;
    }
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        int fd = atoi(e->d_name);
        if (fd != own)
            list_add(out, fd);
    }
    closedir(d);
}

/* The same handler, flags and blocked signals (only the kernel's part of sa_mask is ever filled in). */
static bool same_action(const struct sigaction *a, const struct sigaction *b)
{
    if (a->sa_handler != b->sa_handler || a->sa_flags != b->sa_flags)
        return false;
    for (int sig = 1; sig <= MAX_SIGNAL; sig++)
        if (sigismember(&a->sa_mask, sig) != sigismember(&b->sa_mask, sig))
            return false;
    return true;
}

static void take_snapshot(struct snapshot *s)
{
    open_fds(&s->fds);
    for (int sig = 1; sig <= MAX_SIGNAL; sig++) {
        if (sigaction(sig, NULL, &s->actions[sig]) < 0)
            memset(&s->actions[sig], 0, sizeof s->actions[sig]);
    }
}

static struct snapshot before_call;

static void call_begin(void)
{
    take_snapshot(&before_call);
}

/* What the call opened or changed is libhusk's. */
static void call_end(void)
{
    struct snapshot after;
    memset(&after, 0, sizeof after);
    take_snapshot(&after);
    for (size_t i = 0; i < after.fds.count; i++)
        if (!list_has(&before_call.fds, after.fds.fds[i]))
            list_add(&husk_fds, after.fds.fds[i]);
    for (int sig = 1; sig <= MAX_SIGNAL; sig++) {
        if (same_action(&before_call.actions[sig], &after.actions[sig]))
            continue;
        if (!husk_changed[sig])
            program_action[sig] = before_call.actions[sig];
        husk_action[sig] = after.actions[sig];
        husk_changed[sig] = true;
    }
    free(after.fds.fds);
}

/* ---- errors ---- */

static void set_error(int code, const char *message)
{
    last_code = code;
    snprintf(last_message, sizeof last_message, "%s", message);
}

/* mini-sandbox's words when the configuration is frozen: "[function:line]: : Sandbox was already started. ..." */
static int already_started(const char *function, int line)
{
    char text[MESSAGE_SIZE];
    snprintf(text, sizeof text, "[%s:%d]:  : Sandbox was already started. Cannot change the configuration.", function, line);
    set_error(MINI_SANDBOX_SANDBOX_ALREADY_STARTED, text);
    return -1;
}

/* One configuration call through libhusk, unless the sandbox was started (or failed to). */
static int configure(const char *function, int line, int32_t which, const char *a, const char *b, int32_t n)
{
    if (state != NOT_RUNNING)
        return already_started(function, line);
    int32_t code = 0;
    char message[MESSAGE_SIZE];
    message[0] = 0;
    call_begin();
    int32_t r = husk_mini_sandbox_call(TAPBOX, which, a, b, n, &code, message, sizeof message);
    call_end();
    if (code != 0)
        set_error(code, message);
    return r;
}

/* ---- starting ---- */

/* In the payload: libhusk's descriptors close, the program's stay. */
static void close_husk_fds(const struct fd_set_list *program)
{
    struct fd_set_list now = { 0 };
    open_fds(&now);
    for (size_t i = 0; i < now.count; i++) {
        int fd = now.fds[i];
        if (fd > 2 && (!list_has(program, fd) || list_has(&husk_fds, fd)))
            close(fd);
    }
    free(now.fds);
}

/* In the payload: every disposition as the program had it when it called mini_sandbox_start,
 * except that one libhusk had set by then, and the program did not change since, is the
 * program's own again (libhusk's calls in mini_sandbox_start itself came after the entry). */
static void restore_signals(const struct snapshot *entry, const bool *changed, const struct sigaction *set)
{
    for (int sig = 1; sig <= MAX_SIGNAL; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        const struct sigaction *want = &entry->actions[sig];
        if (changed[sig] && same_action(want, &set[sig]))
            want = &program_action[sig];
        sigaction(sig, want, NULL); /* glibc's own signals refuse, and keep theirs */
    }
}

EXPORT int mini_sandbox_start(void)
{
    if (state != NOT_RUNNING) {
        set_error(MINI_SANDBOX_SANDBOX_ALREADY_STARTED, "[MiniSbxStart:376]:  : Sandbox was already started. Cannot change the configuration.");
        return -1;
    }
    if (getenv(NESTED_VARIABLE) != NULL) {
        set_error(MINI_SANDBOX_NESTED_SANDBOX, "[MiniSbxStart:410]:  : Cannot nest multiple sandbox. The process is already running inside mini-sandbox.");
        return -2;
    }
    /* As mini-sandbox: the process dies with its parent. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    /* What the program printed so far is written now, once: the copy that goes on must not hold it
     * too (it would be lost at an exec, or written twice). */
    fflush(NULL);

    /* The program's descriptors and dispositions now, and its signal mask. */
    static struct snapshot entry;
    memset(&entry.fds, 0, sizeof entry.fds);
    take_snapshot(&entry);
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    static bool changed_at_entry[MAX_SIGNAL + 1];
    static struct sigaction set_at_entry[MAX_SIGNAL + 1];
    memcpy(changed_at_entry, husk_changed, sizeof changed_at_entry);
    memcpy(set_at_entry, husk_action, sizeof set_at_entry);

    husk_mini_sandbox_launch launch;
    memset(&launch, 0, sizeof launch);
    int32_t code = 0;
    char message[MESSAGE_SIZE];
    message[0] = 0;
    call_begin();
    int32_t r = husk_mini_sandbox_prepare(TAPBOX, &launch, &code, message, sizeof message);
    call_end();
    if (r != 0) {
        if (code != 0)
            set_error(code, message);
        return r;
    }
    r = launch.run(launch.args, launch.result_fd);
    if (r == 1) {
        /* The payload: the program goes on in the sandbox, as it was. */
        close_husk_fds(&entry.fds);
        restore_signals(&entry, changed_at_entry, set_at_entry);
        pthread_sigmask(SIG_SETMASK, &mask, NULL);
        setenv(NESTED_VARIABLE, "1", 1);
        state = RUNNING;
        return 0;
    }
    /* The caller: wait for the sandbox (its setup, then its end), and exit as the program did. */
    int run_errno = errno;
    call_begin();
    int32_t status = husk_mini_sandbox_supervise(message, sizeof message);
    call_end();
    if (r < 0 && status < 0) {
        char text[MESSAGE_SIZE];
        snprintf(text, sizeof text, "fork: %s", strerror(run_errno));
        set_error(MINI_SANDBOX_GENERAL_OS_ERROR, text);
    }
    if (status < 0) {
        /* Never set up: the program goes on here, outside any sandbox, as with mini-sandbox. */
        if (r >= 0)
            set_error(MINI_SANDBOX_GENERAL_OS_ERROR, message);
        state = FAILED;
        return -1;
    }
    if (status > 255) {
        fprintf(stderr, "Child did not exit normally\n");
        _exit(EXIT_FAILURE);
    }
    /* _exit: nothing of this copy is left to write (buffers were flushed before the start). */
    _exit(status);
}

EXPORT int mini_sandbox_setup_default(void)
{
    return configure("MiniSbxSetupDefault", 857, HUSK_MS_SETUP_DEFAULT, NULL, NULL, 0);
}

EXPORT int mini_sandbox_setup_custom(const char *overlayfs_dir, const char *sandbox_root)
{
    return configure("MiniSbxSetupCustom", 888, HUSK_MS_SETUP_CUSTOM, overlayfs_dir, sandbox_root, 0);
}

EXPORT int mini_sandbox_setup_hermetic(const char *sandbox_root)
{
    return configure("MiniSbxSetupHermetic", 902, HUSK_MS_SETUP_HERMETIC, sandbox_root, NULL, 0);
}

EXPORT int mini_sandbox_mount_bind(const char *path)
{
    return configure("MiniSbxMountBind", 712, HUSK_MS_MOUNT_BIND, path, NULL, 0);
}

EXPORT int mini_sandbox_mount_write(const char *path)
{
    return configure("MiniSbxMountWrite", 751, HUSK_MS_MOUNT_WRITE, path, NULL, 0);
}

EXPORT int mini_sandbox_mount_tmpfs(const char *path)
{
    return configure("MiniSbxMountTmpfs", 773, HUSK_MS_MOUNT_TMPFS, path, NULL, 0);
}

EXPORT int mini_sandbox_mount_overlay(const char *path)
{
    return configure("MiniSbxMountOverlay", 787, HUSK_MS_MOUNT_OVERLAY, path, NULL, 0);
}

EXPORT int mini_sandbox_mount_empty_output_file(const char *path)
{
    return configure("MiniSbxMountEmptyOutputFile", 974, HUSK_MS_MOUNT_EMPTY_OUTPUT_FILE, path, NULL, 0);
}

EXPORT int mini_sandbox_set_working_dir(const char *path)
{
    return configure("MiniSbxSetWorkingDir", 1007, HUSK_MS_SET_WORKING_DIR, path, NULL, 0);
}

EXPORT int mini_sandbox_mount_parents_write(void)
{
    return configure("MiniSbxMountParentsWrite", 998, HUSK_MS_MOUNT_PARENTS_WRITE, NULL, NULL, 0);
}

EXPORT int mini_sandbox_enable_log(const char *path)
{
    return configure("MiniSbxEnableLog", 647, HUSK_MS_ENABLE_LOG, path, NULL, 0);
}

EXPORT int mini_sandbox_get_last_error_code(void)
{
    return last_code;
}

EXPORT const char *mini_sandbox_get_last_error_msg(void)
{
    return last_message;
}

EXPORT int mini_sandbox_is_running(void)
{
    return state != NOT_RUNNING || getenv(NESTED_VARIABLE) != NULL;
}

#ifndef MINITAP
EXPORT int mini_sandbox_share_network(void)
{
    /* mini-sandbox's never refuses, even once started. */
    if (state != NOT_RUNNING)
        return 0;
    return configure("MiniSbxShareNetNamespace", 0, HUSK_MS_SHARE_NETWORK, NULL, NULL, 0);
}
#else
EXPORT int mini_sandbox_allow_connections(const char *path)
{
    return configure("MiniSbxAllowConnections", 561, HUSK_MS_ALLOW_CONNECTIONS, path, NULL, 0);
}

EXPORT int mini_sandbox_allow_max_connections(int max_connections)
{
    return configure("MiniSbxAllowMaxConnections", 579, HUSK_MS_ALLOW_MAX_CONNECTIONS, NULL, NULL, max_connections);
}

EXPORT int mini_sandbox_allow_ipv4(const char *ip)
{
    return configure("MiniSbxAllowIpv4", 615, HUSK_MS_ALLOW_IPV4, ip, NULL, 0);
}

EXPORT int mini_sandbox_allow_domain(const char *domain)
{
    return configure("MiniSbxAllowDomain", 601, HUSK_MS_ALLOW_DOMAIN, domain, NULL, 0);
}

EXPORT int mini_sandbox_allow_all_domains(void)
{
    return configure("MiniSbxAllowAllDomains", 587, HUSK_MS_ALLOW_ALL_DOMAINS, NULL, NULL, 0);
}

EXPORT int mini_sandbox_allow_ipv4_subnet(const char *subnet)
{
    return configure("MiniSbxAllowIpv4Subnet", 630, HUSK_MS_ALLOW_IPV4_SUBNET, subnet, NULL, 0);
}
#endif
