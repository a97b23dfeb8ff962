/* husk_init.c: pid 1 of a sandbox (or the waiter above a joined pid namespace).
 *
 * A freestanding static program of a few kilobytes, exec'd by the native stage from a
 * sealed, execute-only memfd, so that pid 1 is never a copy of the supervisor.
 * It reaps every child, forwards signals sent to it (not those the terminal sends to
 * the whole process group, which reach the payload anyway) and exits with the payload's
 * status, after killing and reaping what the payload left running and writing the raw status
 * and the tree's resource usage to a status fd.
 *
 * usage: husk-init PAYLOAD_PID STATUS_FD [IO_FD [STOPS]]
 * With STOPS "1", a stop of the payload (Ctrl-Z, while the sandbox holds the terminal) is written
 * to the status fd too, so the supervisor can stop with it as a shell's job would.
 *
 * usage: husk-init gate FIFO_FD[,PROC_FD] CHANNEL_FD OP SEARCH FILE ARGV...
 * The gate of husk-runtime (runc's create/start hand-off): the sandbox is set up and waits here,
 * as its own pid, for `start`. The payload is looked up first (a failure goes to the supervisor as
 * op OP's error on CHANNEL_FD, so `create` fails as runc's does); the channel is then closed, the
 * FIFO (an O_PATH descriptor) is opened for writing through /proc/self/fd (through PROC_FD, the
 * host's /proc, in a chroot), which blocks until `start` opens it for reading, and the payload is
 * exec'd in our place with the environment we were given. */
#include "husk_abi.h"

#include <asm/unistd.h>
#include <linux/prctl.h>
#include <linux/resource.h>
#include <linux/signal.h>
#include <linux/signalfd.h>
#include <linux/wait.h>

#ifndef __WALL
#define __WALL 0x40000000
#endif
#define ECHILD 10
#define EINTR 4
#define EAGAIN 11

#if defined(__x86_64__)
static long sc(long n, long a, long b, long c, long d, long e)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %rbp, %rbp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call init_main\n"
        "  hlt\n");
#elif defined(__aarch64__)
static long sc(long n, long a, long b, long c, long d, long e)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
}
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x29, #0\n"
        "  mov x0, sp\n"
        "  bl init_main\n"
        "  brk #0\n");
#else
#error "husk-init supports x86_64 and aarch64"
#endif

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *d, int c, unsigned long n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static __attribute__((noreturn)) void do_exit(int code)
{
    for (;;)
        sc(__NR_exit_group, code, 0, 0, 0, 0);
}

static long parse_long(const char *s)
{
    long v = 0;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (*s++ - '0');
    return neg ? -v : v;
}

static int io_fd = -1;

/* "wchar: N" from our /proc/PID/io: bytes passed to write calls by us and all we reaped. */
static int64_t written_bytes(void)
{
    char buf[512];
    if (io_fd < 0)
        return -1;
    long n = sc(__NR_pread64, io_fd, (long)buf, sizeof buf - 1, 0, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    for (long i = 0; i + 7 < n; i++) {
        if (buf[i] == 'w' && buf[i + 1] == 'c' && buf[i + 2] == 'h' && buf[i + 3] == 'a' && buf[i + 4] == 'r' &&
            buf[i + 5] == ':' && (i == 0 || buf[i - 1] == '\n'))
            return parse_long(buf + i + 6 + (buf[i + 6] == ' '));
    }
    return -1;
}

static void write_status(int status, int status_fd)
{
    if (status_fd >= 0) {
        struct rusage ru;
        husk_init_status st;
        memset(&ru, 0, sizeof ru);
        memset(&st, 0, sizeof st);
        sc(__NR_getrusage, RUSAGE_CHILDREN, (long)&ru, 0, 0, 0);
        st.magic = HUSK_INIT_MAGIC;
        st.wait_status = status;
        st.user_usec = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
        st.system_usec = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
        st.max_rss_kib = ru.ru_maxrss;
        st.written_bytes = written_bytes();
        long r;
        do
            r = sc(__NR_write, status_fd, (long)&st, sizeof st, 0, 0);
        while (r == -EINTR);
    }
}

static __attribute__((noreturn)) void finish(int status, int status_fd)
{
    write_status(status, status_fd);
    int code;
    if ((status & 0x7f) == 0)
        code = (status >> 8) & 0xff;         /* exited */
    else
        code = 128 + (status & 0x7f);        /* killed by a signal */
    do_exit(code);
}

/* As pid 1: kills every other process of the namespace and reaps them all, new forks in the next
 * round (a killed process cannot fork). Returns the payload's status if it was among them, else
 * STATUS. */
static int reap_all(long payload, int status)
{
    for (;;) {
        sc(__NR_kill, -1, SIGKILL, 0, 0, 0);
        int st = 0;
        long pid = sc(__NR_wait4, -1, (long)&st, __WALL, 0, 0);
        if (pid == payload)
            status = st;
        else if (pid == -ECHILD)
            return status;
    }
}

/* The payload has ended, and with it the sandbox. As pid 1, what it left running (a daemon in a
 * session of its own) is killed and reaped before the status goes out: when the supervisor has the
 * status nothing of the sandbox runs any more, and the usage is the whole tree's. (The kernel kills
 * them anyway when we exit, but only after the status was read.) Above a joined pid namespace the
 * others are not ours to end. */
static __attribute__((noreturn)) void payload_ended(int status, int status_fd)
{
    if (sc(__NR_getpid, 0, 0, 0, 0, 0) == 1)
        status = reap_all(0, status);
    finish(status, status_fd);
}

/* HUSK_SIG_KILL_TREE: the supervisor ends the sandbox over a limit. As pid 1, kill(-1) reaches
 * every other process of the namespace; reaping them all puts the whole tree's CPU time in our
 * RUSAGE_CHILDREN before the status goes out. Above a joined pid namespace kill(-1) would reach
 * the caller's own processes: only the payload then. */
static __attribute__((noreturn)) void kill_tree(long payload, int status_fd)
{
    if (sc(__NR_getpid, 0, 0, 0, 0, 0) == 1)
        finish(reap_all(payload, SIGKILL), status_fd);
    for (;;) {
        sc(__NR_kill, payload, SIGKILL, 0, 0, 0);
        int st = 0;
        long pid = sc(__NR_wait4, -1, (long)&st, __WALL, 0, 0);
        if (pid == payload)
            finish(st, status_fd);
        if (pid == -ECHILD)
            finish(SIGKILL, status_fd);
    }
}

static unsigned long str_len(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static int has_slash(const char *s)
{
    for (; *s; s++)
        if (*s == '/')
            return 1;
    return 0;
}

static int starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++)
            return 0;
    return 1;
}

