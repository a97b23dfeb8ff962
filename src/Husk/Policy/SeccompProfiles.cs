using System.Collections.Immutable;
using static Husk.Interop.Interop.Clone;

namespace Husk.Policy;

/// <summary>
/// Husk's built-in seccomp policies. <see cref="Default"/> is an allow list in the spirit of
/// Docker's default profile, current for modern glibc, Go and Rust, for a payload that holds no
/// capabilities: what it leaves out fails with EPERM (ENOSYS for calls newer than Husk's tables,
/// and for clone3, whose flags a filter cannot read, so libc falls back to clone).
/// </summary>
public static class SeccompProfiles
{
    /// <summary>Namespace flags of clone and unshare (CLONE_NEWTIME only for unshare: in clone's flags 0x80 is part of the exit signal).</summary>
    public const ulong CloneNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
    /// <summary>TIOCSTI: push a byte into a terminal's input queue.</summary>
    public const uint TIOCSTI = 0x5412;
    /// <summary>TIOCLINUX: the virtual console's multiplexed ioctl (its selection can inject input).</summary>
    public const uint TIOCLINUX = 0x541C;

    /// <summary>System calls the default profile allows without conditions.</summary>
    public static readonly IReadOnlySet<string> DefaultAllowed = new HashSet<string>(
    [
        // files and descriptors
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
        "open", "openat", "openat2", "creat", "close", "close_range", "dup", "dup2", "dup3", "lseek",
        "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "ustat", "access", "faccessat", "faccessat2",
        "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "mknod", "mknodat",
        "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat",
        "rename", "renameat", "renameat2", "truncate", "ftruncate", "fallocate", "fadvise64", "readahead",
        "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask",
        "utime", "utimes", "utimensat", "futimesat", "flock", "fcntl", "ioctl",
        "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "msync",
        "setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
        "flistxattr", "removexattr", "lremovexattr", "fremovexattr", "setxattrat", "getxattrat", "listxattrat",
        "removexattrat", "file_getattr", "file_setattr", "name_to_handle_at",
        "sendfile", "splice", "tee", "vmsplice", "copy_file_range", "pipe", "pipe2", "memfd_create", "memfd_secret",
        "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",
        "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "cachestat",
        "statmount", "listmount",
        // polling and events
        "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
        "timerfd_settime", "timerfd_gettime",
        // memory
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "mlock", "mlock2", "munlock",
        "mlockall", "munlockall", "remap_file_pages", "membarrier", "pkey_alloc", "pkey_free", "pkey_mprotect",
        "mseal", "map_shadow_stack", "mbind", "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node",
        "move_pages", "process_madvise", "process_mrelease",
        // processes and threads (clone, clone3, unshare and personality have rules below)
        "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill", "tkill", "tgkill",
        "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "getpid", "getppid", "gettid", "getpgid", "setpgid",
        "getpgrp", "getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
        "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "arch_prctl", "prctl",
        "set_thread_area", "get_thread_area", "modify_ldt", "ptrace", "process_vm_readv", "process_vm_writev",
        "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
        "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
        "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
        "sched_rr_get_interval", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
        "ioprio_get", "ioprio_set", "getrlimit", "setrlimit", "prlimit64", "getrusage", "times",
        "uretprobe", "uprobe",
        // signals
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait", "rt_sigqueueinfo",
        "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "pause", "alarm", "getitimer", "setitimer",
        "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
        // time
        "time", "gettimeofday", "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "adjtimex",
        "clock_adjtime",
        // identity (capabilities decide what succeeds)
        "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid",
        "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups", "capget", "capset",
        // system information
        "uname", "sysinfo", "getcpu", "getrandom", "sethostname", "setdomainname", "lsm_get_self_attr",
        "lsm_list_modules",
        // sockets
        "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername",
        "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt",
        // System V and POSIX IPC
        "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget", "msgsnd",
        "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
        "restart_syscall",
    ], StringComparer.Ordinal);

    /// <summary>
    /// The native CLI's default: <see cref="DefaultAllowed"/>, clone and unshare without namespace
    /// flags, ioctl except TIOCSTI and TIOCLINUX, the harmless personalities, clone3 answering ENOSYS.
    /// Everything else (io_uring, keyctl, bpf, perf_event_open, userfaultfd, kexec, modules, the mount
    /// family, chroot, pivot_root, setns, ...) fails with EPERM.
    /// </summary>
    public static SeccompPolicy Default => DefaultPolicy.Value;

    /// <summary>
    /// For contest programs (the judge profile): computation, memory, reading and writing open files,
    /// no new processes, no sockets, and anything else kills the program (the verdict shows SIGSYS).
    /// </summary>
    public static SeccompPolicy Judge => JudgePolicy.Value;

    /// <summary>Built-in policies by name.</summary>
    public static readonly IReadOnlyDictionary<string, SeccompPolicy> BuiltIn = new BuiltInPolicies();

    // Each policy is built the first time it is asked for (its own class's static constructor, so
    // once and thread-safely): a cold start that uses neither does not build them.
    private static class DefaultPolicy
    {
        internal static readonly SeccompPolicy Value = BuildDefault();
    }

    private static class JudgePolicy
    {
        internal static readonly SeccompPolicy Value = BuildJudge();
    }

    /// <summary>The names of <see cref="BuiltIn"/>, each policy built only when looked up.</summary>
    private sealed class BuiltInPolicies : IReadOnlyDictionary<string, SeccompPolicy>
    {
        private static readonly string[] Names = ["default", "judge"];

