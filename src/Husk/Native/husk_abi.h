/* The ABI between C# and the native stage. Every struct and constant here has a C# twin in
 * src/Husk/Interop/Interop.Spawn.cs; AbiTests compiles this header and checks that sizes,
 * offsets and every HUSK_* value agree. Fixed-width types only; pointers travel as u64.
 * The file that includes it provides the SIG* names (<signal.h> or <linux/signal.h>). */
#ifndef HUSK_ABI_H
#define HUSK_ABI_H

#include <stdint.h>

/* Operation kinds, walked in order by the child. */
enum {
    HUSK_OP_NOP = 0,
    HUSK_OP_WAIT_PARENT = 1,   /* read one message from the channel: id maps are written */
    HUSK_OP_SETNS = 2,         /* fd, a = nstype */
    HUSK_OP_UNSHARE = 3,       /* a = CLONE_* flags */
    HUSK_OP_FORK = 4,          /* parent becomes husk-init waiting for the child; p1 = int32 fds it keeps, a = count, fd = status fd */
    HUSK_OP_ROOT_BEGIN = 5,    /* s1 = base dir: tmpfs there (a = MS_* flags, s2 = options), newroot + oldroot, pivot_root */
    HUSK_OP_ROOT_FINISH = 6,   /* detach oldroot, pivot into newroot; a = MS_SHARED etc. applied to every mount, or 0 */
    HUSK_OP_BIND = 7,          /* s1 = source, s2 = destination (or fd = source fd); a = more MOUNT_ATTR_*, c = 1: not recursive */
    HUSK_OP_MOUNT = 8,         /* s1 = fs type, s2 = destination, p1 = options block, a = MOUNT_ATTR_* */
    HUSK_OP_MKDIR = 9,         /* s2 = path, mode */
    HUSK_OP_SYMLINK = 10,      /* s1 = target, s2 = path */
    HUSK_OP_WRITE_FILE = 11,   /* s2 = path, p1/c = data or fd = source, mode */
    HUSK_OP_CHMOD = 12,        /* s2 = path, mode */
    HUSK_OP_REMOUNT_RO = 13,   /* s2 = path */
    HUSK_OP_CHDIR = 14,        /* p1 = candidate dirs, p2 = "PWD=dir" for each, c = envp slot to set; or s2 */
    HUSK_OP_SETHOSTNAME = 15,  /* s1 = name */
    HUSK_OP_WRITE_PROC = 16,   /* s1 = path relative to the host /proc fd, p1/c = data */
    HUSK_OP_SETID = 17,        /* a = uid, b = gid; HUSK_F_SETGROUPS: set the groups p1 (c of them, uint32), none when c = 0 */
    HUSK_OP_CAPS = 18,         /* p1 = struct husk_caps */
    HUSK_OP_PRCTL = 19,        /* a = option, b = arg2, c = arg3 */
    HUSK_OP_RLIMIT = 20,       /* a = resource, b = soft, c = hard; HUSK_F_CLAMP: no higher than the hard limit now */
    HUSK_OP_SETSID = 21,
    HUSK_OP_DUP2 = 22,         /* fd -> a (with HUSK_F_PTY_SLAVE: the pty slave -> a) */
    HUSK_OP_CLOEXEC_RANGE = 23,/* a = first, b = last */
    HUSK_OP_WAIT_FD = 24,      /* read one byte from fd, then close it */
    HUSK_OP_LOCK_FILE = 25,    /* s2 = path; the open file keeps a read lock (OFD), held by husk-init */
    HUSK_OP_SECCOMP = 26,      /* p1 = struct sock_filter[], c = count, a = seccomp flags */
    HUSK_OP_EXEC = 27,         /* s1 = file, p1 = argv, p2 = envp; flags: HUSK_F_SEARCH_PATH, HUSK_F_SCRIPT_SHELL, HUSK_F_ENV_PID (c = envp slot), HUSK_F_EXEC_INIT */
    HUSK_OP_LOOPBACK_UP = 28,
    HUSK_OP_CLOSE = 29,        /* fd */
    HUSK_OP_UMASK = 30,        /* mode */
    HUSK_OP_EXPECT_NO_USERNS = 31, /* unshare(CLONE_NEWUSER) must fail now */
    HUSK_OP_SIGNAL_MASK = 32,  /* a = mask of signals 1..64 to block (0 unblocks all); b = mask of signals to ignore */
    HUSK_OP_LANDLOCK_CREATE = 33, /* p1 = ruleset attr, c = its size; the fd is kept in the child */
    HUSK_OP_LANDLOCK_RULE = 34,   /* s2 = path (a = access mask) or a = port rule; b = rule type */
    HUSK_OP_LANDLOCK_RESTRICT = 35,
    HUSK_OP_SET_CTTY = 36,     /* fd becomes the controlling terminal (after setsid) */
    HUSK_OP_OPEN_PTY = 37,     /* s1 = ptmx inside; the child keeps the slave, the master goes to the supervisor; p1 = winsize */
    HUSK_OP_ATTACH_MOUNT = 38, /* receive a detached mount the supervisor made (SCM_RIGHTS, a husk_report whose error says why there is none) and attach it at s2 */
    HUSK_OP_RUN = 39,          /* run s1 with argv p1 and an empty environment, stdin = the text s2, keeping the capabilities of mask a (ambient); wait; fail unless it exits 0 (HUSK_F_TRY: ignore) */
    HUSK_OP_NET_SOCKET = 40,   /* socket(a = family, b = type), bound to the address p1 (c = its port), listening if a stream; sent to the supervisor (HUSK_REPORT_SOCKET, op = this op) */
    HUSK_OP_MKNOD = 41,        /* s2 = path, mode = type and permissions, a = dev_t, b = uid, c = gid (~0: leave); HUSK_F_TRY: bind s1 (old root) when mknod is refused */
    HUSK_OP_MASK = 42,         /* s2 = path: a directory gets a read-only empty tmpfs, anything else /dev/null (s1, old root); missing: nothing */
    HUSK_OP_PERSONALITY = 43,  /* a = persona for personality(2) */
    HUSK_OP_SYNC = 44,         /* report HUSK_REPORT_SYNC and wait for one byte from the supervisor */
    HUSK_OP_RETURN = 45,       /* HUSK_SPAWN_CONTINUE: close the stage's descriptors and return from husk_spawn (1) in the payload */
    HUSK_OP_CHROOT = 46,       /* s1 = new root: chroot(2) there and chdir to it; /proc stays reachable
                                  through a descriptor, also put at fd when fd >= 0 (husk-init's gate) */
    HUSK_OP_COUNT
};