#define GATE_PATH 4096
#define X_OK 1 /* <unistd.h>'s, which a freestanding build lacks; open's flags come from <linux/fcntl.h> */

/* The payload's path as execvp would find it (in buf), or a negative errno. */
static long look_up(const char *file, int search, char **envp, char *buf)
{
    unsigned long flen = str_len(file);
    if (flen == 0)
        return -2; /* ENOENT */
    if (!search || has_slash(file)) {
        if (flen >= GATE_PATH)
            return -36; /* ENAMETOOLONG */
        memcpy(buf, file, flen + 1);
        long r = sc(__NR_faccessat, AT_FDCWD, (long)buf, X_OK, 0, 0);
        return r < 0 ? r : 0;
    }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char **e = envp; e && *e; e++) {
        if (starts_with(*e, "PATH=")) {
            path = *e + 5;
            break;
        }
    }
    long err = -2, found_eacces = 0;
    for (const char *p = path;;) {
        const char *end = p;
        while (*end && *end != ':')
            end++;
        unsigned long dlen = (unsigned long)(end - p);
        if (dlen + flen + 2 <= GATE_PATH) {
            unsigned long n = 0;
            if (dlen == 0) {
                buf[n++] = '.';
            } else {
                memcpy(buf, p, dlen);
                n = dlen;
            }
            buf[n++] = '/';
            memcpy(buf + n, file, flen + 1);
            long r = sc(__NR_faccessat, AT_FDCWD, (long)buf, X_OK, 0, 0);
            if (r == 0)
                return 0;
            if (r == -13) /* EACCES */
                found_eacces = 1;
            else if (r != -2 && r != -20) /* ENOENT, ENOTDIR */
                err = r;
        }
        if (*end == 0)
            break;
        p = end + 1;
    }
    return found_eacces ? -13 : err;
}

static void say(const char *text)
{
    sc(__NR_write, 2, (long)text, (long)str_len(text), 0, 0);
}

