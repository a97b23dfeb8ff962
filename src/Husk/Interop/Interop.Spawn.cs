using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>The C# twins of the structs and constants in Native/husk_abi.h (AbiTests check every one).</summary>
internal static partial class Interop
{
    /// <summary>What an op does (HUSK_OP_*).</summary>
    internal enum OpKind : uint
    {
        Nop = 0,
        WaitParent = 1,
        SetNs = 2,
        Unshare = 3,
        Fork = 4,
        RootBegin = 5,
        RootFinish = 6,
        Bind = 7,
        Mount = 8,
        Mkdir = 9,
        Symlink = 10,
        WriteFile = 11,
        Chmod = 12,
        RemountReadOnly = 13,
        Chdir = 14,
        SetHostname = 15,
        WriteProc = 16,
        SetId = 17,
        Caps = 18,
        Prctl = 19,
        Rlimit = 20,
        SetSid = 21,
        Dup2 = 22,
        CloexecRange = 23,
        WaitFd = 24,
        LockFile = 25,
        Seccomp = 26,
        Exec = 27,
        LoopbackUp = 28,
        Close = 29,
        Umask = 30,
        ExpectNoUserns = 31,
        SignalMask = 32,
        LandlockCreate = 33,
        LandlockRule = 34,
        LandlockRestrict = 35,
        SetCtty = 36,
        OpenPty = 37,
        AttachMount = 38,
        Run = 39,
        NetSocket = 40,
        Mknod = 41,
        Mask = 42,
        Personality = 43,
        Sync = 44,
        Return = 45,
        Chroot = 46,
        /// <summary>One past the last kind (HUSK_OP_COUNT).</summary>
        Count = 47,
    }

    /// <summary>Modifiers of an op (HUSK_F_*); bits 0-3 hold the roots its paths resolve in (<see cref="OpRoots"/>).</summary>
    [Flags]
    internal enum OpFlags : uint
    {
        None = 0,
        Try = 1u << 4,
        ReadOnly = 1u << 5,
        Devices = 1u << 6,
        IfWritable = 1u << 7,
        SourceFd = 1u << 8,
        ExecInit = 1u << 9,
        BindData = 1u << 10,
        SearchPath = 1u << 11,
        SetGroups = 1u << 12,
        ReportPid = 1u << 13,
        InitStatus = 1u << 14,
        NoCreate = 1u << 15,
        NoFollow = 1u << 16,
        SendListener = 1u << 17,
        IdenticalOk = 1u << 18,
        Detach = 1u << 19,
        PtySlave = 1u << 20,
        Clamp = 1u << 21,
        ScriptShell = 1u << 22,
        ReportStops = 1u << 23,
        Setuid = 1u << 24,
        NoParents = 1u << 25,
        Overmount = 1u << 26,
        OntoSymlink = 1u << 27,
        EnvPid = 1u << 28,
        SendBase = 1u << 29,
        Domain = 1u << 30,
        Console = 1u << 31,
    }

    /// <summary>Where an op's path is looked up (HUSK_ROOT_*).</summary>
    internal enum OpRoot : uint
    {
        /// <summary>The sandbox's root as built so far.</summary>
        New = 0,
        /// <summary>The caller's filesystem.</summary>
        Old = 1,
        /// <summary>The hidden tmpfs the root is built on.</summary>
        Base = 2,
        /// <summary>The process's current root and working directory (after pivot_root).</summary>
        Cwd = 3,
    }

    /// <summary>Encodes the roots of an op's first and second path in its flags.</summary>
    internal static class OpRoots
    {
        public static OpFlags S1(OpRoot root) => (OpFlags)((uint)root & 3);

        public static OpFlags S2(OpRoot root) => (OpFlags)(((uint)root & 3) << 2);
    }

    /// <summary>What a message from the child says (HUSK_REPORT_*).</summary>
    internal enum ReportKind
    {
        Error = 1,
        Pid = 2,
        Listener = 3,
        Terminal = 4,
        Hello = 5,
        Detail = 6,
        Storage = 7,
        Chdir = 8,
        Socket = 9,
        Sync = 10,
    }

    internal const int SpawnMounts = 1;
    /// <summary>The child goes on with a build its parent (a pool template) began.</summary>
    internal const int SpawnBuilding = 4;
    /// <summary>The sandbox outlives the supervisor: no parent-death signal (husk-runtime).</summary>
    internal const int SpawnDetached = 8;
    /// <summary>The payload is the caller itself (husk_continue): copying clones, and the plan ends in a RETURN op.</summary>
    internal const int SpawnContinue = 16;
    /// <summary>Sent to husk-init from outside: kill every process of the sandbox, reap them, report.</summary>
    internal const int SignalKillTree = 64;

