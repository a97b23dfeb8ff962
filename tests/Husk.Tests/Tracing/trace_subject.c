/* A program whose system calls are known, for the tracing tests: N getppid calls, M opens that
 * fail (ENOENT), a thread (which calls gettid once), a fork whose child executes this program
 * again (which exits with status 3), and a SIGUSR1 it sends itself and handles.
 * usage: trace_subject N M          (the parent)
 *        trace_subject exec-child   (the child, after its exec)
 *        trace_subject ptrace       (exit 0 when ptrace fails with EPERM: attaching to its child and TRACEME)
 *        trace_subject fork-bomb    (forks forever; failed forks are retried) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;

static void on_usr1(int sig) { (void)sig; got_signal = 1; }

static void *thread_main(void *arg) { (void)arg; syscall(SYS_gettid); return NULL; }

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "exec-child") == 0)
        _exit(3);
    if (argc == 2 && strcmp(argv[1], "fork-bomb") == 0)
        for (;;)
            fork();
    if (argc == 2 && strcmp(argv[1], "ptrace") == 0) {
        pid_t c = fork();
        if (c == 0) {
            pause();
            _exit(0);
        }
        long attach = ptrace(PTRACE_ATTACH, c, NULL, NULL);
        int attach_errno = errno;
        long traceme = ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        int traceme_errno = errno;
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
        printf("attach %ld %s, traceme %ld %s\n", attach, strerror(attach_errno), traceme, strerror(traceme_errno));
        return attach == -1 && attach_errno == EPERM && traceme == -1 && traceme_errno == EPERM ? 0 : 1;
    }
    if (argc != 3)
        return 2;
    int n = atoi(argv[1]), m = atoi(argv[2]);
    for (int i = 0; i < n; i++)
        syscall(SYS_getppid);
    for (int i = 0; i < m; i++) {
        char path[64];
        snprintf(path, sizeof path, "/nonexistent-husk-trace/%d", i);
        if (open(path, O_RDONLY) >= 0)
            return 4;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 5;
    pid_t child = fork();
    if (child == 0) {
        execl("/proc/self/exe", argv[0], "exec-child", (char *)NULL);
        _exit(6);
    }
    int status;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 3)
        return 7;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    kill(getpid(), SIGUSR1);
    return got_signal ? 0 : 8;
}