/* Flags. Bits 0-1 name the root of s1, bits 2-3 the root of s2. */
#define HUSK_ROOT_NEW   0u   /* the sandbox's future root (/newroot while building) */
#define HUSK_ROOT_OLD   1u   /* the host's root, as /oldroot while building */
#define HUSK_ROOT_BASE  2u   /* the hidden tmpfs that holds both while building */
#define HUSK_ROOT_CWD   3u   /* plain path resolution (before ROOT_BEGIN or after ROOT_FINISH) */
#define HUSK_S1_ROOT(flags) ((flags) & 3u)
#define HUSK_S2_ROOT(flags) (((flags) >> 2) & 3u)

#define HUSK_F_TRY           (1u << 4)  /* a missing source skips the op */
#define HUSK_F_READONLY      (1u << 5)
#define HUSK_F_DEVICES       (1u << 6)  /* bind keeps device access */
#define HUSK_F_IF_WRITABLE   (1u << 7)  /* bind only when the source is writable (proc covers) */
#define HUSK_F_SOURCE_FD     (1u << 8)  /* bind: fd is an open file of the caller */
#define HUSK_F_EXEC_INIT     (1u << 9)  /* exec: execveat husk-init with argv p1 (its gate mode), the channel dup'ed to b */
#define HUSK_F_BIND_DATA     (1u << 10) /* write file: write to a hidden file and bind it */
#define HUSK_F_SEARCH_PATH   (1u << 11) /* exec: search PATH of envp */
#define HUSK_F_SETGROUPS     (1u << 12) /* setid: set (or clear) the supplementary groups */
#define HUSK_F_REPORT_PID    (1u << 13) /* fork: report the child's pid to the supervisor */
#define HUSK_F_INIT_STATUS   (1u << 14) /* fork: husk-init writes the payload's status to fd */
#define HUSK_F_NO_CREATE     (1u << 15) /* do not create the destination */
#define HUSK_F_NOFOLLOW      (1u << 16) /* do not follow a final symlink in the source */
#define HUSK_F_SEND_LISTENER (1u << 17) /* seccomp: send the user-notify fd to the supervisor */
#define HUSK_F_IDENTICAL_OK  (1u << 18) /* symlink: an identical existing link is fine */
#define HUSK_F_DETACH        (1u << 19) /* fork: the child becomes a sibling (CLONE_PARENT) and the forker exits once it execs */
#define HUSK_F_PTY_SLAVE     (1u << 20) /* dup2: the source is the pty slave OPEN_PTY made */
#define HUSK_F_CLAMP         (1u << 21) /* rlimit: clamp both values to the current hard limit */
#define HUSK_F_SCRIPT_SHELL  (1u << 22) /* exec: ENOEXEC runs the file with /bin/sh (execvp); argv has a spare slot before argv[0] */
#define HUSK_F_REPORT_STOPS  (1u << 23) /* fork: husk-init also writes a status record when the payload stops */
#define HUSK_F_SUID          (1u << 24) /* bind keeps setuid (no nosuid) */
#define HUSK_F_NO_PARENTS    (1u << 25) /* symlink: a missing parent is an error */
#define HUSK_F_OVERMOUNT     (1u << 26) /* symlink: mount a new link over a different non-directory */
#define HUSK_F_ONTO_SYMLINK  (1u << 27) /* bind: a non-directory goes on a destination symlink itself */
#define HUSK_F_ENV_PID       (1u << 28) /* exec: append our pid to the envp entry c points at */
#define HUSK_F_SEND_BASE     (1u << 29) /* root begin: send the supervisor an open directory of the base tmpfs */
#define HUSK_F_DOMAIN        (1u << 30) /* sethostname: set the NIS domain name instead */
#define HUSK_F_CONSOLE       (1u << 31) /* open pty: also bind the slave on s2 (/dev/console) */
/* Every bit is taken: a new flag reuses one another kind of op never reads. */

