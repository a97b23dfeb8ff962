/* A static client for the network tests: connects the ways a payload might try to get around a
 * filter (a static binary with no libc resolver, a child in a session of its own, io_uring) and
 * prints one word per attempt: "ok:<reply>" or the errno's name. Built by the tests with gcc -static. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *name(int e)
{
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOSYS: return "ENOSYS";
    default: { static char b[32]; snprintf(b, sizeof b, "errno%d", e); return b; }
    }
}

static int target(const char *ip, int port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((unsigned short)port);
    return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

/* After a connect: ask for a page and print the first line of its body. */
static void exchange(int s)
{
    const char req[] = "GET / HTTP/1.0\r\n\r\n";
    char buf[4096];
    size_t got = 0;
    if (write(s, req, sizeof req - 1) < 0) {
        printf("%s\n", name(errno));
        return;
    }
    for (;;) {
        ssize_t n = read(s, buf + got, sizeof buf - 1 - got);
        if (n < 0) {
            printf("%s\n", name(errno));
            return;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    char *body = strstr(buf, "\r\n\r\n");
    printf("ok:%s\n", body ? body + 4 : "");
}

static void plain(const char *ip, int port)
{
    struct sockaddr_in sa;
    target(ip, port, &sa);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
        printf("%s\n", name(errno));
    else
        exchange(s);
    close(s);
}

static void uring(const char *ip, int port)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (fd < 0) {
        printf("setup:%s\n", name(errno));
        return;
    }
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(0, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    char *cq = mmap(0, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
        printf("mmap:%s\n", name(errno));
        return;
    }
    struct sockaddr_in sa;
    target(ip, port, &sa);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct io_uring_sqe *sqe = &sqes[0];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_CONNECT;
    sqe->fd = s;
    sqe->addr = (unsigned long)&sa;
    sqe->off = sizeof sa;
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail), *mask = (unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    array[*tail & *mask] = 0;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
        printf("enter:%s\n", name(errno));
        return;
    }
    unsigned *head = (unsigned *)(cq + p.cq_off.head), *cmask = (unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) + (*head & *cmask);
    if (cqe->res < 0)
        printf("%s\n", name(-cqe->res));
    else
        exchange(s);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(argv[1], "raw")) {
        int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
        printf("%s\n", s < 0 ? name(errno) : "open");
        s = socket(AF_PACKET, SOCK_RAW, 0);
        printf("%s\n", s < 0 ? name(errno) : "open");
        return 0;
    }
    if (argc < 4)
        return 2;
    int port = atoi(argv[3]);
    if (!strcmp(argv[1], "connect"))
        plain(argv[2], port);
    else if (!strcmp(argv[1], "uring"))
        uring(argv[2], port);
    else if (!strcmp(argv[1], "setsid")) {
        pid_t child = fork();
        if (child == 0) {
            setsid();
            if (fork() == 0) { /* a daemon's grandchild, reparented away from us */
                plain(argv[2], port);
                _exit(0);
            }
            wait(NULL);
            _exit(0);
        }
        waitpid(child, NULL, 0);
    }
    return 0;
}