        public SeccompPolicy this[string key] => TryGetValue(key, out var policy) ? policy : throw new KeyNotFoundException(key);
        public IEnumerable<string> Keys => Names;
        public IEnumerable<SeccompPolicy> Values => Names.Select(n => this[n]);
        public int Count => Names.Length;
        public bool ContainsKey(string key) => Array.IndexOf(Names, key) >= 0;

        public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out SeccompPolicy value)
        {
            value = key switch
            {
                "default" => Default,
                "judge" => Judge,
                _ => null,
            };
            return value is not null;
        }

        public IEnumerator<KeyValuePair<string, SeccompPolicy>> GetEnumerator() =>
            Names.Select(n => new KeyValuePair<string, SeccompPolicy>(n, this[n])).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>System calls mkosi-sandbox's --suppress-chown makes successful no-ops.</summary>
    public static readonly ImmutableArray<string> ChownCalls = ["chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32"];

    /// <summary>System calls mkosi-sandbox's --suppress-sync makes successful no-ops.</summary>
    public static readonly ImmutableArray<string> SyncCalls = ["fdatasync", "fsync", "msync", "sync", "sync_file_range", "sync_file_range2", "syncfs"];

    /// <summary>
    /// Allows everything but makes the named calls succeed without doing anything (errno 0), as
    /// sandbox.py's filter does; system calls of foreign architectures pass, as there.
    /// </summary>
    public static SeccompPolicy SuccessfulNoOps(IEnumerable<string> calls) => new()
    {
        DefaultAction = SeccompAction.Allow,
        ForeignAction = SeccompAction.Allow,
        UnknownAction = null,
        Rules = [.. calls.Where(SyscallTable.IsKnown).Select(c => new SeccompRule(c, SeccompAction.Fail(0)))],
    };

    /// <summary>
    /// Allows everything but the named calls, which fail with <paramref name="errno"/> (microbox's
    /// profile: a deny list answering ENOSYS). Names this architecture lacks are left out, as
    /// libseccomp's resolver skips them; foreign architectures pass, as under libseccomp's native filter.
    /// </summary>
    public static SeccompPolicy DenyList(IEnumerable<string> calls, Errno errno) => new()
    {
        DefaultAction = SeccompAction.Allow,
        ForeignAction = SeccompAction.Allow,
        UnknownAction = null,
        Rules = [.. calls.Where(c => SyscallTable.Native.Number(c) is not null).Distinct().Select(c => new SeccompRule(c, SeccompAction.Fail(errno)))],
    };

    private static SeccompPolicy BuildDefault()
    {
        var eperm = SeccompAction.Fail(Errno.EPERM);
        var rules = ImmutableArray.CreateBuilder<SeccompRule>();
        foreach (string name in DefaultAllowed.Order(StringComparer.Ordinal))
            rules.Add(new SeccompRule(name, SeccompAction.Allow));
        // Terminal input injection: refused before the general ioctl allowance.
        rules.Add(new SeccompRule("ioctl", eperm) { Priority = 1, Conditions = [new ArgumentCondition(1, ArgumentComparison.Equal, TIOCSTI) { Is32Bit = true }] });
        rules.Add(new SeccompRule("ioctl", eperm) { Priority = 1, Conditions = [new ArgumentCondition(1, ArgumentComparison.Equal, TIOCLINUX) { Is32Bit = true }] });
        rules.Add(new SeccompRule("clone", SeccompAction.Allow) { Conditions = [ArgumentCondition.Masked(0, CloneNamespaceFlags, 0)] });
        rules.Add(new SeccompRule("unshare", SeccompAction.Allow) { Conditions = [ArgumentCondition.Masked(0, CloneNamespaceFlags | CLONE_NEWTIME, 0)] });
        rules.Add(new SeccompRule("clone3", SeccompAction.Fail(Errno.ENOSYS)));
        // personality: only the values Docker allows (Linux, PER_LINUX32, UNAME26, both, and the query).
        foreach (uint p in new uint[] { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff })
            rules.Add(new SeccompRule("personality", SeccompAction.Allow) { Conditions = [new ArgumentCondition(0, ArgumentComparison.Equal, p) { Is32Bit = true }] });
        return new SeccompPolicy { DefaultAction = eperm, Rules = rules.ToImmutable() };
    }

    private static SeccompPolicy BuildJudge()
    {
        string[] allowed =
        [
            "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "fstat", "newfstatat",
            "statx", "stat", "lstat", "access", "faccessat", "faccessat2", "open", "openat", "readlink", "readlinkat",
            "getcwd", "getdents64", "fcntl", "ioctl", "dup", "dup2", "dup3", "brk", "mmap", "munmap", "mremap",
            "mprotect", "madvise", "mincore", "execve", "exit", "exit_group", "arch_prctl", "set_tid_address",
            "set_robust_list", "get_robust_list", "rseq", "futex", "prlimit64", "getrlimit", "getrusage", "times",
            "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "getpid", "gettid", "getuid", "geteuid",
            "getgid", "getegid", "uname", "sysinfo", "getrandom", "clock_gettime", "clock_getres", "gettimeofday",
            "time", "nanosleep", "clock_nanosleep", "sched_yield", "sched_getaffinity", "tgkill", "kill",
            "membarrier", "poll", "ppoll", "select", "pselect6", "pipe", "pipe2", "mseal", "map_shadow_stack",
        ];
        return new SeccompPolicy
        {
            DefaultAction = SeccompAction.KillProcess,
            UnknownAction = SeccompAction.KillProcess,
            Rules =
            [
                .. allowed.Select(n => new SeccompRule(n, SeccompAction.Allow)),
                // Threads, not processes: clone only with CLONE_THREAD.
                new SeccompRule("clone", SeccompAction.Allow) { Conditions = [ArgumentCondition.Masked(0, CLONE_THREAD, CLONE_THREAD)] },
            ],
        };
    }
}