static __attribute__((noreturn)) void gate(int argc, char **argv, char **envp)
{
    if (argc < 8)
        do_exit(127);
    int fifo = (int)parse_long(argv[2]);
    /* "FIFO_FD,PROC_FD": in a chroot (no /proc in there) the FIFO is reopened through the host's
     * /proc, open at PROC_FD. */
    int proc = -1;
    for (const char *c = argv[2]; *c; c++) {
        if (*c == ',') {
            proc = (int)parse_long(c + 1);
            break;
        }
    }
    int channel = (int)parse_long(argv[3]);
    int op = (int)parse_long(argv[4]);
    int search = argv[5][0] == '1';
    const char *file = argv[6];
    char **payload_argv = argv + 7;
    static char resolved[GATE_PATH];
    long r = look_up(file, search, envp, resolved);
    if (channel >= 0) {
        if (r < 0) {
            husk_report rep;
            memset(&rep, 0, sizeof rep);
            rep.kind = HUSK_REPORT_ERROR;
            rep.op = op;
            rep.error = (int32_t)-r;
            sc(__NR_write, channel, (long)&rep, sizeof rep, 0, 0);
        }
        sc(__NR_close, channel, 0, 0, 0, 0);
    }
    if (r < 0)
        do_exit(127);
    /* Reopened through our own descriptor: a path would have to be reachable from in here. */
    char fdpath[40] = "/proc/self/fd/";
    int n = 14;
    char digits[16];
    int d = 0;
    do {
        digits[d++] = (char)('0' + fifo % 10);
        fifo /= 10;
    } while (fifo > 0 && d < 15);
    while (d > 0)
        fdpath[n++] = digits[--d];
    fdpath[n] = 0;
    long w;
    do
        w = proc >= 0 ? sc(__NR_openat, proc, (long)(fdpath + 6), O_WRONLY | O_CLOEXEC, 0, 0)
                      : sc(__NR_openat, AT_FDCWD, (long)fdpath, O_WRONLY | O_CLOEXEC, 0, 0);
    while (w == -EINTR);
    if (proc >= 0)
        sc(__NR_close, proc, 0, 0, 0, 0);
    if (w < 0) {
        char num[16];
        int k = 0;
        for (long e = -w; e > 0 && k < 15; e /= 10)
            num[k++] = (char)('0' + e % 10);
        char text[16];
        int t = 0;
        while (k > 0)
            text[t++] = num[--k];
        text[t] = 0;
        say("husk-runtime: the container's init cannot open its start FIFO through /proc/self/fd (is /proc mounted?): errno ");
        say(text);
        say("\n");
        do_exit(127);
    }
    sc(__NR_write, w, (long)"0", 1, 0, 0);
    sc(__NR_close, w, 0, 0, 0, 0);
    sc(__NR_close, (long)parse_long(argv[2]), 0, 0, 0, 0);
    sc(__NR_execve, (long)resolved, (long)payload_argv, (long)envp, 0, 0);
    say("husk-runtime: exec ");
    say(resolved);
    say(" failed\n");
    do_exit(127);
}

__attribute__((used, noreturn)) void init_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    sc(__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (argc > 1 && argv[1][0] == 'g' && argv[1][1] == 'a' && argv[1][2] == 't' && argv[1][3] == 'e' && argv[1][4] == 0)
        gate((int)argc, argv, argv + argc + 1);
    if (argc < 3)
        do_exit(127);
    long payload = parse_long(argv[1]);
    int status_fd = (int)parse_long(argv[2]);
    if (argc > 3)
        io_fd = (int)parse_long(argv[3]);
    int stops = argc > 4 && argv[4][0] == '1' ? WUNTRACED : 0;

    /* Above a joined pid namespace we are not pid 1: adopt orphans all the same, and never stop
     * with the terminal's group (pid 1 is spared that by the kernel), or stops go unreported. */
    if (sc(__NR_getpid, 0, 0, 0, 0, 0) != 1) {
        sc(__NR_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        static const int job_control[] = { SIGTSTP, SIGTTIN, SIGTTOU };
        for (unsigned i = 0; i < sizeof job_control / sizeof job_control[0]; i++) {
            struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } ign = { (void *)1 /* SIG_IGN */, 0, 0, 0 };
            sc(__NR_rt_sigaction, job_control[i], (long)&ign, 0, sizeof ign.mask, 0);
        }
    }

    uint64_t mask = HUSK_INIT_SIGNALS;
    /* The stage blocked these before exec; signals that arrived since are queued. */
    sc(__NR_rt_sigprocmask, SIG_BLOCK, (long)&mask, 0, sizeof mask, 0);
    long sfd = sc(__NR_signalfd4, -1, (long)&mask, sizeof mask, 0, 0);
    if (sfd < 0)
        do_exit(127);

    for (;;) {
        int status = 0;
        long pid;
        while ((pid = sc(__NR_wait4, -1, (long)&status, WNOHANG | __WALL | stops, 0, 0)) > 0) {
            if (pid == payload && (status & 0xff) == 0x7f)
                write_status(status, status_fd); /* stopped: the supervisor continues it */
            else if (pid == payload)
                payload_ended(status, status_fd);
        }
        if (pid == -ECHILD)
            finish(127 << 8, status_fd); /* the payload is gone and was not ours to see */
        struct signalfd_siginfo si;
        long n = sc(__NR_read, sfd, (long)&si, sizeof si, 0, 0);
        if (n == -EINTR || n == -EAGAIN)
            continue;
        if (n != sizeof si)
            do_exit(127);
        if (si.ssi_signo == SIGCHLD)
            continue;
        /* Only from the supervisor: a sender outside our pid namespace shows as pid 0. */
        if (si.ssi_signo == HUSK_SIG_KILL_TREE && (si.ssi_pid == 0 || sc(__NR_getpid, 0, 0, 0, 0, 0) != 1))
            kill_tree(payload, status_fd);
        if (si.ssi_signo == HUSK_SIG_KILL_TREE)
            continue;
        /* The terminal signals the whole foreground group; forward only what was sent to us. */
        if ((int)si.ssi_code > 0)
            continue;
        sc(__NR_kill, payload, si.ssi_signo, 0, 0, 0);
    }
}
