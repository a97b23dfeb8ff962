using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Husk.Cli.Personalities.Bwrap;

/// <summary>What bubblewrap's decisions depend on besides its arguments; read from the host or made up in tests.</summary>
internal sealed record BwrapHost
{
    public required uint Uid { get; init; }
    public required uint Gid { get; init; }
    /// <summary>Capabilities the kernel knows (bits 0..cap_last_cap).</summary>
    public ulong KnownCaps { get; init; } = (1UL << 41) - 1;
    /// <summary>The kernel has user namespaces (/proc/self/ns/user exists) and they are not switched off.</summary>
    public bool UserNamespacesUsable { get; init; } = true;
    /// <summary>/proc/self/ns/cgroup exists.</summary>
    public bool CgroupNamespaces { get; init; } = true;
    /// <summary>The caller's permitted capabilities (root's may lack some, e.g. in a container).</summary>
    public ulong PermittedCaps { get; init; } = ulong.MaxValue;

    public bool IsRoot => Uid == 0;
}

/// <summary>
/// bubblewrap's checks after parsing (in its order, with its messages) and the translation of
/// its options into a <see cref="SandboxSpec"/>.
/// </summary>
internal static class BwrapSpecBuilder
{
    /// <summary>Applies bubblewrap's implications and refuses what it refuses. Runs after parsing.</summary>
    public static void Check(BwrapOptions o, BwrapHost host)
    {
        if (o.UsernsBlockFd is not null && !o.UnshareUser)
            throw new BwrapError("--userns-block-fd requires --unshare-user");
        if (o.UsernsBlockFd is not null && o.InfoFd is null)
            throw new BwrapError("--userns-block-fd requires --info-fd");
        if (o.UsernsFd is not null && o.UnshareUser)
            throw new BwrapError("--userns not compatible --unshare-user");
        if (o.UsernsFd is not null && o.UnshareUserTry)
            throw new BwrapError("--userns not compatible --unshare-user-try");
        if (o.DisableUserns && !o.UnshareUser)
            throw new BwrapError("--disable-userns requires --unshare-user");
        if (o.DisableUserns && o.UsernsBlockFd is not null)
            throw new BwrapError("--disable-userns is not compatible with  --userns-block-fd");

        // Without setuid, only user namespaces make the rest possible for anyone but root.
        if (!host.IsRoot && o.UsernsFd is null)
            o.UnshareUser = true;
        if (o.UnshareUserTry && host.UserNamespacesUsable)
            o.UnshareUser = true;
    }

    /// <summary>The checks bubblewrap makes once it knows there is a command.</summary>
    public static void CheckIdentity(BwrapOptions o, BwrapHost host)
    {
        bool newOrJoinedUserns = o.UnshareUser || o.UsernsFd is not null;
        if (!newOrJoinedUserns && o.SandboxUid is { } uid && uid != host.Uid)
            throw new BwrapError("Specifying --uid requires --unshare-user or --userns");
        if (!newOrJoinedUserns && o.SandboxGid is { } gid && gid != host.Gid)
            throw new BwrapError("Specifying --gid requires --unshare-user or --userns");
        if (!o.UnshareUts && o.Hostname is not null)
            throw new BwrapError("Specifying --hostname requires --unshare-uts");
        if (o.AsPid1 && !o.UnsharePid)
            throw new BwrapError("Specifying --as-pid-1 requires --unshare-pid");
        if (o.AsPid1 && o.LockFiles.Count > 0)
            throw new BwrapError("Specifying --as-pid-1 and --lock-file is not permitted");
        if (o.UnshareCgroup && !host.CgroupNamespaces)
            throw new BwrapError("Cannot create new cgroup namespace because the kernel does not support it");
        if (o.UnshareCgroupTry)
            o.UnshareCgroup = host.CgroupNamespaces;
        // The kernel's limit, met by bubblewrap at sethostname(2).
        if (o.Hostname is { } name && System.Text.Encoding.UTF8.GetByteCount(name) > 64)
            throw new BwrapError($"Can't set hostname to {name}: {BwrapLog.StrError(Errno.EINVAL)}");
    }