/* One operation: 72 bytes. */
typedef struct husk_op {
    uint32_t kind;
    uint32_t flags;
    int32_t fd;
    uint32_t mode;
    uint64_t a;
    uint64_t b;
    uint64_t c;
    uint64_t s1;   /* const char * */
    uint64_t s2;   /* const char * */
    uint64_t p1;   /* const void * */
    uint64_t p2;   /* const void * */
} husk_op;

typedef struct husk_spawn_args {
    uint64_t clone_flags;   /* CLONE_NEW* (CLONE_PIDFD and CLONE_INTO_CGROUP are added here) */
    uint64_t ops;           /* const husk_op * */
    uint32_t op_count;
    int32_t cgroup_fd;      /* a cgroup directory to start in, or -1 */
    int32_t init_fd;        /* sealed memfd holding husk-init */
    int32_t flags;          /* HUSK_SPAWN_* */
    uint64_t host_mntns;    /* inode of the supervisor's mount namespace */
    int32_t channel;        /* the child's end of the supervisor's seqpacket channel (close-on-exec) */
    int32_t channel_peer;   /* the supervisor's end, which the child closes at once */
    uint64_t fd_moves;      /* const int32_t *: before anything else the child puts fd_moves[i] at
                             * fd_move_base + i in its own table (close-on-exec), or 0 */
    uint32_t fd_move_count;
    int32_t fd_move_base;
} husk_spawn_args;

#define HUSK_SPAWN_MOUNTS 1  /* the plan mounts: refuse to run in the host's mount namespace */
/* 2 was HUSK_SPAWN_COPY (a pool's template cloned copies of itself); unused since its runs borrow its memory */
#define HUSK_SPAWN_BUILDING 4 /* the caller is halfway through a build (a pool template): the child goes on with it,
                              * the host's /proc at /oldroot/proc */
