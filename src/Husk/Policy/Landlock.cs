using System.Collections.Immutable;

namespace Husk.Policy;

/// <summary>Landlock filesystem access rights (LANDLOCK_ACCESS_FS_*); the ABI that brought each is noted.</summary>
[Flags]
public enum LandlockFsAccess : ulong
{
    /// <summary>No access.</summary>
    None = 0,
    /// <summary>Execute a file (ABI 1).</summary>
    Execute = 1 << 0,
    /// <summary>Open a file for writing (ABI 1).</summary>
    WriteFile = 1 << 1,
    /// <summary>Open a file for reading (ABI 1).</summary>
    ReadFile = 1 << 2,
    /// <summary>List a directory (ABI 1).</summary>
    ReadDir = 1 << 3,
    /// <summary>Remove a directory (ABI 1).</summary>
    RemoveDir = 1 << 4,
    /// <summary>Remove a file (ABI 1).</summary>
    RemoveFile = 1 << 5,
    /// <summary>Create a character device (ABI 1).</summary>
    MakeChar = 1 << 6,
    /// <summary>Create a directory (ABI 1).</summary>
    MakeDir = 1 << 7,
    /// <summary>Create a regular file (ABI 1).</summary>
    MakeReg = 1 << 8,
    /// <summary>Create a socket (ABI 1).</summary>
    MakeSock = 1 << 9,
    /// <summary>Create a FIFO (ABI 1).</summary>
    MakeFifo = 1 << 10,
    /// <summary>Create a block device (ABI 1).</summary>
    MakeBlock = 1 << 11,
    /// <summary>Create a symbolic link (ABI 1).</summary>
    MakeSym = 1 << 12,
    /// <summary>Link or rename a file into another directory (ABI 2).</summary>
    Refer = 1 << 13,
    /// <summary>Truncate a file (ABI 3).</summary>
    Truncate = 1 << 14,
    /// <summary>ioctl on a character or block device (ABI 5).</summary>
    IoctlDev = 1 << 15,

    /// <summary>Reading and executing.</summary>
    ReadExecute = Execute | ReadFile | ReadDir,
    /// <summary>Everything but execution.</summary>
    ReadWrite = WriteFile | ReadFile | ReadDir | RemoveDir | RemoveFile | MakeChar | MakeDir | MakeReg | MakeSock | MakeFifo
        | MakeBlock | MakeSym | Refer | Truncate | IoctlDev,
    /// <summary>Every right.</summary>
    All = ReadWrite | Execute,
}

/// <summary>A filesystem rule: beneath <see cref="Path"/> (inside the sandbox), <see cref="Access"/> is allowed.</summary>
public sealed record LandlockPathRule(string Path, LandlockFsAccess Access)
{
    /// <summary>A missing path is skipped instead of failing the sandbox.</summary>
    public bool Optional { get; init; }
}

/// <summary>
/// A Landlock policy applied to the payload once its root is built (rules attach to inodes, which
/// only exist then). Anything not granted by a rule is denied, for every right the kernel knows.
/// </summary>
public sealed record LandlockPolicy
{
    /// <summary>Filesystem rules.</summary>
    public ImmutableArray<LandlockPathRule> Paths { get; init; } = [];
    /// <summary>Restrict TCP bind and connect to <see cref="TcpBindPorts"/> and <see cref="TcpConnectPorts"/> (ABI 4).</summary>
    public bool RestrictTcp { get; init; }
    /// <summary>Ports the payload may bind when <see cref="RestrictTcp"/>.</summary>
    public ImmutableArray<ushort> TcpBindPorts { get; init; } = [];
    /// <summary>Ports the payload may connect to when <see cref="RestrictTcp"/>.</summary>
    public ImmutableArray<ushort> TcpConnectPorts { get; init; } = [];
    /// <summary>Abstract unix sockets made outside the sandbox cannot be connected to (ABI 6).</summary>
    public bool ScopeAbstractUnixSockets { get; init; } = true;
    /// <summary>Processes outside the sandbox cannot be signalled (ABI 6).</summary>
    public bool ScopeSignals { get; init; } = true;
    /// <summary>
    /// Fail when the kernel's Landlock lacks something this policy uses, instead of applying what it
    /// has (best effort, down to ABI 1, or nothing without Landlock).
    /// </summary>
    public bool Strict { get; init; }

    /// <summary>The lowest ABI that enforces every part of this policy.</summary>
    public int RequiredAbi
    {
        get
        {
            var used = Paths.Aggregate(LandlockFsAccess.None, (a, r) => a | r.Access);
            int abi = 1;
            if (used.HasFlag(LandlockFsAccess.Refer)) abi = 2;
            if (used.HasFlag(LandlockFsAccess.Truncate)) abi = 3;
            if (RestrictTcp) abi = 4;
            if (used.HasFlag(LandlockFsAccess.IoctlDev)) abi = Math.Max(abi, 5);
            if (ScopeAbstractUnixSockets || ScopeSignals) abi = 6;
            return abi;
        }
    }