    /// <summary>The spec, and for each mount op the bubblewrap op it came from (to word errors).</summary>
    public static (SandboxSpec Spec, Dictionary<MountOp, BwrapOp> Origins) Build(BwrapOptions o, BwrapHost host, byte[]? seccompProgram = null)
    {
        var ns = NamespaceKinds.Mount;
        if (o.UnshareUser)
            ns |= NamespaceKinds.User;
        if (o.UnsharePid)
            ns |= NamespaceKinds.Pid;
        if (o.UnshareNet)
            ns |= NamespaceKinds.Net;
        if (o.UnshareIpc)
            ns |= NamespaceKinds.Ipc;
        if (o.UnshareUts)
            ns |= NamespaceKinds.Uts;
        if (o.UnshareCgroup)
            ns |= NamespaceKinds.Cgroup;

        var origins = new Dictionary<MountOp, BwrapOp>(ReferenceEqualityComparer.Instance);
        var mounts = ImmutableArray.CreateBuilder<MountOp>();
        foreach (var op in o.Ops)
        {
            var m = ToMountOp(op);
            origins[m] = op;
            mounts.Add(m);
        }

        var programs = ImmutableArray.CreateBuilder<ImmutableArray<byte>>();
        foreach (var p in o.SeccompPrograms)
            programs.Add([.. p]);
        if (seccompProgram is not null)
            programs.Add([.. seccompProgram]);

        var spec = new SandboxSpec
        {
            Command = [.. o.Command],
            Argv0 = o.Argv0,
            SearchPath = true,
            Namespaces = ns,
            UserNamespaceFd = Descriptors.BorrowOrNull(o.UsernsFd),
            UserNamespace2Fd = Descriptors.BorrowOrNull(o.Userns2Fd),
            PidNamespaceFd = Descriptors.BorrowOrNull(o.PidnsFd),
            NestedUserNamespaces = o.DisableUserns ? NestedUserNamespaces.Deny : NestedUserNamespaces.Allow,
            AssertUserNamespacesDisabled = o.AssertUsernsDisabled,
            Identity = IdentityOf(o, host),
            Hostname = o.Hostname,
            FileSystem = FileSystemSpec.Bare,
            Mounts = mounts.ToImmutable(),
            BuildBase = "/tmp",
            Environment = [.. o.Environment],
            WorkingDirectory = o.ChdirPath,
            SetPwd = true,
            NewSession = o.NewSession,
            AsPid1 = o.AsPid1,
            InheritFds = true,
            // The sandbox must not hold what only bwrap writes to or reads from (readers wait for EOF).
            SupervisorFds = SupervisorFds(o),
            SyncFd = Descriptors.BorrowOrNull(o.SyncFd),
            BlockFd = Descriptors.BorrowOrNull(o.BlockFd),
            LockFiles = [.. o.LockFiles],
            Capabilities = CapabilitiesOf(o, host),
            NoNewPrivileges = true,
            Seccomp = SeccompSpec.Raw([.. programs]),
            Landlock = LandlockSpec.Off,
        };
        return (spec, origins);
    }

    /// <summary>
    /// The descriptors only bwrap uses. A plain loop: LINQ over ints here cost a generic virtual
    /// method lookup at run time, a measurable part of every cold start (docs/benchmarks.md).
    /// </summary>
    private static ImmutableArray<SafeHandle> SupervisorFds(BwrapOptions o)
    {
        var fds = ImmutableArray.CreateBuilder<SafeHandle>(3);
        foreach (int? fd in (ReadOnlySpan<int?>)[o.InfoFd, o.JsonStatusFd, o.UsernsBlockFd])
        {
            if (fd is { } n)
                fds.Add(Descriptors.Borrow(n));
        }
        return fds.ToImmutable();
    }

    private static Identity IdentityOf(BwrapOptions o, BwrapHost host)
    {
        if (o.UnshareUser)
        {
            // One id, the caller's, mapped to the id asked for (root too: bwrap maps 0 to 0).
            return new Identity
            {
                Uid = o.SandboxUid is { } u ? (uint)u : null,
                Gid = o.SandboxGid is { } g ? (uint)g : null,
                Mapping = o.UsernsBlockFd is not null ? IdMapping.External : IdMapping.Single,
            };
        }
        if (o.UsernsFd is not null)
        {
            // In a joined namespace bwrap switches ids only when asked for different ones.
            bool switchIds = (o.SandboxUid is { } u && u != host.Uid) || (o.SandboxGid is { } g && g != host.Gid);
            if (switchIds)
                return new Identity { Uid = (uint)(o.SandboxUid ?? (int)host.Uid), Gid = (uint)(o.SandboxGid ?? (int)host.Gid) };
        }
        return new Identity();
    }