    /// <summary>
    /// What husk-init passes on to the payload when it is sent to husk-init itself (the terminal's
    /// reach the payload anyway); the supervisor forwards these but SIGWINCH. A mask (<see cref="Signals.Bit"/>).
    /// </summary>
    internal const ulong ForwardedSignals =
        1UL << (Signals.SIGHUP - 1) | 1UL << (Signals.SIGINT - 1) | 1UL << (Signals.SIGQUIT - 1) | 1UL << (Signals.SIGUSR1 - 1)
        | 1UL << (Signals.SIGUSR2 - 1) | 1UL << (Signals.SIGTERM - 1) | 1UL << (Signals.SIGWINCH - 1);

    /// <summary>What husk-init reads from its signalfd (the stage blocks them before its exec).</summary>
    internal const ulong InitSignals = ForwardedSignals | 1UL << (Signals.SIGCHLD - 1) | 1UL << (SignalKillTree - 1);
    internal const int InitMagic = 0x48534b31;

    [StructLayout(LayoutKind.Sequential)]
    internal struct HuskOp
    {
        public uint Kind;
        public uint Flags;
        public int Fd;
        public uint Mode;
        public ulong A;
        public ulong B;
        public ulong C;
        public ulong S1;
        public ulong S2;
        public ulong P1;
        public ulong P2;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct SpawnArgs
    {
        public ulong CloneFlags;
        public ulong Ops;
        public uint OpCount;
        public int CgroupFd;
        public int InitFd;
        public int Flags;
        public ulong HostMountNamespace;
        public int Channel;
        public int ChannelPeer;
        public ulong FdMoves;
        public uint FdMoveCount;
        public int FdMoveBase;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct SpawnResult
    {
        public int Pid;
        public int Pidfd;
        public int Error;
        public int Reserved;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct Report
    {
        public int Kind;
        public int Op;
        public int Step;
        public int Error;
        public long Value;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct InitStatus
    {
        public int Magic;
        public int WaitStatus;
        public long UserMicroseconds;
        public long SystemMicroseconds;
        public long MaxRssKib;
        public long WrittenBytes;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct HuskCaps
    {
        public ulong Bounding;
        public ulong Effective;
        public ulong Permitted;
        public ulong Inheritable;
        public ulong Ambient;
        public uint SecureBits;
        public uint Flags;
    }

    /// <summary>A plan in one buffer, its pointers offsets listed in a relocation table (husk_plan_image).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PlanImageHeader
    {
        public uint Magic;
        public uint OpCount;
        public ulong Ops;
        public ulong Relocs;
        public uint RelocCount;
        public uint Size;
    }

    internal const uint PlanMagic = 0x48504c31;

    /// <summary>A spawn request to a pool's template (husk_pool_request), followed by the run's plan image.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PoolRequest
    {
        public uint Magic;
        public uint FdCount;
        public ulong CloneFlags;
        public ulong HostMountNamespace;
        public int Channel;
        public int Status;
        public int Cgroup;
        public uint Flags;
        public ulong Id;
    }

    /// <summary>A pool template's answer (husk_pool_reply).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PoolReply
    {
        public uint Magic;
        public int Kind;
        public int Error;
        public int Pid;
        public ulong Id;
    }

    internal const uint PoolMagic = 0x48504f31;
    internal const int PoolReady = 1;
    internal const int PoolSpawned = 2;
    /// <summary>Where a run's descriptors land in the run's own table (it moves them there; its plan names them there).</summary>
    internal const int PoolFdBase = 256;
    internal const int PoolMaxFds = 32;

    internal const uint CapsSetSecureBits = 1;
    internal const uint CapsOnlyRaiseAmbient = 2;

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_spawn")]
    internal static unsafe partial int HuskSpawn(SpawnArgs* args, SpawnResult* result);

    /// <summary>husk_continue's address, for libmini-sandbox, which calls it on its caller's thread.</summary>
    [LibraryImport(Libraries.Husk, EntryPoint = "husk_continue_entry")]
    internal static partial nint HuskContinueEntry();

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_init_memfd")]
    internal static partial int HuskInitMemfd();

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_forget_ignored_signals")]
    internal static partial void HuskForgetIgnoredSignals();

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_pool_memfd")]
    internal static partial int HuskPoolMemfd();

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_abi_layout")]
    internal static partial int HuskAbiLayout(int which, int field);
}
