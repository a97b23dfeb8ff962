using System.Runtime.InteropServices;

namespace Husk.Tracing;

/// <summary>The flag and value names of Linux's system call arguments, as strace prints them (x86_64 and aarch64).</summary>
internal static class FlagTables
{
    private static readonly bool Arm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    private static string? AccessModeName(ulong v) => v switch { 0 => "O_RDONLY", 1 => "O_WRONLY", 2 => "O_RDWR", _ => null };

    /// <summary>open's flags; aarch64 moves four of them.</summary>
    public static readonly FlagTable Open = new("O_RDONLY",
        (0x101000, "O_SYNC"), (Arm64 ? 0x404000UL : 0x410000UL, "O_TMPFILE"),
        (0x40, "O_CREAT"), (0x80, "O_EXCL"), (0x100, "O_NOCTTY"), (0x200, "O_TRUNC"), (0x400, "O_APPEND"),
        (0x800, "O_NONBLOCK"), (0x1000, "O_DSYNC"), (0x2000, "O_ASYNC"),
        (Arm64 ? 0x10000UL : 0x4000UL, "O_DIRECT"), (Arm64 ? 0x20000UL : 0x8000UL, "O_LARGEFILE"),
        (Arm64 ? 0x4000UL : 0x10000UL, "O_DIRECTORY"), (Arm64 ? 0x8000UL : 0x20000UL, "O_NOFOLLOW"),
        (0x40000, "O_NOATIME"), (0x80000, "O_CLOEXEC"), (0x200000, "O_PATH"))
    {
        Field = (3, AccessModeName),
    };