    /// <summary>What an older ABI leaves out, for the one line that says so.</summary>
    public IEnumerable<string> Missing(int abi)
    {
        if (abi < 1) yield return "Landlock";
        if (abi < 2) yield return "link and rename across directories (ABI 2)";
        if (abi < 3) yield return "truncation (ABI 3)";
        if (abi < 4 && RestrictTcp) yield return "TCP port rules (ABI 4)";
        if (abi < 5) yield return "device ioctls (ABI 5)";
        if (abi < 6 && (ScopeAbstractUnixSockets || ScopeSignals)) yield return "abstract socket and signal scoping (ABI 6)";
    }

    /// <summary>The rights an ABI knows: handled rights beyond it would make the ruleset fail.</summary>
    public static LandlockFsAccess FsAccessOf(int abi) => abi switch
    {
        <= 0 => LandlockFsAccess.None,
        1 => LandlockFsAccess.All & ~(LandlockFsAccess.Refer | LandlockFsAccess.Truncate | LandlockFsAccess.IoctlDev),
        2 => LandlockFsAccess.All & ~(LandlockFsAccess.Truncate | LandlockFsAccess.IoctlDev),
        3 or 4 => LandlockFsAccess.All & ~LandlockFsAccess.IoctlDev,
        _ => LandlockFsAccess.All,
    };

    /// <summary>
    /// Rules that mirror a mount plan: everything readable and executable, full access where a
    /// mount is writable (binds, tmpfs, overlays with an upper layer), nothing more. With
    /// <paramref name="writableExecutes"/> false (W^X), only read-only mounts execute: as rights
    /// add up along a path, the root then gets reading only and each read-only mount its own rule;
    /// writable overlays (husk run's view of the host) count as read-only there.
    /// </summary>
    public static ImmutableArray<LandlockPathRule> MirrorMounts(IEnumerable<MountOp> mounts, bool writableExecutes = true)
    {
        var write = writableExecutes ? LandlockFsAccess.All : LandlockFsAccess.ReadWrite;
        var read = LandlockFsAccess.ReadFile | LandlockFsAccess.ReadDir;
        var rules = new List<LandlockPathRule> { new("/", writableExecutes ? LandlockFsAccess.ReadExecute : read) };
        void Grant(MountOp op, string path, LandlockFsAccess access)
        {
            rules.RemoveAll(r => r.Path == path && r.Path != "/");
            // Optional: a mount point the payload cannot reach (a hidden directory under a home it
            // may not search) is skipped, as the payload could not use a rule there either.
            rules.Add(new LandlockPathRule(path, access) { Optional = true });
        }
        void ReadOnly(MountOp op)
        {
            if (writableExecutes)
                rules.RemoveAll(r => r.Path == op.Destination && r.Path != "/");
            else
                Grant(op, op.Destination, LandlockFsAccess.ReadExecute);
        }
        foreach (var op in mounts)
        {
            switch (op)
            {
                case OverlayMount { Kind: not OverlayKind.ReadOnly } when !writableExecutes:
                    // An overlay of the host's programs can be executable or writable, not both:
                    // under W^X the host's view is executed and read, and writes go to tmpfs and binds.
                    ReadOnly(op);
                    break;
                case BindMount { ReadOnly: false } or BindFdMount { ReadOnly: false } or TmpfsMount or MqueueMount
                    or FilesystemMount { ReadOnly: false } or OverlayMount { Kind: not OverlayKind.ReadOnly }:
                    Grant(op, op.Destination, write);
                    break;
                case BindMount or BindFdMount or FilesystemMount or OverlayMount:
                    ReadOnly(op);
                    break;
                case ProcMount:
                    // Writing a proc file (shells open with O_TRUNC) needs truncation too.
                    Grant(op, op.Destination, read | LandlockFsAccess.WriteFile | LandlockFsAccess.Truncate);
                    break;
                case DevMount:
                    // Device nodes are read, written and ioctl'd; /dev/shm holds POSIX shared memory.
                    Grant(op, op.Destination, read | LandlockFsAccess.WriteFile | LandlockFsAccess.IoctlDev | LandlockFsAccess.Truncate);
                    Grant(op, op.Destination.TrimEnd('/') + "/shm", LandlockFsAccess.ReadWrite);
                    break;
                case RemountReadOnly r when r.Destination == "/":
                    break;
                case RemountReadOnly r:
                    ReadOnly(r);
                    break;
            }
        }
        return [.. rules];
    }

    /// <summary>LANDLOCK_CREATE_RULESET_VERSION: the ABI the kernel speaks, or 0 without Landlock.</summary>
    public static int KernelAbi { get; } = ReadKernelAbi();

    private static int ReadKernelAbi()
    {
        long nr = SyscallTable.Native.Number("landlock_create_ruleset") ?? -1;
        long abi = nr < 0 ? -1 : Interop.Interop.Syscall3(nr, 0, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
        return abi < 0 ? 0 : (int)abi;
    }
}
