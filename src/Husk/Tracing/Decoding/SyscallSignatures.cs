using System.Collections.Frozen;

namespace Husk.Tracing;

/// <summary>The decoding of one system call: its arguments' kinds and its return value's.</summary>
internal sealed record SyscallSignature(ArgumentKind[] Arguments, ReturnKind Return)
{
    /// <summary>Kinds read once the call returned.</summary>
    public static bool IsOutput(ArgumentKind kind) => kind is ArgumentKind.OutBuffer or ArgumentKind.OutPath or ArgumentKind.OutString
        or ArgumentKind.OutSignalSet or ArgumentKind.OutSockaddr or ArgumentKind.OutLength or ArgumentKind.OutStat
        or ArgumentKind.OutStatx or ArgumentKind.OutWaitStatus or ArgumentKind.OutFdPair or ArgumentKind.OutTimespec;

    /// <summary>Whether any argument is read after the call.</summary>
    public bool HasOutputs { get; } = Arguments.Any(IsOutput);
}

/// <summary>
/// How the common system calls' arguments are decoded, written as short words per argument
/// (<c>"dirfd path oflags mode"</c>). A call not listed shows as many arguments as it takes
/// (<see cref="SyscallClasses.ArgumentCount"/>) in hexadecimal.
/// </summary>
internal static class SyscallSignatures
{
    private static readonly FrozenDictionary<string, ArgumentKind> Words = new Dictionary<string, ArgumentKind>
    {
        ["int"] = ArgumentKind.Int, ["long"] = ArgumentKind.Long, ["size"] = ArgumentKind.Size, ["hex"] = ArgumentKind.Hex,
        ["ptr"] = ArgumentKind.Pointer, ["fd"] = ArgumentKind.Fd, ["dirfd"] = ArgumentKind.DirFd, ["path"] = ArgumentKind.Path,
        ["buf"] = ArgumentKind.Buffer, ["obuf"] = ArgumentKind.OutBuffer, ["opath"] = ArgumentKind.OutPath,
        ["ostr"] = ArgumentKind.OutString, ["argv"] = ArgumentKind.Argv, ["envp"] = ArgumentKind.Environment,
        ["oflags"] = ArgumentKind.OpenFlags, ["mode"] = ArgumentKind.Mode, ["omode"] = ArgumentKind.OpenMode, ["fmode"] = ArgumentKind.FileMode,
        ["atflags"] = ArgumentKind.AtFlags, ["amode"] = ArgumentKind.AccessMode, ["prot"] = ArgumentKind.Protection,
        ["mflags"] = ArgumentKind.MmapFlags, ["cflags"] = ArgumentKind.CloneFlags, ["sig"] = ArgumentKind.Signal,
        ["sigset"] = ArgumentKind.SignalSet, ["osigset"] = ArgumentKind.OutSignalSet, ["sa"] = ArgumentKind.Sockaddr,
        ["osa"] = ArgumentKind.OutSockaddr, ["olen"] = ArgumentKind.OutLength, ["family"] = ArgumentKind.Family,
        ["socktype"] = ArgumentKind.SocketType, ["ostat"] = ArgumentKind.OutStat, ["ostatx"] = ArgumentKind.OutStatx,
        ["whence"] = ArgumentKind.Whence, ["fcntl"] = ArgumentKind.FcntlCommand, ["ioctl"] = ArgumentKind.IoctlRequest,
        ["ostatus"] = ArgumentKind.OutWaitStatus, ["wopts"] = ArgumentKind.WaitOptions, ["opipe"] = ArgumentKind.OutFdPair,
        ["ts"] = ArgumentKind.Timespec, ["ots"] = ArgumentKind.OutTimespec, ["clock"] = ArgumentKind.Clock,
        ["prctl"] = ArgumentKind.PrctlOption, ["archprctl"] = ArgumentKind.ArchPrctlCode, ["rlim"] = ArgumentKind.Resource,
        ["rflags"] = ArgumentKind.RenameFlags, ["level"] = ArgumentKind.SocketLevel, ["sighow"] = ArgumentKind.SigprocmaskHow,
        ["shuthow"] = ArgumentKind.ShutdownHow, ["futex"] = ArgumentKind.FutexOp,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly (string Name, string Args, ReturnKind Return)[] Table =
    [
        ("read", "fd obuf size", ReturnKind.Int), ("write", "fd buf size", ReturnKind.Int),
        ("pread64", "fd obuf size long", ReturnKind.Int), ("pwrite64", "fd buf size long", ReturnKind.Int),
        ("readv", "fd ptr int", ReturnKind.Int), ("writev", "fd ptr int", ReturnKind.Int),
        ("open", "path oflags omode", ReturnKind.Int), ("openat", "dirfd path oflags omode", ReturnKind.Int),
        ("openat2", "dirfd path ptr size", ReturnKind.Int), ("creat", "path mode", ReturnKind.Int),
        ("close", "fd", ReturnKind.Int), ("close_range", "fd fd hex", ReturnKind.Int),
        ("stat", "path ostat", ReturnKind.Int), ("lstat", "path ostat", ReturnKind.Int), ("fstat", "fd ostat", ReturnKind.Int),
        ("newfstatat", "dirfd path ostat atflags", ReturnKind.Int), ("statx", "dirfd path atflags hex ostatx", ReturnKind.Int),
        ("access", "path amode", ReturnKind.Int), ("faccessat", "dirfd path amode", ReturnKind.Int),
        ("faccessat2", "dirfd path amode atflags", ReturnKind.Int), ("lseek", "fd long whence", ReturnKind.Int),
        ("mmap", "ptr size prot mflags fd hex", ReturnKind.Hex), ("mprotect", "ptr size prot", ReturnKind.Int),
        ("munmap", "ptr size", ReturnKind.Int), ("brk", "ptr", ReturnKind.Hex), ("mremap", "ptr size size hex ptr", ReturnKind.Hex),
        ("madvise", "ptr size int", ReturnKind.Int), ("rt_sigaction", "sig ptr ptr size", ReturnKind.Int),
        ("rt_sigprocmask", "sighow sigset osigset size", ReturnKind.Int), ("rt_sigreturn", "", ReturnKind.Int),
        ("ioctl", "fd ioctl hex", ReturnKind.Int), ("pipe", "opipe", ReturnKind.Int), ("pipe2", "opipe oflags", ReturnKind.Int),
        ("dup", "fd", ReturnKind.Int), ("dup2", "fd fd", ReturnKind.Int), ("dup3", "fd fd oflags", ReturnKind.Int),
        ("nanosleep", "ts ptr", ReturnKind.Int), ("clock_nanosleep", "clock int ts ptr", ReturnKind.Int),
        ("clock_gettime", "clock ots", ReturnKind.Int), ("clock_getres", "clock ots", ReturnKind.Int),
        ("socket", "family socktype int", ReturnKind.Int), ("connect", "fd sa size", ReturnKind.Int),
        ("bind", "fd sa size", ReturnKind.Int), ("listen", "fd int", ReturnKind.Int),
        ("accept", "fd osa olen", ReturnKind.Int), ("accept4", "fd osa olen socktype", ReturnKind.Int),
        ("sendto", "fd buf size hex sa size", ReturnKind.Int), ("recvfrom", "fd obuf size hex osa olen", ReturnKind.Int),
        ("sendmsg", "fd ptr hex", ReturnKind.Int), ("recvmsg", "fd ptr hex", ReturnKind.Int),
        ("shutdown", "fd shuthow", ReturnKind.Int), ("getsockname", "fd osa olen", ReturnKind.Int),
        ("getpeername", "fd osa olen", ReturnKind.Int), ("socketpair", "family socktype int opipe", ReturnKind.Int),
        ("setsockopt", "fd level int ptr size", ReturnKind.Int), ("getsockopt", "fd level int ptr ptr", ReturnKind.Int),
        ("clone", "cflags ptr ptr ptr hex", ReturnKind.Int), ("clone3", "ptr size", ReturnKind.Int),
        ("fork", "", ReturnKind.Int), ("vfork", "", ReturnKind.Int),
        ("execve", "path argv envp", ReturnKind.Int), ("execveat", "dirfd path argv envp atflags", ReturnKind.Int),
        ("exit", "int", ReturnKind.None), ("exit_group", "int", ReturnKind.None),
        ("wait4", "int ostatus wopts ptr", ReturnKind.Int), ("waitid", "int int ptr wopts ptr", ReturnKind.Int),
        ("kill", "int sig", ReturnKind.Int), ("tkill", "int sig", ReturnKind.Int), ("tgkill", "int int sig", ReturnKind.Int),
        ("fcntl", "fd fcntl hex", ReturnKind.Int), ("flock", "fd int", ReturnKind.Int), ("fsync", "fd", ReturnKind.Int),
        ("fdatasync", "fd", ReturnKind.Int), ("truncate", "path long", ReturnKind.Int), ("ftruncate", "fd long", ReturnKind.Int),
        ("getdents64", "fd ptr size", ReturnKind.Int), ("getcwd", "ostr size", ReturnKind.Int),
        ("chdir", "path", ReturnKind.Int), ("fchdir", "fd", ReturnKind.Int), ("chroot", "path", ReturnKind.Int),
        ("rename", "path path", ReturnKind.Int), ("renameat", "dirfd path dirfd path", ReturnKind.Int),
        ("renameat2", "dirfd path dirfd path rflags", ReturnKind.Int), ("mkdir", "path mode", ReturnKind.Int),
        ("mkdirat", "dirfd path mode", ReturnKind.Int), ("rmdir", "path", ReturnKind.Int),
        ("link", "path path", ReturnKind.Int), ("linkat", "dirfd path dirfd path atflags", ReturnKind.Int),
        ("unlink", "path", ReturnKind.Int), ("unlinkat", "dirfd path atflags", ReturnKind.Int),
        ("symlink", "path path", ReturnKind.Int), ("symlinkat", "path dirfd path", ReturnKind.Int),
        ("readlink", "path opath size", ReturnKind.Int), ("readlinkat", "dirfd path opath size", ReturnKind.Int),
        ("chmod", "path mode", ReturnKind.Int), ("fchmod", "fd mode", ReturnKind.Int), ("fchmodat", "dirfd path mode", ReturnKind.Int),
        ("chown", "path int int", ReturnKind.Int), ("fchown", "fd int int", ReturnKind.Int), ("lchown", "path int int", ReturnKind.Int),
        ("fchownat", "dirfd path int int atflags", ReturnKind.Int), ("umask", "mode", ReturnKind.Octal),
        ("mknod", "path fmode hex", ReturnKind.Int), ("mknodat", "dirfd path fmode hex", ReturnKind.Int),
        ("getrlimit", "rlim ptr", ReturnKind.Int), ("setrlimit", "rlim ptr", ReturnKind.Int),
        ("prlimit64", "int rlim ptr ptr", ReturnKind.Int), ("getrusage", "int ptr", ReturnKind.Int),
        ("ptrace", "int int ptr ptr", ReturnKind.Int), ("prctl", "prctl hex hex hex hex", ReturnKind.Int),
        ("arch_prctl", "archprctl hex", ReturnKind.Int), ("futex", "ptr futex int ptr ptr int", ReturnKind.Int),
        ("set_tid_address", "ptr", ReturnKind.Int), ("set_robust_list", "ptr size", ReturnKind.Int),
        ("rseq", "ptr size int hex", ReturnKind.Int), ("getrandom", "obuf size hex", ReturnKind.Int),
        ("memfd_create", "path hex", ReturnKind.Int), ("eventfd2", "size hex", ReturnKind.Int),
        ("epoll_create1", "hex", ReturnKind.Int), ("epoll_ctl", "fd int fd ptr", ReturnKind.Int),
        ("epoll_wait", "fd ptr int int", ReturnKind.Int), ("epoll_pwait", "fd ptr int int ptr size", ReturnKind.Int),
        ("poll", "ptr size int", ReturnKind.Int), ("ppoll", "ptr size ts ptr size", ReturnKind.Int),
        ("mount", "path path path hex ptr", ReturnKind.Int), ("umount2", "path hex", ReturnKind.Int),
        ("pivot_root", "path path", ReturnKind.Int), ("sendfile", "fd fd ptr size", ReturnKind.Int),
        ("statfs", "path ptr", ReturnKind.Int), ("fstatfs", "fd ptr", ReturnKind.Int),
        ("utimensat", "dirfd path ptr atflags", ReturnKind.Int), ("inotify_add_watch", "fd path hex", ReturnKind.Int),
        ("setpgid", "int int", ReturnKind.Int), ("getpgid", "int", ReturnKind.Int), ("getsid", "int", ReturnKind.Int),
        ("sigaltstack", "ptr ptr", ReturnKind.Int), ("alarm", "size", ReturnKind.Int),
        ("pidfd_open", "int hex", ReturnKind.Int), ("pidfd_send_signal", "fd sig ptr hex", ReturnKind.Int),
        ("seccomp", "int hex ptr", ReturnKind.Int), ("copy_file_range", "fd ptr fd ptr size hex", ReturnKind.Int),
        ("fadvise64", "fd long long int", ReturnKind.Int), ("fallocate", "fd int long long", ReturnKind.Int),
        ("unshare", "cflags", ReturnKind.Int), ("setns", "fd cflags", ReturnKind.Int),
        ("setuid", "int", ReturnKind.Int), ("setgid", "int", ReturnKind.Int),
        ("sched_getaffinity", "int size ptr", ReturnKind.Int), ("sched_setaffinity", "int size ptr", ReturnKind.Int),
    ];

    private static readonly FrozenDictionary<string, SyscallSignature> ByName =
        Table.ToFrozenDictionary(t => t.Name, t => new SyscallSignature(Parse(t.Args), t.Return), StringComparer.Ordinal);

    private static readonly SyscallSignature[] Generic =
        [.. Enumerable.Range(0, 7).Select(n => new SyscallSignature([.. Enumerable.Repeat(ArgumentKind.Hex, n)], ReturnKind.Int))];

    /// <summary>The signature of <paramref name="name"/>: its own, or a generic one of its arity.</summary>
    public static SyscallSignature Of(string name) =>
        ByName.TryGetValue(name, out var s) ? s : Generic[Math.Clamp(SyscallClasses.ArgumentCount(name), 0, 6)];

    /// <summary>Whether <paramref name="name"/> has a signature of its own.</summary>
    public static bool IsKnown(string name) => ByName.ContainsKey(name);

    /// <summary>Every call with a signature of its own.</summary>
    public static IEnumerable<string> Names => ByName.Keys;

    internal static ArgumentKind[] Parse(string words) =>
        [.. words.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => Words.TryGetValue(w, out var k) ? k : throw new ArgumentException($"unknown argument word '{w}'", nameof(words)))];
}