    /// <summary>
    /// bubblewrap's capability rules: the requested set (root's own by default, nothing otherwise)
    /// becomes the permitted, effective, inheritable and ambient sets; the bounding set shrinks to
    /// it only in a new or joined user namespace. Root without --cap-add/--cap-drop keeps its sets
    /// untouched, but its capabilities still become ambient where its inheritable set allows.
    /// </summary>
    internal static CapabilitySet CapabilitiesOf(BwrapOptions o, BwrapHost host)
    {
        ulong caps = o.RequestedCaps & host.KnownCaps;
        if (host.IsRoot && !o.CapsChanged)
            return new CapabilitySet { Ambient = caps, OnlyRaiseAmbient = true };
        bool userns = o.UnshareUser || o.UsernsFd is not null;
        // Root without a user namespace cannot gain what it lacks (--cap-add ALL in a container):
        // bubblewrap's capset then fails and is ignored, dropping nothing; Husk keeps what it can.
        if (host.IsRoot && !userns)
            caps &= host.PermittedCaps;
        return new CapabilitySet
        {
            Bounding = userns ? caps : ulong.MaxValue,
            Permitted = caps,
            Effective = caps,
            Inheritable = caps,
            Ambient = caps,
            LockSecureBits = false,
        };
    }

    /// <summary>bubblewrap puts destinations under the new root whether or not they start with '/'.</summary>
    internal static string Destination(string dest)
    {
        string d = "/" + dest.TrimStart('/');
        while (d.Length > 1 && d.EndsWith('/'))
            d = d[..^1];
        return d;
    }

    private static MountOp ToMountOp(BwrapOp op)
    {
        string dest = Destination(op.Dest);
        MountOp m = op.Kind switch
        {
            BwrapOpKind.Bind or BwrapOpKind.ReadOnlyBind or BwrapOpKind.DevBind => new BindMount(op.Source!, dest)
            {
                ReadOnly = op.Kind == BwrapOpKind.ReadOnlyBind,
                Devices = op.Kind == BwrapOpKind.DevBind,
                Optional = op.AllowMissingSource,
            },
            BwrapOpKind.BindFd or BwrapOpKind.ReadOnlyBindFd => new BindFdMount(Descriptors.Borrow(op.Fd), dest) { ReadOnly = op.Kind == BwrapOpKind.ReadOnlyBindFd },
            BwrapOpKind.Overlay => new OverlayMount(dest, [.. op.Lowers])
            {
                Kind = OverlayKind.Persistent,
                Upper = op.Source,
                Work = op.WorkDir,
                UserXattr = true,
            },
            BwrapOpKind.TmpOverlay => new OverlayMount(dest, [.. op.Lowers]) { Kind = OverlayKind.Temporary, UserXattr = true },
            BwrapOpKind.ReadOnlyOverlay => new OverlayMount(dest, [.. op.Lowers]) { Kind = OverlayKind.ReadOnly, UserXattr = true },
            BwrapOpKind.Proc => new ProcMount(dest),
            BwrapOpKind.Dev => new DevMount(dest),
            BwrapOpKind.Tmpfs => new TmpfsMount(dest) { Mode = (UnixFileMode)(op.Perms), Size = op.Size == 0 ? null : op.Size },
            BwrapOpKind.Mqueue => new MqueueMount(dest),
            BwrapOpKind.Dir => new MakeDirectory(dest) { Mode = (UnixFileMode)(op.Perms) },
            BwrapOpKind.File => new WriteFile(dest) { Fd = Descriptors.Borrow(op.Fd), Mode = (UnixFileMode)(op.Perms) },
            BwrapOpKind.BindData => new WriteFile(dest) { Fd = Descriptors.Borrow(op.Fd), Mode = (UnixFileMode)(op.Perms), Placement = FilePlacement.Bind },
            BwrapOpKind.ReadOnlyBindData => new WriteFile(dest) { Fd = Descriptors.Borrow(op.Fd), Mode = (UnixFileMode)(op.Perms), Placement = FilePlacement.ReadOnlyBind },
            BwrapOpKind.Symlink => new MakeSymlink(op.Source!, dest),
            BwrapOpKind.RemountReadOnly => new RemountReadOnly(dest),
            BwrapOpKind.Chmod => new ChangeMode(dest, (UnixFileMode)op.Perms),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op.Kind, "unknown bwrap operation"),
        };
        return m with { ParentMode = (UnixFileMode)(op.ParentMode) };
    }
}