    public static readonly FlagTable At = new("0",
        (0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
        (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"),
        (0x4000, "AT_STATX_DONT_SYNC"), (0x8000, "AT_RECURSIVE"));

    /// <summary>access's mode: F_OK, or R_OK|W_OK|X_OK.</summary>
    public static readonly FlagTable Access = new("F_OK", (4, "R_OK"), (2, "W_OK"), (1, "X_OK"));

    public static readonly FlagTable Protection = new("PROT_NONE",
        (1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (8, "PROT_SEM"),
        (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP"));

    public static readonly FlagTable Mmap = new("0",
        (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x100, "MAP_GROWSDOWN"),
        (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"), (0x4000, "MAP_NORESERVE"),
        (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"),
        (0x80000, "MAP_SYNC"), (0x100000, "MAP_FIXED_NOREPLACE"))
    {
        Field = (0xf, v => v switch { 1 => "MAP_SHARED", 2 => "MAP_PRIVATE", 3 => "MAP_SHARED_VALIDATE", _ => null }),
    };

    /// <summary>clone's flags, with the exit signal in the low byte.</summary>
    public static readonly FlagTable Clone = new("0",
        (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
        (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"), (0x8000, "CLONE_PARENT"),
        (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"), (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"),
        (0x100000, "CLONE_PARENT_SETTID"), (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
        (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"), (0x2000000, "CLONE_NEWCGROUP"),
        (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"), (0x10000000, "CLONE_NEWUSER"),
        (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"), (0x80000000, "CLONE_IO"))
    {
        Field = (0xff, v => v == 0 ? null : SignalDecoder.Name((int)v)),
        FieldLast = true,
    };

    public static readonly ValueTable Family = new(
        (0, "AF_UNSPEC"), (1, "AF_UNIX"), (2, "AF_INET"), (3, "AF_AX25"), (4, "AF_IPX"), (5, "AF_APPLETALK"),
        (9, "AF_X25"), (10, "AF_INET6"), (15, "AF_KEY"), (16, "AF_NETLINK"), (17, "AF_PACKET"), (29, "AF_CAN"),
        (31, "AF_BLUETOOTH"), (38, "AF_ALG"), (40, "AF_VSOCK"), (44, "AF_XDP"));

    /// <summary>socket's type, with SOCK_NONBLOCK and SOCK_CLOEXEC.</summary>
    public static readonly FlagTable SocketType = new("0", (0x800, "SOCK_NONBLOCK"), (0x80000, "SOCK_CLOEXEC"))
    {
        Field = (0xf, v => v switch { 1 => "SOCK_STREAM", 2 => "SOCK_DGRAM", 3 => "SOCK_RAW", 4 => "SOCK_RDM", 5 => "SOCK_SEQPACKET", 6 => "SOCK_DCCP", 10 => "SOCK_PACKET", _ => null }),
    };

    public static readonly ValueTable Whence = new((0, "SEEK_SET"), (1, "SEEK_CUR"), (2, "SEEK_END"), (3, "SEEK_DATA"), (4, "SEEK_HOLE"));

    public static readonly ValueTable Fcntl = new(
        (0, "F_DUPFD"), (1, "F_GETFD"), (2, "F_SETFD"), (3, "F_GETFL"), (4, "F_SETFL"), (5, "F_GETLK"), (6, "F_SETLK"),
        (7, "F_SETLKW"), (8, "F_SETOWN"), (9, "F_GETOWN"), (10, "F_SETSIG"), (11, "F_GETSIG"), (36, "F_OFD_GETLK"),
        (37, "F_OFD_SETLK"), (38, "F_OFD_SETLKW"), (1024, "F_SETLEASE"), (1025, "F_GETLEASE"), (1026, "F_NOTIFY"),
        (1030, "F_DUPFD_CLOEXEC"), (1031, "F_SETPIPE_SZ"), (1032, "F_GETPIPE_SZ"), (1033, "F_ADD_SEALS"), (1034, "F_GET_SEALS"));

    public static readonly ValueTable Ioctl = new(
        (0x5401, "TCGETS"), (0x5402, "TCSETS"), (0x5403, "TCSETSW"), (0x5404, "TCSETSF"), (0x540E, "TIOCSCTTY"),
        (0x540F, "TIOCGPGRP"), (0x5410, "TIOCSPGRP"), (0x5411, "TIOCOUTQ"), (0x5412, "TIOCSTI"), (0x5413, "TIOCGWINSZ"),
        (0x5414, "TIOCSWINSZ"), (0x541B, "FIONREAD"), (0x541C, "TIOCLINUX"), (0x5421, "FIONBIO"), (0x5422, "TIOCNOTTY"),
        (0x5450, "FIONCLEX"), (0x5451, "FIOCLEX"), (0x5452, "FIOASYNC"), (0x80045430, "TIOCGPTN"), (0x40045431, "TIOCSPTLCK"));

    public static readonly FlagTable Wait = new("0",
        (1, "WNOHANG"), (2, "WSTOPPED"), (4, "WEXITED"), (8, "WCONTINUED"), (0x1000000, "WNOWAIT"),
        (0x20000000, "__WNOTHREAD"), (0x40000000, "__WALL"), (0x80000000, "__WCLONE"));

    public static readonly ValueTable Clock = new(
        (0, "CLOCK_REALTIME"), (1, "CLOCK_MONOTONIC"), (2, "CLOCK_PROCESS_CPUTIME_ID"), (3, "CLOCK_THREAD_CPUTIME_ID"),
        (4, "CLOCK_MONOTONIC_RAW"), (5, "CLOCK_REALTIME_COARSE"), (6, "CLOCK_MONOTONIC_COARSE"), (7, "CLOCK_BOOTTIME"),
        (8, "CLOCK_REALTIME_ALARM"), (9, "CLOCK_BOOTTIME_ALARM"), (11, "CLOCK_TAI"));

    public static readonly ValueTable Resource = new(
        (0, "RLIMIT_CPU"), (1, "RLIMIT_FSIZE"), (2, "RLIMIT_DATA"), (3, "RLIMIT_STACK"), (4, "RLIMIT_CORE"),
        (5, "RLIMIT_RSS"), (6, "RLIMIT_NPROC"), (7, "RLIMIT_NOFILE"), (8, "RLIMIT_MEMLOCK"), (9, "RLIMIT_AS"),
        (10, "RLIMIT_LOCKS"), (11, "RLIMIT_SIGPENDING"), (12, "RLIMIT_MSGQUEUE"), (13, "RLIMIT_NICE"),
        (14, "RLIMIT_RTPRIO"), (15, "RLIMIT_RTTIME"));

    public static readonly ValueTable ArchPrctl = new(
        (0x1001, "ARCH_SET_GS"), (0x1002, "ARCH_SET_FS"), (0x1003, "ARCH_GET_FS"), (0x1004, "ARCH_GET_GS"),
        (0x1011, "ARCH_GET_CPUID"), (0x1012, "ARCH_SET_CPUID"), (0x3001, "ARCH_CET_STATUS"),
        (0x5001, "ARCH_SHSTK_ENABLE"), (0x5002, "ARCH_SHSTK_DISABLE"), (0x5005, "ARCH_SHSTK_STATUS"));

    public static readonly ValueTable Prctl = new(
        (1, "PR_SET_PDEATHSIG"), (2, "PR_GET_PDEATHSIG"), (3, "PR_GET_DUMPABLE"), (4, "PR_SET_DUMPABLE"),
        (8, "PR_SET_KEEPCAPS"), (15, "PR_SET_NAME"), (16, "PR_GET_NAME"), (21, "PR_GET_SECCOMP"),
        (22, "PR_SET_SECCOMP"), (23, "PR_CAPBSET_READ"), (24, "PR_CAPBSET_DROP"), (27, "PR_GET_SECUREBITS"),
        (28, "PR_SET_SECUREBITS"), (36, "PR_SET_CHILD_SUBREAPER"), (37, "PR_GET_CHILD_SUBREAPER"),
        (38, "PR_SET_NO_NEW_PRIVS"), (39, "PR_GET_NO_NEW_PRIVS"), (47, "PR_CAP_AMBIENT"), (0x53564d41, "PR_SET_VMA"));

    public static readonly ValueTable SigprocmaskHow = new((0, "SIG_BLOCK"), (1, "SIG_UNBLOCK"), (2, "SIG_SETMASK"));

    public static readonly ValueTable ShutdownHow = new((0, "SHUT_RD"), (1, "SHUT_WR"), (2, "SHUT_RDWR"));

    public static readonly FlagTable Rename = new("0", (1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT"));

    public static readonly ValueTable SocketLevel = new((0, "SOL_IP"), (1, "SOL_SOCKET"), (6, "SOL_TCP"), (17, "SOL_UDP"), (41, "SOL_IPV6"));

    private static readonly ValueTable FutexCommand = new(
        (0, "FUTEX_WAIT"), (1, "FUTEX_WAKE"), (2, "FUTEX_FD"), (3, "FUTEX_REQUEUE"), (4, "FUTEX_CMP_REQUEUE"),
        (5, "FUTEX_WAKE_OP"), (6, "FUTEX_LOCK_PI"), (7, "FUTEX_UNLOCK_PI"), (8, "FUTEX_TRYLOCK_PI"),
        (9, "FUTEX_WAIT_BITSET"), (10, "FUTEX_WAKE_BITSET"), (11, "FUTEX_WAIT_REQUEUE_PI"),
        (12, "FUTEX_CMP_REQUEUE_PI"), (13, "FUTEX_LOCK_PI2"));

    /// <summary>futex's op: the command, _PRIVATE, |FUTEX_CLOCK_REALTIME.</summary>
    public static string Futex(ulong op)
    {
        string command = FutexCommand.Decode((long)(op & 0x7f));
        string text = (op & 0x80) != 0 ? command + "_PRIVATE" : command;
        if ((op & 0x100) != 0)
            text += "|FUTEX_CLOCK_REALTIME";
        ulong rest = op & ~0x1ffUL;
        return rest == 0 ? text : text + "|0x" + rest.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
    }
}
