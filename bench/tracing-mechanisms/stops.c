/* What one intercepted system call costs, per mechanism: a child makes N getppid calls under a
 * seccomp filter that acts only on getppid, and a minimal tracer or supervisor in C serves it.
 * usage: stops MODE N   prints nanoseconds per call
 * MODE: bare | filter (RET_ALLOW) | trace (RET_TRACE, one stop) | trace-exit (RET_TRACE, then
 *       PTRACE_SYSCALL for the return: two stops) | trace-exit-rusage (the same, wait4 with
 *       rusage as a counter of system time needs) | syscall (plain PTRACE_SYSCALL, strace's way)
 *       | notify (user notification, CONTINUE) | notify-sync (the same with
 *       SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP 1
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#define PTRACE_GET_SYSCALL_INFO_ 0x420e

static int install(unsigned action, unsigned flags)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog p = {sizeof f / sizeof f[0], f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p);
}

static void loop(long n, int out)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
    if (write(out, &ns, sizeof ns) != sizeof ns)
        _exit(1);
}

static void send_fd(int s, int fd)
{
    char b = 0, c[CMSG_SPACE(sizeof(int))];
    struct iovec io = {&b, 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    sendmsg(s, &m, 0);
}

static int recv_fd(int s)
{
    char b, c[CMSG_SPACE(sizeof(int))];
    struct iovec io = {&b, 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = c, .msg_controllen = sizeof c};
    int fd = -1;
    if (recvmsg(s, &m, 0) > 0)
        memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *mode = argv[1];
    long n = atol(argv[2]);
    int result[2], sv[2];
    if (pipe(result) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 1;
    int notify = strncmp(mode, "notify", 6) == 0;
    int ptraced = strncmp(mode, "trace", 5) == 0 || strcmp(mode, "syscall") == 0;
    pid_t c = fork();
    if (c == 0) {
        if (ptraced)
            raise(SIGSTOP);
        if (strcmp(mode, "filter") == 0)
            install(SECCOMP_RET_ALLOW, 0);
        else if (strncmp(mode, "trace", 5) == 0)
            install(SECCOMP_RET_TRACE, 0);
        else if (notify) {
            int fd = install(SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
            send_fd(sv[0], fd);
            close(fd);
        }
        loop(n, result[1]);
        _exit(0);
    }
    if (notify) {
        int fd = recv_fd(sv[1]);
        if (strcmp(mode, "notify-sync") == 0 && ioctl(fd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0) < 0)
            perror("SECCOMP_IOCTL_NOTIF_SET_FLAGS");
        struct seccomp_notif req;
        struct seccomp_notif_resp resp;
        for (;;) {
            memset(&req, 0, sizeof req);
            if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
                break;
            memset(&resp, 0, sizeof resp);
            resp.id = req.id;
            resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        }
    } else if (ptraced) {
        waitpid(c, NULL, WSTOPPED);
        ptrace(PTRACE_SEIZE, c, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
        int exits = strncmp(mode, "trace-exit", 10) == 0, classic = strcmp(mode, "syscall") == 0;
        int usage = strcmp(mode, "trace-exit-rusage") == 0;
        kill(c, SIGCONT);
        char info[128];
        struct rusage ru;
        for (;;) {
            int st;
            pid_t p = wait4(-1, &st, __WALL, usage ? &ru : NULL);
            if (p < 0 || WIFEXITED(st) || WIFSIGNALED(st))
                break;
            int sig = WSTOPSIG(st), ev = st >> 16, req = classic ? PTRACE_SYSCALL : PTRACE_CONT, inject = 0;
            if (ev == PTRACE_EVENT_SECCOMP) {
                ptrace(PTRACE_GET_SYSCALL_INFO_, p, sizeof info, info);
                if (exits)
                    req = PTRACE_SYSCALL;
            } else if (sig == (SIGTRAP | 0x80)) {
                ptrace(PTRACE_GET_SYSCALL_INFO_, p, sizeof info, info);
            } else if (ev == 0 && sig != SIGTRAP && sig != SIGSTOP) {
                inject = sig;
            }
            ptrace(req, p, 0, inject);
        }
    }
    int status;
    waitpid(c, &status, 0);
    double ns;
    if (read(result[0], &ns, sizeof ns) != sizeof ns)
        return 1;
    printf("%.0f\n", ns);
    return 0;
}
