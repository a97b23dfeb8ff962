/* launch.c: the floor under any sandbox's launch rate on this machine. Launches PROGRAM back to
 * back for SECONDS from WORKERS processes, each launch a clone(CLONE_VM | CLONE_VFORK | FLAGS)
 * that execs PROGRAM at once and is waited for: the namespaces FLAGS names are made and torn down
 * per launch, and nothing else is done (no mount, no /proc, no pivot, no init, no policy).
 * Prints "LABEL: N launches/s". Built and run by bench/floor.sh. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char **program;
static char stack[64 << 10] __attribute__((aligned(16)));

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int child(void *unused)
{
    (void)unused;
    execv(program[0], program);
    _exit(127);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: launch LABEL SECONDS WORKERS FLAGS PROGRAM [ARG...]\n");
        return 2;
    }
    const char *label = argv[1];
    double seconds = atof(argv[2]);
    int workers = atoi(argv[3]);
    int flags = (int)strtol(argv[4], NULL, 0);
    program = argv + 5;
    int counts[2];
    if (pipe(counts) != 0)
        return 1;
    for (int w = 0; w < workers; w++) {
        if (fork() != 0)
            continue;
        long n = 0;
        double end = now() + seconds;
        while (now() < end) {
            /* Each worker is its own process: the shared stack is only used between clone and exec. */
            pid_t pid = clone(child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | flags | SIGCHLD, NULL);
            int status = 0;
            if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
                fprintf(stderr, "%s: launch failed (status %d)\n", label, status);
                _exit(1);
            }
            n++;
        }
        if (write(counts[1], &n, sizeof n) != sizeof n)
            _exit(1);
        _exit(0);
    }
    long total = 0;
    for (int w = 0; w < workers; w++) {
        long n = 0;
        if (read(counts[0], &n, sizeof n) != sizeof n)
            return 1;
        total += n;
    }
    int status, failed = 0;
    while (wait(&status) > 0)
        failed |= status != 0;
    printf("%s: %.1f launches/s\n", label, (double)total / seconds);
    return failed;
}
