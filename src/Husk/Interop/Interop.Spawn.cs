using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>The C# twins of the structs and constants in Native/husk_abi.h (AbiTests check every one).</summary>
internal static partial class Interop
{
    internal static class OpKind
    {
        public const uint Nop = 0;
        public const uint WaitParent = 1;
        public const uint SetNs = 2;
        public const uint Unshare = 3;
        public const uint Fork = 4;
        public const uint RootBegin = 5;
        public const uint RootFinish = 6;
        public const uint Bind = 7;
        public const uint Mount = 8;
        public const uint Mkdir = 9;
        public const uint Symlink = 10;
        public const uint WriteFile = 11;
        public const uint Chmod = 12;
        public const uint RemountReadOnly = 13;
        public const uint Chdir = 14;
        public const uint SetHostname = 15;
        public const uint WriteProc = 16;
        public const uint SetId = 17;
        public const uint Caps = 18;
        public const uint Prctl = 19;
        public const uint Rlimit = 20;
        public const uint SetSid = 21;
        public const uint Dup2 = 22;
        public const uint CloexecRange = 23;
        public const uint WaitFd = 24;
        public const uint LockFile = 25;
        public const uint Seccomp = 26;
        public const uint Exec = 27;
        public const uint LoopbackUp = 28;
        public const uint Close = 29;
        public const uint Umask = 30;
        public const uint ExpectNoUserns = 31;
        public const uint SignalMask = 32;
        public const uint LandlockCreate = 33;
        public const uint LandlockRule = 34;
        public const uint LandlockRestrict = 35;
        public const uint SetCtty = 36;
        public const uint OpenPty = 37;
        public const uint AttachMount = 38;
        public const uint Mknod = 39;
        public const uint Mask = 40;
        public const uint Personality = 41;
        public const uint Sync = 42;
        /// <summary>One past the last kind (HUSK_OP_COUNT).</summary>
        public const uint Count = 43;
    }

    internal static class OpFlags
    {
        public const uint RootNew = 0;
        public const uint RootOld = 1;
        public const uint RootBase = 2;
        public const uint RootCwd = 3;
        public const uint Try = 1u << 4;
        public const uint ReadOnly = 1u << 5;
        public const uint Devices = 1u << 6;
        public const uint IfWritable = 1u << 7;
        public const uint SourceFd = 1u << 8;
        public const uint ExecInit = 1u << 9;
        public const uint BindData = 1u << 10;
        public const uint SearchPath = 1u << 11;
        public const uint SetGroups = 1u << 12;
        public const uint ReportPid = 1u << 13;
        public const uint InitStatus = 1u << 14;
        public const uint NoCreate = 1u << 15;
        public const uint NoFollow = 1u << 16;
        public const uint SendListener = 1u << 17;
        public const uint IdenticalOk = 1u << 18;
        public const uint Detach = 1u << 19;
        public const uint PtySlave = 1u << 20;
        public const uint Clamp = 1u << 21;
        public const uint ScriptShell = 1u << 22;
        public const uint ReportStops = 1u << 23;
        public const uint Setuid = 1u << 24;
        public const uint NoParents = 1u << 25;
        public const uint Overmount = 1u << 26;
        public const uint OntoSymlink = 1u << 27;
        public const uint EnvPid = 1u << 28;
        public const uint SendBase = 1u << 29;
        public const uint Domain = 1u << 30;
        public const uint Console = 1u << 31;

        public static uint S1Root(uint root) => root & 3;

        public static uint S2Root(uint root) => (root & 3) << 2;
    }

    internal static class Step
    {
        public const int None = 0;
        public const int Source = 1;
        public const int Destination = 2;
        public const int Parents = 3;
        public const int Mount = 4;
        public const int Attributes = 5;
        public const int Data = 6;
        public const int Option = 7;
        public const int Exists = 8;
        public const int Race = 9;
        public const int Namespace = 10;
        public const int Init = 11;
    }

    internal static class ReportKind
    {
        public const int Error = 1;
        public const int Pid = 2;
        public const int Listener = 3;
        public const int Terminal = 4;
        public const int Hello = 5;
        public const int Detail = 6;
        public const int Storage = 7;
        public const int Chdir = 8;
        public const int Sync = 9;
    }

    internal const int SpawnMounts = 1;
    internal const int SpawnDetached = 2;
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

    internal const uint CapsSetSecureBits = 1;
    internal const uint CapsOnlyRaiseAmbient = 2;

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_spawn")]
    internal static unsafe partial int HuskSpawn(SpawnArgs* args, SpawnResult* result);

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_init_memfd")]
    internal static partial int HuskInitMemfd();

    [LibraryImport(Libraries.Husk, EntryPoint = "husk_abi_layout")]
    internal static partial int HuskAbiLayout(int which, int field);
}
