using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>One operation for the native stage, still in managed form (so the planner stays pure and testable).</summary>
internal sealed class PlannedOp
{
    public PlannedOp(OpKind kind, string description)
    {
        Kind = kind;
        Description = description;
    }

    public OpKind Kind { get; }
    public OpFlags Flags { get; init; }

    /// <summary>What the op is for, for wording its failure; by default the one its kind implies.</summary>
    public SetupRole Role
    {
        get => _role ?? DefaultRole(Kind);
        init => _role = value;
    }
    private SetupRole? _role;

    /// <summary>Which one of its role within the plan (the n-th temporary overlay), when that matters.</summary>
    public int Index { get; init; }
    public int Fd { get; init; } = -1;
    public uint Mode { get; init; }
    public ulong A { get; init; }
    public ulong B { get; init; }
    public ulong C { get; init; }
    public string? S1 { get; init; }
    public string? S2 { get; init; }

    /// <summary>Raw bytes passed as p1 (file data, BPF, mount options block).</summary>
    public byte[]? Data { get; init; }
    /// <summary>A NULL-terminated string array passed as p1 (argv, chdir candidates).</summary>
    public string[]? Strings { get; init; }
    /// <summary>A NULL-terminated string array passed as p2 (envp, PWD values).</summary>
    public string[]? Strings2 { get; init; }
    /// <summary>An int32 array passed as p1 (fds husk-init keeps).</summary>
    public int[]? Ints { get; init; }
    public HuskCaps? Caps { get; init; }
    /// <summary>For chdir: index of the PWD entry in the exec op's envp, which the child points at the directory chosen.</summary>
    public int EnvSlot { get; init; } = -1;

    /// <summary>Mount options as "key=value", for naming the one that failed.</summary>
    public string[]? OptionDescriptions { get; init; }

    /// <summary>What this op does, for error messages ("bind /etc on /etc").</summary>
    public string Description { get; }
    /// <summary>The filesystem operation of the spec this op came from, or null for setup steps.</summary>
    public MountOp? Origin { get; init; }

    /// <summary>A copy with more flags set.</summary>
    public PlannedOp WithFlags(OpFlags flags) => new(Kind, Description)
    {
        Flags = Flags | flags, Fd = Fd, Mode = Mode, A = A, B = B, C = C, S1 = S1, S2 = S2, Data = Data, Strings = Strings,
        Strings2 = Strings2, Ints = Ints, Caps = Caps, EnvSlot = EnvSlot, OptionDescriptions = OptionDescriptions, Origin = Origin,
        _role = _role, Index = Index,
    };

    /// <summary>The role an op of <paramref name="kind"/> has unless the planner says more.</summary>
    private static SetupRole DefaultRole(OpKind kind) => kind switch
    {
        OpKind.Close => SetupRole.CloseSupervisorFd,
        OpKind.WaitParent => SetupRole.WaitSupervisor,
        OpKind.SetNs => SetupRole.JoinNamespaces,
        OpKind.Unshare => SetupRole.CreateNamespaces,
        OpKind.Fork => SetupRole.ForkInit,
        OpKind.RootBegin => SetupRole.RootBegin,
        OpKind.RootFinish => SetupRole.RootFinish,
        OpKind.Bind => SetupRole.Bind,
        OpKind.Mount => SetupRole.Mount,
        OpKind.Mkdir => SetupRole.Directory,
        OpKind.Symlink => SetupRole.Symlink,
        OpKind.WriteFile => SetupRole.File,
        OpKind.Chmod => SetupRole.Chmod,
        OpKind.RemountReadOnly => SetupRole.RemountReadOnly,
        OpKind.AttachMount => SetupRole.AttachIdmapped,
        OpKind.Chdir => SetupRole.Chdir,
        OpKind.SetHostname => SetupRole.Hostname,
        OpKind.SetId => SetupRole.SetIds,
        OpKind.Caps => SetupRole.Capabilities,
        OpKind.Prctl => SetupRole.NoNewPrivileges,
        OpKind.Rlimit => SetupRole.ResourceLimit,
        OpKind.SetSid => SetupRole.NewSession,
        OpKind.Dup2 or OpKind.CloexecRange => SetupRole.Descriptors,
        OpKind.WaitFd => SetupRole.WaitFd,
        OpKind.LockFile => SetupRole.LockFile,
        OpKind.Seccomp => SetupRole.Seccomp,
        OpKind.Exec => SetupRole.Exec,
        OpKind.LoopbackUp => SetupRole.Loopback,
        OpKind.Umask => SetupRole.Umask,
        OpKind.ExpectNoUserns => SetupRole.ExpectNoUserNamespaces,
        OpKind.SignalMask => SetupRole.SignalMask,
        OpKind.LandlockCreate or OpKind.LandlockRule or OpKind.LandlockRestrict => SetupRole.Landlock,
        OpKind.SetCtty or OpKind.OpenPty => SetupRole.Terminal,
        OpKind.Run => SetupRole.NetworkSetup,
        OpKind.NetSocket => SetupRole.NetworkSocket,
        OpKind.Mknod => SetupRole.DeviceNode,
        OpKind.Mask => SetupRole.MaskPath,
        OpKind.Personality => SetupRole.Personality,
        OpKind.Sync => SetupRole.Sync,
        OpKind.Chroot => SetupRole.Chroot,
        _ => SetupRole.None,
    };

    public override string ToString() => $"{Description} [{Kind}]";
}
