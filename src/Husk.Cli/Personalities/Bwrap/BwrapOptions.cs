namespace Husk.Cli.Personalities.Bwrap;

/// <summary>The kinds of filesystem operation bubblewrap runs, in command-line order.</summary>
internal enum BwrapOpKind
{
    Bind,
    ReadOnlyBind,
    DevBind,
    BindFd,
    ReadOnlyBindFd,
    Overlay,
    TmpOverlay,
    ReadOnlyOverlay,
    Proc,
    Dev,
    Tmpfs,
    Mqueue,
    Dir,
    File,
    BindData,
    ReadOnlyBindData,
    Symlink,
    RemountReadOnly,
    Chmod,
}

/// <summary>
/// One filesystem operation as bubblewrap records it. <see cref="Perms"/> is 0 for operations
/// that take no mode: bubblewrap derives the mode of missing parents from it all the same, so
/// their parents are created 0700.
/// </summary>
internal sealed record BwrapOp(BwrapOpKind Kind, string Dest)
{
    public string? Source { get; init; }
    public int Fd { get; init; } = -1;
    public bool AllowMissingSource { get; init; }
    public int Perms { get; init; }
    public long Size { get; init; }
    /// <summary>Overlay lower layers, bottom first (the last given is on top).</summary>
    public IReadOnlyList<string> Lowers { get; init; } = [];
    /// <summary>Persistent overlays: the work directory.</summary>
    public string? WorkDir { get; init; }

    /// <summary>Mode of the destination's missing parents: 0755 less what <see cref="Perms"/> denies group and others.</summary>
    public int ParentMode
    {
        get
        {
            if (Kind == BwrapOpKind.Chmod)
                return 0x1ED;
            int mode = 0x1ED; // 0755
            if ((Perms & 0x38) == 0) // no group bits
                mode &= ~0x28;
            if ((Perms & 0x7) == 0) // no bits for others
                mode &= ~0x5;
            return mode;
        }
    }
}

/// <summary>Everything bubblewrap's command line sets, before it is checked and turned into a spec.</summary>
internal sealed class BwrapOptions
{
    public bool LevelPrefix { get; set; }
    public string? Argv0 { get; set; }
    public string? ChdirPath { get; set; }
    public bool AssertUsernsDisabled { get; set; }
    public bool DisableUserns { get; set; }
    public bool UnshareUser { get; set; }
    public bool UnshareUserTry { get; set; }
    public bool UnsharePid { get; set; }
    public bool UnshareIpc { get; set; }
    public bool UnshareNet { get; set; }
    public bool UnshareUts { get; set; }
    public bool UnshareCgroup { get; set; }
    public bool UnshareCgroupTry { get; set; }
    public bool NewSession { get; set; }
    public bool DieWithParent { get; set; }
    public bool AsPid1 { get; set; }
    public int? SandboxUid { get; set; }
    public int? SandboxGid { get; set; }
    public int? SyncFd { get; set; }
    public int? BlockFd { get; set; }
    public int? UsernsBlockFd { get; set; }
    public int? InfoFd { get; set; }
    public int? JsonStatusFd { get; set; }
    /// <summary>--seccomp: read when the sandbox is set up; exclusive with <see cref="SeccompPrograms"/>.</summary>
    public int? SeccompFd { get; set; }
    /// <summary>--add-seccomp-fd programs, read while parsing, installed in order.</summary>
    public List<byte[]> SeccompPrograms { get; } = [];
    public string? Hostname { get; set; }
    public int? UsernsFd { get; set; }
    public int? Userns2Fd { get; set; }
    public int? PidnsFd { get; set; }
    public string? ExecLabel { get; set; }
    public string? FileLabel { get; set; }
    public bool CapsChanged { get; set; }
    /// <summary>The capabilities asked for: the caller's effective set for root, none otherwise, then --cap-add/--cap-drop.</summary>
    public ulong RequestedCaps { get; set; }
    public List<BwrapOp> Ops { get; } = [];
    public List<string> LockFiles { get; } = [];
    /// <summary>The payload's environment: bubblewrap's own, edited by --setenv, --unsetenv, --clearenv.</summary>
    public List<string> Environment { get; set; } = [];
    /// <summary>Descriptors bubblewrap reads or holds itself (never the payload's): closed on exec.</summary>
    public HashSet<int> ConsumedFds { get; } = [];
    /// <summary>The command and its arguments.</summary>
    public List<string> Command { get; } = [];

    public string? GetEnv(string name)
    {
        string prefix = name + "=";
        foreach (string e in Environment)
        {
            if (e.StartsWith(prefix, StringComparison.Ordinal))
                return e[prefix.Length..];
        }
        return null;
    }
}