#define HUSK_SPAWN_DETACHED 8 /* the sandbox outlives the supervisor: no parent-death signal (husk-runtime) */
#define HUSK_SPAWN_CONTINUE 16 /* the payload is the caller itself (libmini-sandbox): husk_continue's copy of a process
                                * clones a copy of itself as its parent's child (CLONE_PARENT), the plan's forks copy
                                * too (glibc's _Fork), and the payload's RETURN op makes husk_spawn return 1 in it */

/* husk_spawn returns once the child has exec'd (or died): it shares the caller's memory until
 * then (CLONE_VM|CLONE_VFORK). Meanwhile another thread serves the channel: the child says hello
 * with its pid, waits for its ids to be mapped and the go byte, then reports until exec. */
typedef struct husk_spawn_result {
    int32_t pid;
    int32_t pidfd;
    int32_t error;          /* errno when husk_spawn itself failed */
    int32_t reserved;
} husk_spawn_result;

/* A message from the child on the channel: 24 bytes. */
enum {
    HUSK_REPORT_ERROR = 1,  /* op failed: op, step, error */
    HUSK_REPORT_PID = 2,    /* its SCM_CREDENTIALS carry the sandbox process pid, translated by the kernel */
    HUSK_REPORT_LISTENER = 3, /* a seccomp listener fd travels with this message */
    HUSK_REPORT_TERMINAL = 4, /* the master of the sandbox's pseudo-terminal travels with this message */
    HUSK_REPORT_HELLO = 5,  /* first message: SCM_CREDENTIALS carry the cloned child's pid */
    HUSK_REPORT_DETAIL = 6, /* text after the header explains the next error (e.g. an existing symlink's target) */
    HUSK_REPORT_STORAGE = 7, /* the base tmpfs (layers of storage-backed overlays) travels with this message */
    HUSK_REPORT_CHDIR = 8,  /* chdir fell back: value = index of the candidate entered (the first was not there) */
    HUSK_REPORT_SOCKET = 9, /* a socket NET_SOCKET made in the sandbox's network namespace travels with this message */
    HUSK_REPORT_SYNC = 10,  /* a SYNC op waits: the supervisor sends one byte to let it go on */
};

typedef struct husk_report {
    int32_t kind;
    int32_t op;
    int32_t step;
    int32_t error;
    int64_t value;
} husk_report;

/* What husk-init writes to its status fd when the payload ends: 40 bytes. */
typedef struct husk_init_status {
    int32_t magic;          /* HUSK_INIT_MAGIC */
    int32_t wait_status;    /* as from wait4; a stopped status (low byte 0x7f) when the payload stopped */
    int64_t user_usec;      /* children's rusage, payload's tree */
    int64_t system_usec;
    int64_t max_rss_kib;
    int64_t written_bytes;  /* wchar of husk-init's I/O accounting (the reaped tree's writes), or -1 */
} husk_init_status;

#define HUSK_INIT_MAGIC 0x48534b31 /* "HSK1" */

/* Sent to husk-init from outside the sandbox: kill every process in it (kill(-1) as pid 1),
 * reap them all, then report the payload's status with the whole tree's usage. */
#define HUSK_SIG_KILL_TREE 64

/* Signal sets as masks of 64 bits: bit N-1 stands for signal N. */
#define HUSK_SIGNAL_BIT(sig) (1ull << ((sig) - 1))

/* What husk-init passes on to the payload when it is sent to husk-init itself (the terminal's
 * reach the payload anyway); the supervisor forwards these but SIGWINCH to the sandbox. */
#define HUSK_FORWARDED_SIGNALS                                                                   \
    (HUSK_SIGNAL_BIT(SIGHUP) | HUSK_SIGNAL_BIT(SIGINT) | HUSK_SIGNAL_BIT(SIGQUIT) |              \
     HUSK_SIGNAL_BIT(SIGUSR1) | HUSK_SIGNAL_BIT(SIGUSR2) | HUSK_SIGNAL_BIT(SIGTERM) |            \
     HUSK_SIGNAL_BIT(SIGWINCH))

/* What husk-init reads from its signalfd; the stage blocks them before its exec, so none is lost. */
#define HUSK_INIT_SIGNALS (HUSK_FORWARDED_SIGNALS | HUSK_SIGNAL_BIT(SIGCHLD) | HUSK_SIGNAL_BIT(HUSK_SIG_KILL_TREE))

typedef struct husk_caps {
    uint64_t bounding;      /* capabilities kept in the bounding set */
    uint64_t effective;
    uint64_t permitted;
    uint64_t inheritable;
    uint64_t ambient;
    uint32_t securebits;
    uint32_t flags;         /* HUSK_CAPS_* */
} husk_caps;

#define HUSK_CAPS_SET_SECUREBITS 1
#define HUSK_CAPS_ONLY_RAISE_AMBIENT 2 /* touch nothing else; skip ambient caps that cannot be raised */

/* Steps inside one op, so an error names what failed. */
enum {
    HUSK_STEP_NONE = 0,
    HUSK_STEP_SOURCE = 1,     /* resolving the source */
    HUSK_STEP_DEST = 2,       /* resolving or creating the destination */
    HUSK_STEP_PARENTS = 3,    /* creating the destination's parents */
    HUSK_STEP_MOUNT = 4,      /* the mount itself */
    HUSK_STEP_ATTR = 5,       /* applying mount flags */
    HUSK_STEP_DATA = 6,       /* reading or writing data */
    HUSK_STEP_OPTION = 7,     /* a mount option (value names it) */
    HUSK_STEP_EXISTS = 8,     /* something different already exists there */
    HUSK_STEP_RACE = 9,       /* the bound file is not the file given */
    HUSK_STEP_NAMESPACE = 10, /* still in the host's mount namespace */
    HUSK_STEP_INIT = 11,      /* starting husk-init */
};

/* ---- pool templates (src/Husk/Pools) ----
 *
 * A plan laid out in one buffer, so that it can travel to a pool's template: every pointer in it
 * (op fields, string arrays, the chdir op's env slot) holds an offset from the buffer's start, and
 * the relocation table lists where those pointers are, each an offset of an 8-byte slot. */
typedef struct husk_plan_image {
    uint32_t magic;         /* HUSK_PLAN_MAGIC */
    uint32_t op_count;
    uint64_t ops;           /* offset of the op array */
    uint64_t relocs;        /* offset of the relocation table: uint64_t offsets */
    uint32_t reloc_count;
    uint32_t size;          /* bytes in the whole image */
} husk_plan_image;

#define HUSK_PLAN_MAGIC 0x48504c31 /* "HPL1" */

/* A spawn request to a template (one seqpacket message: this header, then the run's plan image).
 * The descriptors travel with it (SCM_RIGHTS) and land at HUSK_POOL_FD_BASE + their index, which
 * is where the run's plan names them. */
typedef struct husk_pool_request {
    uint32_t magic;         /* HUSK_POOL_MAGIC */
    uint32_t fd_count;
    uint64_t clone_flags;   /* the run's CLONE_NEW* */
    uint64_t host_mntns;    /* inode of the supervisor's mount namespace */
    int32_t channel;        /* index of the run's end of its seqpacket channel to the supervisor */
    int32_t status;         /* index of the run's status pipe: the template writes the run's end there */
    int32_t cgroup;         /* index of a cgroup directory (CLONE_INTO_CGROUP), or -1 */
    uint32_t flags;         /* none yet */
    uint64_t id;            /* the asker's number for it: the answer carries it back */
} husk_pool_request;

/* The template's answer: to a request (the run's pidfd travels with it, SCM_RIGHTS), or once at
 * its start (kind HUSK_POOL_READY). */
typedef struct husk_pool_reply {
    uint32_t magic;         /* HUSK_POOL_MAGIC */
    int32_t kind;           /* HUSK_POOL_READY or HUSK_POOL_SPAWNED */
    int32_t error;          /* errno when it failed */
    int32_t pid;            /* the run's pid in the template's pid namespace */
    uint64_t id;            /* the request's id (answers come as runs exec, not in request order) */
} husk_pool_reply;

#define HUSK_POOL_MAGIC 0x48504f31 /* "HPO1" */
#define HUSK_POOL_READY 1
#define HUSK_POOL_SPAWNED 2
#define HUSK_POOL_FD_BASE 256   /* a run's descriptors, in the run (it moves them there itself), from here */
#define HUSK_POOL_MAX_FDS 32

#endif
