using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Husk.Interop;
using static Husk.Interop.Interop;
using static Husk.Interop.Interop.Clone;

namespace Husk.Launch;

/// <summary>How the supervisor maps ids for a new user namespace.</summary>
internal enum IdMapKind
{
    /// <summary>No new user namespace, or someone else maps (bwrap's --userns-block-fd).</summary>
    None,
    /// <summary>The supervisor writes /proc/PID/{setgroups,uid_map,gid_map} itself.</summary>
    Write,
    /// <summary>newuidmap and newgidmap write them (subordinate ranges for an unprivileged caller).</summary>
    Helper,
}

internal sealed record IdMapPlan(IdMapKind Kind, string UidMap, string GidMap, bool DenySetgroups)
{
    public static IdMapPlan None { get; } = new(IdMapKind.None, "", "", false);
}

/// <summary>The planner's output: clone flags, the op list and what the supervisor does around them.</summary>
internal sealed class SpawnPlan
{
    public required ulong CloneFlags { get; init; }
    public required IReadOnlyList<PlannedOp> Ops { get; init; }
    public required IdMapPlan IdMaps { get; init; }
    public bool HasMounts { get; init; }
    /// <summary>The sandbox outlives the supervisor (<see cref="SandboxSpec.Detached"/>).</summary>
    public bool Detached { get; init; }
    /// <summary>The user namespace is made after the clone: the id maps are written at the SYNC op marked <see cref="SpawnPlanner.SyncIdMaps"/>, not at the hello.</summary>
    public bool IdMapsAtSync { get; init; }
    /// <summary>A husk-init reaps the payload and writes its status.</summary>
    public bool UsesInit { get; init; }
    /// <summary>The sandbox process is not the cloned child but a descendant that reports its pid.</summary>
    public bool ReportsPid { get; init; }
    public int ExecOpIndex { get; init; }
    /// <summary>The payload is the caller itself: the plan ends in a RETURN op (<see cref="SandboxSpec.ContinuesCaller"/>).</summary>
    public bool ContinuesCaller { get; init; }
    /// <summary>The walls the payload gets, for processes that join it later.</summary>
    public AppliedPolicy? Policy { get; init; }
    /// <summary>The final mount list the ops were planned from (base tree, the spec's own, the closing remount).</summary>
    public IReadOnlyList<MountOp> Mounts { get; init; } = [];
    /// <summary>The caller's terminal whose foreground the sandbox takes (<see cref="SandboxSpec.ForegroundTerminal"/>).</summary>
    public int? ForegroundTerminal { get; init; }
    /// <summary>Host directories the supervisor clones and idmaps, in the order the child's attach ops receive them.</summary>
    public IReadOnlyList<IdmappedSource> IdmappedSources { get; init; } = [];
    /// <summary>The network half: what the stage does in the sandbox's network namespace and the supervisor around it.</summary>
    public Network.NetworkPlan? Network { get; init; }
}

/// <summary>Turns a <see cref="SandboxSpec"/> into native-stage operations. Pure: no system calls.</summary>
internal static class SpawnPlanner
{
    private const uint MOUNT_ATTR_RDONLY = 0x1;
    private const uint MOUNT_ATTR_NOSUID = 0x2;
    private const uint MOUNT_ATTR_NODEV = 0x4;
    private const uint MOUNT_ATTR_NOEXEC = 0x8;
    private const int PR_SET_NO_NEW_PRIVS = 38;
    private const ulong SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3;
    private const ulong MS_NOSUID = 0x2;
    private const ulong MS_NODEV = 0x4;
    private const ulong MS_SHARED = 1 << 20;
    private const ulong MS_SLAVE = 1 << 19;
    private const ulong MS_UNBINDABLE = 1 << 17;
    private const uint MOUNT_ATTR_NOATIME = 0x10;
    private const uint MOUNT_ATTR_STRICTATIME = 0x20;
    private const uint MOUNT_ATTR_NODIRATIME = 0x80;
    private const uint MOUNT_ATTR_NOSYMFOLLOW = 0x200000;



    /// <summary>Subordinate range used for root when /etc/subuid names none for it.</summary>
    internal const uint RootFallbackRangeStart = 0x70000000;
    internal const uint RangeSize = 65536;

    internal static readonly string[] DevNodes = ["null", "zero", "full", "random", "urandom", "tty"];
    internal static readonly string[] ProcCovers = ["sys", "sysrq-trigger", "irq", "bus"];

    /// <param name="spec">What is wanted.</param>
    /// <param name="host">The caller's facts (ids, directories, the host's filesystem).</param>
    /// <param name="subIds">Subordinate id ranges, where a range is mapped.</param>
    /// <param name="layout">The host overlay, laid out and prepared, for <see cref="HostOverlayFileSystem"/>.</param>
    /// <param name="image">The image, prepared in the cache, for <see cref="ImageFileSystem"/>.</param>
    /// <param name="bridgeLease">The sandbox's place on the bridge, for <see cref="NetworkMode.Bridge"/>.</param>
    public static SpawnPlan Plan(SandboxSpec spec, HostContext host, SubordinateIds? subIds = null, FileSystem.HostOverlayLayout? layout = null, Images.PreparedImage? image = null, Network.BridgeLease? bridgeLease = null)
    {
        var problems = spec.Validate();
        if (problems.Length > 0)
            throw new SandboxSpecException(problems);
        // The image's config fills in what the spec leaves open (command, environment, directory, user).
        if (spec.FileSystem is ImageFileSystem imageFs)
            spec = (image ?? throw new InvalidOperationException("the image was not prepared")).Apply(spec, imageFs);

        var ns = spec.Namespaces;
        bool joinProcess = spec.JoinProcessFd is not null;
        bool joinUser = spec.UserNamespaceFd is not null || (joinProcess && spec.JoinNamespaces.HasFlag(NamespaceKinds.User));
        bool joinPid = spec.PidNamespaceFd is not null || (joinProcess && spec.JoinNamespaces.HasFlag(NamespaceKinds.Pid));
        bool newPid = ns.HasFlag(NamespaceKinds.Pid);
        // With a nested user namespace (--disable-userns) the payload lives in that one, and the
        // capabilities it keeps act only on namespaces it owns: the network, UTS and IPC
        // namespaces are then made after it (--cap-add CAP_NET_ADMIN must be able to change lo).
        bool denyNesting = DeniesNesting(spec);
        // A network the supervisor serves is made at clone time, owned by the sandbox's user namespace
        // and never the payload's: pasta joins it before release, and the payload cannot change its rules.
        var late = denyNesting && !joinUser && KeepsCapabilities(spec, host)
            ? ns & (NamespaceKinds.Net | NamespaceKinds.Uts | NamespaceKinds.Ipc) & ~(spec.Network.Supervised ? NamespaceKinds.Net : 0)
            : NamespaceKinds.None;
        if (spec.Network.Filter && !denyNesting && KeepsCapabilities(spec, host))
            throw new SandboxSpecException(["the egress allowlist cannot hold against a payload that keeps capabilities in the user namespace owning its network: drop --cap-add, --allow-userns or root's kept capabilities"]);
        var network = Network.NetworkPlanner.Plan(spec, host, bridgeLease);
        ulong flags = NamespaceFlags(ns & ~NamespaceKinds.Pid & ~(joinUser ? NamespaceKinds.User : 0) & ~late);
        // Namespaces joined by descriptor while a user namespace is created are joined first, with
        // the privileges of the caller's (runc's order): then the new ones are made, owned by the new
        // user namespace, and the supervisor writes its id maps only then.
        bool joinFirst = ns.HasFlag(NamespaceKinds.User) && !joinUser && !joinProcess && spec.NamespaceFds.Length > 0;
        // A pid namespace created at clone time makes the child pid 1; when joining one it is made by unshare later.
        bool pidAtClone = newPid && !joinUser && !joinPid && !joinFirst;
        if (pidAtClone)
            flags |= CLONE_NEWPID;
        ulong unshareLater = 0;
        if (joinUser || joinFirst)
        {
            // Namespaces created after joining are owned by the joined (or then created) user namespace.
            unshareLater = flags;
            flags = 0;
        }

        var ops = new List<PlannedOp>();
        var idMaps = PlanIdMaps(spec, host, subIds, out uint? setUid, out uint? setGid);
        // Without a user namespace of its own, a switch away from root drops the capabilities the
        // setup still needs (loopback, mounts, raised limits, a seccomp filter without no_new_privs):
        // it is the late identity, just before the capabilities are set.
        bool setIdLate = !spec.Namespaces.HasFlag(NamespaceKinds.User) && idMaps.Kind == IdMapKind.None && !joinUser && !joinProcess;
        var lateIdentity = setIdLate ? LateIdentity(spec, host, idMaps, null, null) : LateIdentity(spec, host, idMaps, setUid, setGid);
        var idmap = new IdmappedLayers(IdmapsLayers(host, idMaps, setUid));
        // A plain loop (once per number): LINQ's Distinct over ints is a generic virtual method lookup on a cold start.
        var closed = new List<int>();
        foreach (var handle in spec.SupervisorFds)
        {
            int fd = Descriptors.Number(handle);
            if (closed.Contains(fd))
                continue;
            closed.Add(fd);
            ops.Add(new PlannedOp(OpKind.Close, $"close the supervisor's fd {fd}") { Fd = fd });
        }
        ops.Add(new PlannedOp(OpKind.WaitParent, "wait for the supervisor"));

        bool reportsPid = false;
        // The last fork of the plan starts the payload: its husk-init reports the payload's status.
        bool usesInit = !spec.AsPid1 && (newPid || spec.LockFiles.Length > 0 || spec.SyncFd is not null);
        bool laterPidFork = newPid && !pidAtClone;
        if (joinProcess)
        {
            // setns with a pidfd joins several namespaces at once; a pid namespace applies to children.
            ops.Add(new PlannedOp(OpKind.SetNs, "join the sandbox's namespaces")
            {
                Fd = Descriptors.Number(spec.JoinProcessFd!),
                A = NamespaceFlags(spec.JoinNamespaces),
            });
            if (unshareLater != 0)
                ops.Add(new PlannedOp(OpKind.Unshare, "create namespaces") { A = unshareLater });
            if (joinPid)
            {
                ops.Add(ForkOp("enter the pid namespace", reportPid: !newPid, status: !usesInit && !laterPidFork, keep: [], SetupRole.EnterPidNamespace, spec.Detached));
                reportsPid = !newPid;
            }
        }
        else if (joinUser)
        {
            ops.Add(new PlannedOp(OpKind.SetNs, "join the user namespace") { Fd = Descriptors.Number(spec.UserNamespaceFd!), A = CLONE_NEWUSER, Role = SetupRole.JoinUserNamespace });
            if (unshareLater != 0)
                ops.Add(new PlannedOp(OpKind.Unshare, "create namespaces") { A = unshareLater });
        }
        foreach (var join in spec.NamespaceFds)
            ops.Add(new PlannedOp(OpKind.SetNs, $"join the {join.Kind.ToString().ToLowerInvariant()} namespace") { Fd = Descriptors.Number(join.Handle), A = NamespaceFlags(join.Kind), Role = SetupRole.JoinNamespace });
        if (joinFirst)
        {
            ops.Add(new PlannedOp(OpKind.Unshare, "create namespaces") { A = unshareLater });
            ops.Add(new PlannedOp(OpKind.Sync, "wait for the id maps") { A = SyncIdMaps });
        }
        if (joinPid && !joinProcess)
        {
            ops.Add(new PlannedOp(OpKind.SetNs, "join the pid namespace") { Fd = Descriptors.Number(spec.PidNamespaceFd!), A = CLONE_NEWPID, Role = SetupRole.JoinPidNamespace });
            ops.Add(ForkOp("enter the pid namespace", reportPid: !newPid, status: !usesInit && !laterPidFork, keep: [], SetupRole.EnterPidNamespace, spec.Detached));
            reportsPid = !newPid;
        }
        if (newPid && !pidAtClone)
        {
            ops.Add(new PlannedOp(OpKind.Unshare, "create the pid namespace") { A = CLONE_NEWPID, Role = SetupRole.CreatePidNamespace });
            ops.Add(ForkOp("enter the new pid namespace", reportPid: true, status: !usesInit, keep: [], SetupRole.EnterPidNamespace, spec.Detached));
            reportsPid = true;
        }

        if (setUid is not null && !setIdLate)
        {
            // Supplementary groups can be cleared only where setgroups is allowed: not in a user
            // namespace an unprivileged caller made (it denies setgroups).
            ops.Add(new PlannedOp(OpKind.SetId, "switch to the sandbox's ids")
            {
                A = setUid.Value,
                B = setGid!.Value,
                Flags = host.IsRoot ? OpFlags.SetGroups : 0,
            });
        }

        AddNetworkAndHostname(ops, spec, ~late, network);
        foreach (var sysctl in spec.Sysctls)
            ops.Add(WriteProcOp("sys/" + sysctl.Name.Replace('.', '/'), sysctl.Value, $"set {sysctl.Name}", SetupRole.Sysctl));
        if (denyNesting)
        {
            ops.Add(new PlannedOp(OpKind.WriteProc, "limit user.max_user_namespaces")
            {
                Role = SetupRole.MaxUserNamespaces,
                S1 = "sys/user/max_user_namespaces",
                Data = "1"u8.ToArray(),
                C = 1,
            });
        }

        bool hasMounts = spec.FileSystem is not (InheritFileSystem or ChrootFileSystem) && (ns.HasFlag(NamespaceKinds.Mount) || spec.JoinsMountNamespace);
        var mounts = hasMounts ? BaseTree.Mounts(spec, host, layout, image) : [];
        if (hasMounts)
        {
            var rt = spec.RootTmpfs;
            if (spec.FileSystem is HostOverlayFileSystem { StorageSize: { } storage })
                rt = rt with { Size = storage, KeepOpen = true };
            // A directory root's writes go to a temporary overlay whose upper is in this tmpfs.
            if (spec.FileSystem is DirectoryFileSystem { ReadOnly: false, Size: { } directoryCap })
                rt = rt with { Size = directoryCap };
            ops.Add(new PlannedOp(OpKind.RootBegin, $"set up the sandbox root on {spec.BuildBase}")
            {
                S1 = spec.BuildBase,
                A = (rt.Devices ? 0 : MS_NODEV) | (rt.AllowSetuid ? 0 : MS_NOSUID),
                S2 = "mode=" + Octal(rt.Mode) + (rt.Size is { } cap ? $",size={cap}" : ""),
                Flags = rt.KeepOpen ? OpFlags.SendBase : 0,
            });
            int tmpOverlays = 0;
            foreach (var op in mounts)
            {
                int first = ops.Count;
                AddMountOp(ops, op, spec, host, idmap, ref tmpOverlays);
                if (op.IfPresent)
                {
                    for (int i = first; i < ops.Count; i++)
                        ops[i] = ops[i].WithFlags(OpFlags.Try | OpFlags.NoCreate);
                }
            }
            if (spec.PauseBeforeRootSwitch)
                ops.Add(new PlannedOp(OpKind.Sync, "wait for the supervisor before switching to the sandbox root"));
            ops.Add(new PlannedOp(OpKind.RootFinish, "switch to the sandbox root")
            {
                A = spec.RootPropagation switch
                {
                    MountPropagation.Shared => MS_SHARED,
                    MountPropagation.Slave => MS_SLAVE,
                    MountPropagation.Unbindable => MS_UNBINDABLE,
                    _ => 0,
                },
            });
        }
        else if (spec.PauseBeforeRootSwitch)
        {
            ops.Add(new PlannedOp(OpKind.Sync, "wait for the supervisor"));
        }

        if (denyNesting)
        {
            // A nested user namespace the payload does not own, so it cannot raise the limit again.
            uint uid = spec.Identity.Uid ?? host.Uid;
            uint gid = spec.Identity.Gid ?? host.Gid;
            ops.AddRange(NestedUserNamespace(uid, gid, "nested"));
            if (late != NamespaceKinds.None)
            {
                ops.Add(new PlannedOp(OpKind.Unshare, "create namespaces owned by the nested user namespace") { A = NamespaceFlags(late) });
                AddNetworkAndHostname(ops, spec, late, network);
            }
        }
        if (denyNesting || spec.AssertUserNamespacesDisabled)
            ops.Add(new PlannedOp(OpKind.ExpectNoUserns, "check that user namespaces are disabled"));

        var keep = new List<int>();
        foreach (string lockFile in spec.LockFiles)
        {
            ops.Add(new PlannedOp(OpKind.LockFile, $"lock {lockFile}")
            {
                S2 = lockFile,
                Flags = OpRoots.S2(OpRoot.Cwd),
            });
        }
        if (spec.SyncFd is { } sync)
            keep.Add(Descriptors.Number(sync));

        // Working directory, with PWD pointing at the one chosen.
        var candidates = spec.WorkingDirectory is { } wd
            ? new[] { wd }
            : new[] { host.WorkingDirectory, host.Home, "/" }.Where(p => p is not null && p.StartsWith('/')).Distinct().ToArray();
        var env = spec.Environment.ToList();
        if (spec.PidVariable is { } pidVar)
            env.RemoveAll(e => e.StartsWith(pidVar + "=", StringComparison.Ordinal));
        int pwdSlot = -1;
        if (spec.SetPwd)
        {
            env.RemoveAll(e => e.StartsWith("PWD=", StringComparison.Ordinal));
            pwdSlot = env.Count;
            env.Add("PWD=" + candidates[0]);
        }
        var chdir = new PlannedOp(OpKind.Chdir, spec.WorkingDirectory is null ? "change directory" : $"change directory to {spec.WorkingDirectory}")
        {
            Strings = candidates!,
            Strings2 = candidates.Select(c => "PWD=" + c).ToArray(),
            EnvSlot = pwdSlot,
        };
        // A chroot comes after the descriptors are laid out (it puts a /proc descriptor among them), and the directory after it.
        var chroot = spec.FileSystem as ChrootFileSystem;
        if (chroot is null)
            ops.Add(chdir);

        if (spec.Terminal is { } size)
        {
            ops.Add(new PlannedOp(OpKind.OpenPty, "open the sandbox's pseudo-terminal")
            {
                S1 = "/dev/ptmx",
                S2 = spec.TerminalConsole,
                Flags = spec.TerminalConsole is null ? 0 : OpFlags.Console,
                Data = [(byte)size.Rows, (byte)(size.Rows >> 8), (byte)size.Columns, (byte)(size.Columns >> 8), 0, 0, 0, 0],
            });
        }
        if (spec.BlockFd is { } block)
            ops.Add(new PlannedOp(OpKind.WaitFd, $"wait on fd {Descriptors.Number(block)}") { Fd = Descriptors.Number(block) });

        if (usesInit)
        {
            // Holding the terminal, the sandbox must tell when the payload stops (Ctrl-Z), so the supervisor stops with it.
            var fork = ForkOp("start the payload under husk-init", reportPid: false, status: true, keep: keep.ToArray());
            ops.Add(spec.ForegroundTerminal is null ? fork : fork.WithFlags(OpFlags.ReportStops));
        }

        // From here on: the payload only.
        if (spec.SyncFd is { } syncFd && !spec.AsPid1)
            ops.Add(new PlannedOp(OpKind.Close, $"close fd {Descriptors.Number(syncFd)}") { Fd = Descriptors.Number(syncFd) });
        if (spec.NewSession || spec.Terminal is not null)
            ops.Add(new PlannedOp(OpKind.SetSid, "start a new session"));
        if (spec.Terminal is not null)
        {
            for (int fd = 0; fd < 3; fd++)
                ops.Add(new PlannedOp(OpKind.Dup2, $"use the terminal as fd {fd}") { Flags = OpFlags.PtySlave, A = (ulong)fd });
            ops.Add(new PlannedOp(OpKind.SetCtty, "take the terminal as controlling terminal") { Fd = 0 });
        }
        ops.Add(new PlannedOp(OpKind.Umask, "set the umask") { Mode = spec.Umask ?? host.Umask });
        // The start FIFO and the channel to the supervisor go to husk-init's gate under numbers
        // above every descriptor the payload is given (it closes both before its exec).
        int gateFd = -1, gateChannel = 0;
        var fdSpec = spec;
        if (spec.StartFifoFd is { } fifo)
        {
            gateFd = Math.Max(3, spec.Fds.Select(m => m.SandboxFd + 1).DefaultIfEmpty(3).Max());
            gateChannel = gateFd + 1;
            fdSpec = spec with { Fds = spec.Fds.Add(new FdMapping(fifo, gateFd)) };
        }
        // A caller that goes on in the sandbox keeps its descriptors (its side closes the engine's).
        if (!spec.ContinuesCaller)
            AddFdLayout(ops, fdSpec);
        if (spec.UserNamespace2Fd is { } userns2)
            ops.Add(new PlannedOp(OpKind.SetNs, "switch to the second user namespace") { Fd = Descriptors.Number(userns2), A = CLONE_NEWUSER, Role = SetupRole.SecondUserNamespace });
        // In a chroot the gate reopens its FIFO through the host's /proc, which the op leaves at this number.
        int gateProc = chroot is not null && gateFd >= 0 ? gateChannel + 1 : -1;
        if (chroot is not null)
        {
            ops.Add(new PlannedOp(OpKind.Chroot, $"change root to {chroot.Path}") { S1 = chroot.Path, Fd = gateProc });
            ops.Add(chdir);
        }
        // Raising a limit or lowering the OOM score needs CAP_SYS_RESOURCE, which the capabilities below may drop.
        foreach (var rl in spec.Rlimits)
            ops.Add(new PlannedOp(OpKind.Rlimit, $"set resource limit {RlimitName(rl.Resource)} to {rl.Soft}:{rl.Hard}") { A = (ulong)rl.Resource, B = rl.Soft, C = rl.Hard });
        if (spec.OomScoreAdjust is { } oom)
            ops.Add(WriteProcOp("self/oom_score_adj", oom.ToString(CultureInfo.InvariantCulture), "set the OOM score adjustment", SetupRole.OomScore));
        if (spec.Personality is { } persona)
            ops.Add(new PlannedOp(OpKind.Personality, $"set the execution domain 0x{persona:x}") { A = persona });
        var programs = SeccompPrograms(spec);
        // The listener is the callback's (the last program), else the profile's or last raw program's, before the trace's (or a traced callback's).
        int listenerIndex = spec.SyscallCallback is { Traced: false } ? programs.Count - 1
            : spec.Seccomp.UserNotification ? programs.Count - 1 - (spec.Trace is null && spec.SyscallCallback is null ? 0 : 1)
            : -1;
        // Without no_new_privs a filter needs CAP_SYS_ADMIN: install it while the stage still holds it
        // (runc's order), before the switch to the payload's ids or the capabilities drop it.
        bool seccompFirst = !spec.NoNewPrivileges && ((spec.Capabilities is { } dropping && (dropping.Effective & (1UL << CapSysAdmin)) == 0)
            || (lateIdentity is not null && lateIdentity.A != 0));
        if (seccompFirst)
            AddSeccomp(ops, programs, listenerIndex);
        if (lateIdentity is { } late2)
            ops.Add(late2);
        if (spec.Capabilities is { } caps)
        {
            ops.Add(new PlannedOp(OpKind.Caps, "set capabilities")
            {
                Caps = new HuskCaps
                {
                    Bounding = caps.Bounding,
                    Effective = caps.Effective,
                    Permitted = caps.Permitted,
                    Inheritable = caps.Inheritable,
                    Ambient = caps.Ambient,
                    SecureBits = caps.LockSecureBits ? LockedSecureBits : 0,
                    Flags = (caps.LockSecureBits ? CapsSetSecureBits : 0) | (caps.OnlyRaiseAmbient ? CapsOnlyRaiseAmbient : 0),
                },
            });
        }
        if (spec.NoNewPrivileges)
            ops.Add(new PlannedOp(OpKind.Prctl, "set no_new_privs") { A = PR_SET_NO_NEW_PRIVS, B = 1 });
        // Landlock needs no_new_privs or CAP_SYS_ADMIN, which the capabilities above may have dropped.
        // Rules from the mounts need the sandbox's own root; explicit ones (enter) apply anywhere.
        var landlock = hasMounts || spec.Landlock.Explicit is not null ? LandlockOf(spec, mounts) : null;
        if (landlock is not null)
            AddLandlock(ops, landlock, host.LandlockAbi);
        // Limits last, once the stage has made every descriptor it needs: a low RLIMIT_NOFILE would
        // refuse the Landlock ruleset of a caller holding many descriptors, or a dup2 to a high fd.
        AddResourceLimits(ops, spec);
        if (!seccompFirst)
            AddSeccomp(ops, programs, listenerIndex);

        if (spec.ContinuesCaller)
        {
            // No exec: the caller's code resumes here, in the payload.
            int returnIndex = ops.Count;
            ops.Add(new PlannedOp(OpKind.Return, "resume the caller in the sandbox"));
            return Finish(spec, ops, flags, idMaps, hasMounts, joinFirst, reportsPid, returnIndex, mounts, programs, landlock, idmap, network);
        }

        if (spec.IgnoredSignals.Length > 0)
        {
            ulong ignore = 0;
            foreach (int sig in spec.IgnoredSignals.Select(Signals.FromPosixSignal))
                ignore |= 1UL << (sig - 1);
            ops.Add(new PlannedOp(OpKind.SignalMask, "ignore signals") { A = 0, B = ignore });
        }

        var argv = spec.Command.ToArray();
        if (spec.Argv0 is not null)
            argv[0] = spec.Argv0;
        // A driver that must set the filesystem up from inside (fuse-overlayfs) runs the command through its wrapper.
        string file = spec.Command[0];
        if (layout is { CommandPrefix: [var wrapper, ..] prefix })
            (file, argv) = (wrapper, [.. prefix, .. argv]);
        int pidSlot = -1;
        if (spec.PidVariable is not null)
        {
            // The child appends its pid to this entry just before exec.
            pidSlot = env.Count;
            env.Add(spec.PidVariable + "=");
        }
        int execIndex = ops.Count;
        if (gateFd >= 0)
        {
            // husk-init's gate looks the payload up, waits on the FIFO, then execs it in its place.
            ops.Add(new PlannedOp(OpKind.Exec, $"execvp {spec.Command[0]}")
            {
                S1 = file,
                Strings = ["husk-init", "gate", gateProc >= 0 ? $"{Num(gateFd)},{Num(gateProc)}" : Num(gateFd), Num(gateChannel), Num(execIndex), spec.SearchPath ? "1" : "0", file, .. argv],
                Strings2 = env.ToArray(),
                B = (ulong)gateChannel,
                Flags = OpFlags.ExecInit | (pidSlot >= 0 ? OpFlags.EnvPid : 0),
                EnvSlot = pidSlot,
            });
        }
        else
        {
            ops.Add(new PlannedOp(OpKind.Exec, $"execvp {spec.Command[0]}")
            {
                S1 = file,
                Strings = argv,
                Strings2 = env.ToArray(),
                Flags = (spec.SearchPath ? OpFlags.SearchPath : 0) | (spec.ScriptShell ? OpFlags.ScriptShell : 0) | (pidSlot >= 0 ? OpFlags.EnvPid : 0),
                EnvSlot = pidSlot,
            });
        }

        return Finish(spec, ops, flags, idMaps, hasMounts, joinFirst, reportsPid, execIndex, mounts, programs, landlock, idmap, network);
    }

    /// <summary>The plan made of the ops, ending at the op that starts the payload (exec, or the caller's resumption).</summary>
    private static SpawnPlan Finish(SandboxSpec spec, List<PlannedOp> ops, ulong flags, IdMapPlan idMaps, bool hasMounts, bool joinFirst, bool reportsPid, int execIndex,
        List<MountOp> mounts, List<byte[]> programs, Policy.LandlockPolicy? landlock, IdmappedLayers idmap, Network.NetworkPlan? network)
    {
        return new SpawnPlan
        {
            CloneFlags = flags,
            Ops = ops,
            IdMaps = idMaps,
            HasMounts = hasMounts,
            Detached = spec.Detached,
            IdMapsAtSync = joinFirst,
            UsesInit = ops.Any(o => o.Kind == OpKind.Fork && (o.Flags & OpFlags.InitStatus) != 0),
            ReportsPid = reportsPid,
            ExecOpIndex = execIndex,
            ContinuesCaller = spec.ContinuesCaller,
            Mounts = mounts,
            // A callback's filter needs its listener, and a trace's its tracer, which only the supervisor of the run holds.
            Policy = new AppliedPolicy([.. programs.Take(programs.Count - (spec.SyscallCallback is null ? 0 : 1) - (spec.Trace is null ? 0 : 1)).Select(p => ImmutableArray.Create(p))],
                landlock, spec.Capabilities, spec.NoNewPrivileges),
            ForegroundTerminal = spec.ForegroundTerminal,
            IdmappedSources = idmap.Sources,
            Network = network,
        };
    }

    private static string Num(int n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>A SYNC op's a: the supervisor writes the id maps there (the other kind of pause runs the front door's hooks).</summary>
    internal const ulong SyncIdMaps = 1;

    private const int CapSysAdmin = 21;

    private static readonly string[] RlimitNames =
        ["CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"];

    /// <summary>"RLIMIT_NOFILE" for 7.</summary>
    internal static string RlimitName(int resource) => resource >= 0 && resource < RlimitNames.Length ? "RLIMIT_" + RlimitNames[resource] : Num(resource);

    /// <summary>RLIMIT_* by name ("RLIMIT_NOFILE" or "NOFILE"), or null.</summary>
    internal static int? RlimitResource(string name)
    {
        string n = name.StartsWith("RLIMIT_", StringComparison.Ordinal) ? name[7..] : name;
        int i = Array.IndexOf(RlimitNames, n);
        return i >= 0 ? i : null;
    }

    private static void AddSeccomp(List<PlannedOp> ops, List<byte[]> programs, int listenerIndex)
    {
        for (int i = 0; i < programs.Count; i++)
        {
            var prog = programs[i];
            bool listener = i == listenerIndex;
            ops.Add(new PlannedOp(OpKind.Seccomp, $"install seccomp filter {i + 1}")
            {
                Data = prog,
                C = (ulong)(prog.Length / 8),
                A = listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0,
                Flags = listener ? OpFlags.SendListener : 0,
            });
        }
    }

    /// <summary>Whether nested user namespaces are made impossible: asked for, or by default where the sandbox has a user namespace of its own.</summary>
    internal static bool DeniesNesting(SandboxSpec spec) => spec.NestedUserNamespaces switch
    {
        NestedUserNamespaces.Deny => true,
        NestedUserNamespaces.Auto => spec.Namespaces.HasFlag(NamespaceKinds.User) && spec.UserNamespaceFd is null && spec.JoinProcessFd is null,
        _ => false,
    };

    /// <summary>The Landlock rules for the final mount list, or none.</summary>
    internal static Policy.LandlockPolicy? LandlockOf(SandboxSpec spec, IEnumerable<MountOp> mounts)
    {
        var l = spec.Landlock;
        if (l.Explicit is { } policy)
            return policy;
        var mode = l.Mode == LandlockMode.Auto
            ? spec.NestedUserNamespaces == NestedUserNamespaces.Allow ? LandlockMode.Off : LandlockMode.On
            : l.Mode;
        if (mode == LandlockMode.Off)
            return null;
        bool strict = mode == LandlockMode.Strict;
        return new Policy.LandlockPolicy
        {
            Paths = Policy.LandlockPolicy.MirrorMounts(mounts, writableExecutes: !strict),
            RestrictTcp = strict || l.TcpBind.Length > 0 || l.TcpConnect.Length > 0,
            TcpBindPorts = l.TcpBind,
            TcpConnectPorts = l.TcpConnect,
            Strict = strict,
        };
    }

    /// <summary>The policy the spec's profile and rules make (nested sandboxes' calls allowed where they are), or none.</summary>
    internal static Policy.SeccompPolicy? SeccompPolicyOf(SandboxSpec spec) =>
        Policy.PolicyDefaults.Seccomp(spec.Seccomp.Profile, spec.Seccomp.Allow, spec.Seccomp.Deny, spec.NestedUserNamespaces == NestedUserNamespaces.Allow);

    /// <summary>
    /// The seccomp programs, in the order they are installed: the raw ones, the profile compiled with
    /// its rules (nested sandboxes' calls allowed where they are), the trace's (RET_TRACE for the
    /// traced calls, whose tracer the supervisor runs), and the syscall callback's, whose listener
    /// the supervisor holds (the last, where the listener is asked for).
    /// </summary>
    internal static List<byte[]> SeccompPrograms(SandboxSpec spec)
    {
        var programs = spec.Seccomp.RawPrograms.Select(p => p.ToArray()).ToList();
        if (SeccompPolicyOf(spec) is { } policy)
            programs.Add(Policy.SeccompCompiler.Compile(policy).ToArray());
        if (spec.Trace is { } trace)
            programs.Add(Tracing.TraceFilter.Compile(trace.Syscalls).ToArray());
        // A traced callback stops its calls for the tracer (RET_TRACE), the other kind for its listener.
        if (spec.SyscallCallback is { } callback)
            programs.Add(callback.Traced ? Tracing.TraceFilter.Compile(Tracing.SyscallSet.Parse(string.Join(',', callback.Syscalls))).ToArray() : callback.Compile().ToArray());
        return programs;
    }

    /// <summary>Loopback and the network's own ops, and the hostname, for the namespaces of <paramref name="kinds"/> made by now.</summary>
    private static void AddNetworkAndHostname(List<PlannedOp> ops, SandboxSpec spec, NamespaceKinds kinds, Network.NetworkPlan network)
    {
        if (kinds.HasFlag(NamespaceKinds.Net) && spec.Namespaces.HasFlag(NamespaceKinds.Net))
        {
            if (spec.BringUpLoopback)
                ops.Add(new PlannedOp(OpKind.LoopbackUp, "bring up the loopback interface"));
            ops.AddRange(network.NamespaceOps);
        }
        if (kinds.HasFlag(NamespaceKinds.Uts) && spec.Hostname is not null)
            ops.Add(new PlannedOp(OpKind.SetHostname, $"set the hostname to {spec.Hostname}") { S1 = spec.Hostname });
    }

    /// <summary>The payload holds capabilities after exec: some are kept, or it is root with the sets left alone.</summary>
    private static bool KeepsCapabilities(SandboxSpec spec, HostContext host) => spec.Capabilities is { } caps
        ? (caps.Permitted | caps.Effective | caps.Ambient) != 0 || caps.OnlyRaiseAmbient
        : (spec.Identity.Uid ?? host.Uid) == 0;

    internal const int RLIMIT_CPU = 0, RLIMIT_FSIZE = 1, RLIMIT_STACK = 3, RLIMIT_CORE = 4, RLIMIT_NPROC = 6, RLIMIT_NOFILE = 7, RLIMIT_AS = 9;

    /// <summary>
    /// The payload's rlimits (husk-init has none): they are the rlimit backend's enforcement and the
    /// cgroup backends' second line. Each is clamped to the hard limit the payload inherits.
    /// </summary>
    private static void AddResourceLimits(List<PlannedOp> ops, SandboxSpec spec)
    {
        var limits = spec.Limits;
        if (!limits.IsSupervised)
            return;
        void Add(int resource, string what, ulong soft, ulong hard) =>
            ops.Add(new PlannedOp(OpKind.Rlimit, $"set the {what} limit") { A = (ulong)resource, B = soft, C = hard, Flags = OpFlags.Clamp });
        Add(RLIMIT_CORE, "core dump", 0, 0);
        if (limits.CpuTime is { } cpu)
        {
            // A backstop only: the supervisor kills the tree at the limit, summed over every process.
            ulong seconds = (ulong)Math.Ceiling(cpu.TotalSeconds) + 1;
            Add(RLIMIT_CPU, "CPU time", seconds, seconds + 1);
        }
        if (limits.OutputBytes is { } output)
            Add(RLIMIT_FSIZE, "file size", Resources.CutFiles.Rlimit(output), Resources.CutFiles.Rlimit(output));
        if (limits.OpenFiles is { } files)
            Add(RLIMIT_NOFILE, "open files", (ulong)files, (ulong)files);
        if (limits.StackBytes is { } stack)
            Add(RLIMIT_STACK, "stack", (ulong)stack, (ulong)stack);
        if (limits.AddressSpaceBytes is { } address)
            Add(RLIMIT_AS, "address space", (ulong)address, (ulong)address);
        // RLIMIT_NPROC counts the tasks of one (user namespace, uid): in a user namespace of the
        // sandbox's own it counts this sandbox alone (and husk-init, hence one more).
        if (spec.Namespaces.HasFlag(NamespaceKinds.User) || spec.UserNamespaceFd is not null)
        {
            ulong tasks = (ulong)limits.EffectiveProcesses + (spec.AsPid1 ? 0UL : 1UL);
            Add(RLIMIT_NPROC, "process", tasks, tasks);
        }
    }

    /// <summary>
    /// Create a ruleset with every right the kernel's ABI knows, add the rules (resolved in the
    /// built root), restrict. Best effort down to the kernel's ABI unless the policy is strict.
    /// </summary>
    private static void AddLandlock(List<PlannedOp> ops, Policy.LandlockPolicy policy, int abi)
    {
        if (policy.Strict && abi < policy.RequiredAbi)
            throw new SandboxSpecException([$"Landlock ABI {abi} of this kernel lacks {string.Join(", ", policy.Missing(abi))}: the strict Landlock policy needs ABI {policy.RequiredAbi}"]);
        if (abi < 1)
            return;
        ulong fs = (ulong)Policy.LandlockPolicy.FsAccessOf(abi);
        ulong net = abi >= 4 && policy.RestrictTcp ? 3UL : 0;
        ulong scoped = abi >= 6 ? (policy.ScopeAbstractUnixSockets ? 1UL : 0) | (policy.ScopeSignals ? 2UL : 0) : 0;
        int size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
        var attr = new byte[24];
        BitConverter.TryWriteBytes(attr.AsSpan(0), fs);
        BitConverter.TryWriteBytes(attr.AsSpan(8), net);
        BitConverter.TryWriteBytes(attr.AsSpan(16), scoped);
        ops.Add(new PlannedOp(OpKind.LandlockCreate, $"create a Landlock ruleset (ABI {abi})") { Data = attr[..size], C = (ulong)size });
        foreach (var rule in policy.Paths)
        {
            ulong access = (ulong)rule.Access & fs;
            if (access == 0)
                continue;
            ops.Add(new PlannedOp(OpKind.LandlockRule, $"allow {rule.Access} beneath {rule.Path} (Landlock)")
            {
                S2 = rule.Path,
                A = access,
                B = 1, // LANDLOCK_RULE_PATH_BENEATH
                Flags = OpRoots.S2(OpRoot.Cwd) | (rule.Optional ? OpFlags.Try : 0),
            });
        }
        if (net != 0)
        {
            foreach (ushort port in policy.TcpBindPorts)
                ops.Add(new PlannedOp(OpKind.LandlockRule, $"allow binding TCP port {port} (Landlock)") { A = 1, B = 2, C = port });
            foreach (ushort port in policy.TcpConnectPorts)
                ops.Add(new PlannedOp(OpKind.LandlockRule, $"allow connecting to TCP port {port} (Landlock)") { A = 2, B = 2, C = port });
        }
        ops.Add(new PlannedOp(OpKind.LandlockRestrict, "enforce the Landlock ruleset"));
    }

    // SECBIT_NOROOT | _LOCKED, NO_SETUID_FIXUP | _LOCKED, KEEP_CAPS_LOCKED
    internal const uint LockedSecureBits = 0x01 | 0x02 | 0x04 | 0x08 | 0x20;

    internal static ulong NamespaceFlags(NamespaceKinds ns)
    {
        ulong f = 0;
        if (ns.HasFlag(NamespaceKinds.User)) f |= CLONE_NEWUSER;
        if (ns.HasFlag(NamespaceKinds.Mount)) f |= CLONE_NEWNS;
        if (ns.HasFlag(NamespaceKinds.Pid)) f |= CLONE_NEWPID;
        if (ns.HasFlag(NamespaceKinds.Ipc)) f |= CLONE_NEWIPC;
        if (ns.HasFlag(NamespaceKinds.Uts)) f |= CLONE_NEWUTS;
        if (ns.HasFlag(NamespaceKinds.Net)) f |= CLONE_NEWNET;
        if (ns.HasFlag(NamespaceKinds.Cgroup)) f |= CLONE_NEWCGROUP;
        if (ns.HasFlag(NamespaceKinds.Time)) f |= CLONE_NEWTIME;
        return f;
    }

    /// <summary>
    /// A fork: the forker becomes husk-init above the child, or with <paramref name="detach"/>
    /// (<see cref="SandboxSpec.Detached"/>) the child becomes the supervisor's own and the forker leaves.
    /// </summary>
    private static PlannedOp ForkOp(string description, bool reportPid, bool status, int[] keep, SetupRole role = SetupRole.ForkInit, bool detach = false) =>
        new(OpKind.Fork, description)
        {
            Role = role,
            Flags = (reportPid ? OpFlags.ReportPid : 0) | (status && !detach ? OpFlags.InitStatus : 0) | (detach ? OpFlags.Detach : 0),
            Ints = keep,
            A = (ulong)keep.Length,
        };

    /// <summary>A user namespace nested in the current one, mapping only <paramref name="uid"/> and <paramref name="gid"/> to themselves (<paramref name="which"/> names it in messages).</summary>
    internal static IEnumerable<PlannedOp> NestedUserNamespace(uint uid, uint gid, string which) =>
    [
        new PlannedOp(OpKind.Unshare, $"create a {which} user namespace") { A = CLONE_NEWUSER, Role = SetupRole.NestedUserNamespace },
        WriteProcOp("self/setgroups", "deny", $"deny setgroups in the {which} user namespace", SetupRole.NestedSetgroups),
        WriteProcOp("self/gid_map", $"{gid} {gid} 1\n", $"write the {which} gid map", SetupRole.NestedGidMap),
        WriteProcOp("self/uid_map", $"{uid} {uid} 1\n", $"write the {which} uid map", SetupRole.NestedUidMap),
    ];

    private static PlannedOp WriteProcOp(string path, string data, string description, SetupRole role) =>
        new(OpKind.WriteProc, description) { Role = role, S1 = path, Data = Encoding.UTF8.GetBytes(data), C = (ulong)Encoding.UTF8.GetByteCount(data) };

    private static IdMapPlan PlanIdMaps(SandboxSpec spec, HostContext host, SubordinateIds? subIds, out uint? setUid, out uint? setGid)
    {
        setUid = null;
        setGid = null;
        uint uid = spec.Identity.Uid ?? host.Uid;
        uint gid = spec.Identity.Gid ?? host.Gid;
        if (spec.UserNamespaceFd is not null || (spec.JoinProcessFd is not null && spec.JoinNamespaces.HasFlag(NamespaceKinds.User)))
        {
            if (spec.Identity.Uid is not null || spec.Identity.Gid is not null)
            {
                setUid = uid;
                setGid = gid;
            }
            return IdMapPlan.None;
        }
        if (!spec.Namespaces.HasFlag(NamespaceKinds.User) || spec.Identity.Mapping == IdMapping.External)
        {
            // Without a user namespace of its own the payload takes the ids asked for as they are
            // (root's pysandbox owner=, bwrap's --uid with --unshare-user off): a caller who may not
            // switch to them gets EPERM from the switch, never a payload running as someone else.
            if (!spec.Namespaces.HasFlag(NamespaceKinds.User) && spec.Identity.Mapping != IdMapping.External
                && (spec.Identity.Uid is not null || spec.Identity.Gid is not null))
            {
                setUid = uid;
                setGid = gid;
            }
            return IdMapPlan.None;
        }

        if (spec.Identity.Mapping == IdMapping.Explicit)
        {
            // Written as given: by root, or for the caller's own single ids (setgroups then denied, as
            // the kernel wants); any other map needs newuidmap's check against /etc/subuid.
            var id = spec.Identity;
            bool ownOnly = id.UidMappings is [{ Count: 1 } um] && um.Outside == host.Uid && id.GidMappings is [{ Count: 1 } gm] && gm.Outside == host.Gid;
            // Setup runs as root inside where root is mapped: files it makes then have an owner.
            if (MapsId(id.UidMappings, 0) && MapsId(id.GidMappings, 0))
            {
                setUid = 0;
                setGid = 0;
            }
            return new IdMapPlan(host.IsRoot || ownOnly ? IdMapKind.Write : IdMapKind.Helper, MapLines(id.UidMappings), MapLines(id.GidMappings), DenySetgroups: !host.IsRoot && ownOnly);
        }

        var mapping = spec.Identity.Mapping;
        if (mapping == IdMapping.Single || (mapping == IdMapping.Auto && !host.IsRoot))
            return new IdMapPlan(IdMapKind.Write, $"{uid} {host.Uid} 1\n", $"{gid} {host.Gid} 1\n", DenySetgroups: !host.IsRoot);

        if (host.IsRoot)
        {
            // Root's payload is a subordinate range, never the host's uid 0; it switches ids itself.
            var range = subIds?.RootRange ?? (RootFallbackRangeStart, RangeSize);
            setUid = uid;
            setGid = gid;
            return new IdMapPlan(
                IdMapKind.Write,
                $"0 {range.Start} {range.Count}\n",
                $"0 {(subIds?.RootGidRange ?? range).Start} {(subIds?.RootGidRange ?? range).Count}\n",
                DenySetgroups: false);
        }

        // SubordinateRange for an unprivileged caller: the caller is uid inside, the range fills the rest.
        if (subIds?.UserRange is not { } ur || subIds.UserGidRange is not { } gr)
            throw new SandboxSpecException(["--map-subids needs a subordinate range for this user in /etc/subuid and /etc/subgid (add one with usermod --add-subuids)"]);
        return new IdMapPlan(IdMapKind.Helper, RangeMap(uid, host.Uid, ur), RangeMap(gid, host.Gid, gr), DenySetgroups: false);
    }

    /// <summary>Root's payload maps to a subordinate range (the payload switches ids itself): see <see cref="IdmappedLayers"/>.</summary>
    private static bool IdmapsLayers(HostContext host, IdMapPlan maps, uint? setUid) => host.IsRoot && maps.Kind == IdMapKind.Write && setUid is not null;

    /// <summary>
    /// The host owners the sandbox sees as themselves through root's idmapped layers (an id on disk
    /// shows as the same id inside, so those its user namespace maps inside), or null when the
    /// layers are not idmapped (try's and mkosi-sandbox's single id, an unprivileged caller).
    /// Only such an owner may be given to a directory prepared in the layer: a merged directory
    /// whose upper's owner the sandbox does not map cannot be written in (see SandboxRoot.OwnLikeHost).
    /// </summary>
    internal static Func<uint, uint, bool>? IdmappedOwners(SandboxSpec spec, HostContext host, SubordinateIds? subIds)
    {
        var maps = PlanIdMaps(spec, host, subIds, out uint? setUid, out _);
        if (!IdmapsLayers(host, maps, setUid))
            return null;
        return (uid, gid) => MapsInside(maps.UidMap, uid) && MapsInside(maps.GidMap, gid);
    }

    /// <summary>Whether an id map's text ("inside outside count" lines) maps <paramref name="id"/> inside.</summary>
    private static bool MapsInside(string map, uint id) =>
        map.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ').Select(f => uint.Parse(f, CultureInfo.InvariantCulture)).ToArray())
            .Any(f => id >= f[0] && id - f[0] < f[2]);

    private static bool MapsId(ImmutableArray<IdRange> map, uint id) => map.Any(r => id >= r.Inside && id - r.Inside < r.Count);

    private static string MapLines(ImmutableArray<IdRange> map) =>
        string.Concat(map.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Inside} {r.Outside} {r.Count}\n")));

    /// <summary>
    /// The switch to the payload's own ids once the sandbox is set up (mounts need the privileges of
    /// root inside, or the caller's): for an explicit id map, and where no user namespace is made or
    /// joined (a runtime that is root: husk-runtime under podman or containerd); null where the ids
    /// taken before setup are already the payload's.
    /// </summary>
    private static PlannedOp? LateIdentity(SandboxSpec spec, HostContext host, IdMapPlan maps, uint? earlyUid, uint? earlyGid)
    {
        var id = spec.Identity;
        bool joinsUser = spec.UserNamespaceFd is not null || (spec.JoinProcessFd is not null && spec.JoinNamespaces.HasFlag(NamespaceKinds.User));
        bool explicitMap = spec.Namespaces.HasFlag(NamespaceKinds.User) && !joinsUser && id.Mapping == IdMapping.Explicit;
        bool noUserNamespace = !spec.Namespaces.HasFlag(NamespaceKinds.User) && !joinsUser;
        bool given = id.Uid is not null || id.Gid is not null || id.AdditionalGids.Length > 0;
        if (!explicitMap && !(noUserNamespace && given) && !(joinsUser && id.AdditionalGids.Length > 0))
            return null;
        uint uid = id.Uid ?? (explicitMap ? 0 : host.Uid);
        uint gid = id.Gid ?? (explicitMap ? 0 : host.Gid);
        bool groups = explicitMap || joinsUser ? !maps.DenySetgroups : host.IsRoot;
        if (earlyUid == uid && earlyGid == gid && (id.AdditionalGids.IsEmpty || !groups))
            return null;
        return new PlannedOp(OpKind.SetId, "switch to the payload's ids")
        {
            A = uid,
            B = gid,
            Flags = groups ? OpFlags.SetGroups : 0,
            Ints = groups ? [.. id.AdditionalGids.Select(g => unchecked((int)g))] : null,
            C = groups ? (ulong)id.AdditionalGids.Length : 0,
        };
    }

    /// <summary>"inside outside count" triples: the caller at <paramref name="inside"/>, the range around it.</summary>
    internal static string RangeMap(uint inside, uint outside, (uint Start, uint Count) range)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{inside} {outside} 1");
        uint below = Math.Min(inside, range.Count);
        if (below > 0)
            sb.Append(CultureInfo.InvariantCulture, $" 0 {range.Start} {below}");
        if (range.Count > below)
            sb.Append(CultureInfo.InvariantCulture, $" {inside + 1} {range.Start + below} {range.Count - below}");
        return sb.ToString();
    }

    private static void AddFdLayout(List<PlannedOp> ops, SandboxSpec spec)
    {
        foreach (var m in spec.Fds)
            ops.Add(new PlannedOp(OpKind.Dup2, $"pass fd {m.HostFd} as fd {m.SandboxFd}") { Fd = m.HostFd, A = (ulong)m.SandboxFd });
        if (spec.InheritFds)
            return;
        // Everything else closes on exec: descriptors the caller leaked must not reach the payload.
        var kept = spec.Fds.Select(m => m.SandboxFd).Where(f => f >= 3).Distinct().Order().ToList();
        int from = 3;
        foreach (int k in kept)
        {
            if (k > from)
                ops.Add(new PlannedOp(OpKind.CloexecRange, $"close fds {from}-{k - 1}") { A = (ulong)from, B = (ulong)(k - 1) });
            from = k + 1;
        }
        ops.Add(new PlannedOp(OpKind.CloexecRange, $"close fds from {from}") { A = (ulong)from, B = uint.MaxValue });
    }

    private static void AddMountOp(List<PlannedOp> ops, MountOp op, SandboxSpec spec, HostContext host, IdmappedLayers idmap, ref int tmpOverlays)
    {
        uint parentMode = (uint)op.ParentMode;
        string dst = op.Destination;
        switch (op)
        {
            case BindMount b:
            {
                string src = b.SourceRoot == SourceRoot.Host ? Path.GetFullPath(b.Source, host.WorkingDirectory) : b.Source;
                var srcRoot = b.SourceRoot switch { SourceRoot.Host => OpRoot.Old, SourceRoot.Storage => OpRoot.Base, _ => OpRoot.New };
                if (idmap.Enabled && b.SourceRoot == SourceRoot.Host && b.LayerView is { } view)
                {
                    // Taken from the view the supervisor makes, not through the host's tree, which
                    // the sandbox's (subordinate) root may not pass.
                    string at = idmap.Attach(ops, new IdmappedSource(view, Writable: false), b.Optional, op);
                    (src, srcRoot) = (IdmappedLayers.Beneath(at, view, src), OpRoot.Base);
                }
                ops.Add(new PlannedOp(OpKind.Bind, $"bind mount {b.Source} on {dst}")
                {
                    S1 = src,
                    S2 = dst,
                    A = (b.NoExec ? MOUNT_ATTR_NOEXEC : 0) | (b.NoSymlinks ? MOUNT_ATTR_NOSYMFOLLOW : 0),
                    B = parentMode,
                    C = b.Recursive ? 0UL : 1UL,
                    Origin = op,
                    Flags = OpRoots.S1(srcRoot)
                        | (b.ReadOnly ? OpFlags.ReadOnly : 0)
                        | (b.Devices ? OpFlags.Devices : 0)
                        | (b.Optional ? OpFlags.Try : 0)
                        | (b.NoFollow ? OpFlags.NoFollow : 0)
                        | (b.AllowSetuid ? OpFlags.Setuid : 0)
                        | (b.OntoSymlink ? OpFlags.OntoSymlink : 0),
                });
                break;
            }
            case BindFdMount bf:
                ops.Add(new PlannedOp(OpKind.Bind, $"bind mount fd {Descriptors.Number(bf.Fd)} on {dst}")
                {
                    Fd = Descriptors.Number(bf.Fd),
                    S2 = dst,
                    B = parentMode,
                    Origin = op,
                    Flags = OpFlags.SourceFd | (bf.ReadOnly ? OpFlags.ReadOnly : 0),
                });
                break;
            case TmpfsMount t:
            {
                var opts = new List<(string, string)> { ("mode", Octal(t.Mode)) };
                // Files in memory count against a memory limit: a tmpfs cannot grow past it.
                if ((t.Size ?? spec.Limits.MemoryBytes) is { } size)
                    opts.Add(("size", size.ToString(CultureInfo.InvariantCulture)));
                uint attrs = (t.AllowSetuid ? 0 : MOUNT_ATTR_NOSUID) | (t.Devices ? 0 : MOUNT_ATTR_NODEV);
                ops.Add(MountFs("tmpfs", dst, opts, attrs, parentMode, $"mount tmpfs on {dst}", op));
                break;
            }
            case ProcMount:
                if (spec.Namespaces.HasFlag(NamespaceKinds.Pid) || spec.PidNamespaceFd is not null)
                {
                    ops.Add(MountFs("proc", dst, [], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, parentMode, $"mount proc on {dst}", op, SetupRole.ProcMount));
                }
                else
                {
                    ops.Add(new PlannedOp(OpKind.Bind, $"bind mount /proc on {dst}")
                    {
                        Role = SetupRole.ProcBind,
                        S1 = "/proc", S2 = dst, B = parentMode, Origin = op,
                        Flags = OpRoots.S1(OpRoot.Old),
                    });
                }
                // Old, writable corners of /proc stay read-only.
                foreach (string cover in ProcCovers)
                {
                    string p = Join(dst, cover);
                    ops.Add(new PlannedOp(OpKind.Bind, $"cover {p}")
                    {
                        Role = SetupRole.ProcCover,
                        S1 = p, S2 = p, Origin = op,
                        Flags = OpRoots.S1(OpRoot.New) | OpFlags.ReadOnly | OpFlags.IfWritable | OpFlags.Try | OpFlags.NoCreate,
                    });
                }
                break;
            case DevMount:
                ops.Add(MountFs("tmpfs", dst, [("mode", "0755")], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, parentMode, $"mount tmpfs on {dst}", op, SetupRole.DevTmpfs));
                foreach (string node in DevNodes)
                {
                    ops.Add(new PlannedOp(OpKind.Bind, $"bind mount /dev/{node} on {Join(dst, node)}")
                    {
                        Role = SetupRole.DevNode,
                        S1 = "/dev/" + node, S2 = Join(dst, node), Origin = op,
                        Flags = OpRoots.S1(OpRoot.Old) | OpFlags.Devices,
                    });
                }
                string[] stdio = ["stdin", "stdout", "stderr"];
                for (int i = 0; i < 3; i++)
                    ops.Add(Symlink($"/proc/self/fd/{i}", Join(dst, stdio[i]), op, SetupRole.DevLink));
                ops.Add(Symlink("/proc/self/fd", Join(dst, "fd"), op, SetupRole.DevLink));
                ops.Add(Symlink("/proc/kcore", Join(dst, "core"), op, SetupRole.DevLink));
                ops.Add(new PlannedOp(OpKind.Mkdir, $"create {Join(dst, "shm")}") { S2 = Join(dst, "shm"), Mode = (uint)(FileModes.Directory), Origin = op, Role = SetupRole.DevDirectory });
                ops.Add(new PlannedOp(OpKind.Mkdir, $"create {Join(dst, "pts")}") { S2 = Join(dst, "pts"), Mode = (uint)(FileModes.Directory), Origin = op, Role = SetupRole.DevDirectory });
                ops.Add(MountFs("devpts", Join(dst, "pts"), [("newinstance", ""), ("ptmxmode", "0666"), ("mode", "620")],
                    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, parentMode, $"mount devpts on {Join(dst, "pts")}", op, SetupRole.DevPts));
                ops.Add(Symlink("pts/ptmx", Join(dst, "ptmx"), op, SetupRole.PtmxLink));
                if (host.Tty is { } tty)
                {
                    ops.Add(new PlannedOp(OpKind.Bind, $"bind mount {tty} on {Join(dst, "console")}")
                    {
                        Role = SetupRole.Console,
                        S1 = tty, S2 = Join(dst, "console"), Origin = op,
                        Flags = OpRoots.S1(OpRoot.Old) | OpFlags.Devices | OpFlags.Try,
                    });
                }
                break;
            case FilesystemMount f:
            {
                var opts = f.Options.Select(o => o.IndexOf('=') is int eq and >= 0 ? (o[..eq], o[(eq + 1)..]) : (o, "")).ToList();
                uint attrs = (f.ReadOnly ? MOUNT_ATTR_RDONLY : 0) | (f.AllowSetuid ? 0 : MOUNT_ATTR_NOSUID)
                    | (f.Devices ? 0 : MOUNT_ATTR_NODEV) | (f.NoExec ? MOUNT_ATTR_NOEXEC : 0)
                    | f.AccessTime switch { AccessTime.None => MOUNT_ATTR_NOATIME, AccessTime.Strict => MOUNT_ATTR_STRICTATIME, _ => 0u }
                    | (f.NoDirectoryAccessTime ? MOUNT_ATTR_NODIRATIME : 0) | (f.NoSymlinks ? MOUNT_ATTR_NOSYMFOLLOW : 0);
                ops.Add(MountFs(f.FilesystemType, dst, opts, attrs, parentMode, $"mount {f.FilesystemType} on {dst}", op));
                break;
            }
            case MqueueMount:
                ops.Add(MountFs("mqueue", dst, [], 0, parentMode, $"mount mqueue on {dst}", op));
                break;
            case MakeDirectory { InStorage: true } d:
            {
                string path = "/" + d.Destination.TrimStart('/');
                ops.Add(new PlannedOp(OpKind.Mkdir, $"create {path} in the storage") { S2 = path, Mode = (uint)(FileModes.Private), B = 0x1C0, Flags = OpRoots.S2(OpRoot.Base), Origin = op, Role = SetupRole.StorageDirectory });
                ops.Add(new PlannedOp(OpKind.Chmod, $"chmod {Octal(d.Mode)} {path} in the storage") { S2 = path, Mode = (uint)d.Mode, Flags = OpRoots.S2(OpRoot.Base) | OpFlags.NoCreate, Origin = op, Role = SetupRole.StorageDirectory });
                break;
            }
            case MakeDirectory d:
                ops.Add(new PlannedOp(OpKind.Mkdir, $"create directory {dst}") { S2 = dst, Mode = (uint)d.Mode, B = parentMode, Origin = op });
                break;
            case MakeSymlink s:
                ops.Add(new PlannedOp(OpKind.Symlink, $"create symlink {dst}{(s.InStorage ? " in the storage" : "")}")
                {
                    S1 = s.Target, S2 = dst, B = parentMode, Origin = op,
                    Flags = OpFlags.IdenticalOk | (s.CreateParents ? 0 : OpFlags.NoParents) | (s.Overmount ? OpFlags.Overmount : 0)
                        | (s.InStorage ? OpRoots.S2(OpRoot.Base) : 0),
                });
                break;
            case WriteFile w:
            {
                byte[] data = w.Data.IsDefault ? [] : w.Data.ToArray();
                ops.Add(new PlannedOp(OpKind.WriteFile, $"create file {dst}{(w.InStorage ? " in the storage" : "")}")
                {
                    S2 = dst,
                    Data = data,
                    C = (ulong)data.Length,
                    Fd = w.Fd is { } source ? Descriptors.Number(source) : -1,
                    Mode = (uint)w.Mode,
                    B = parentMode,
                    Origin = op,
                    Flags = (w.Placement != FilePlacement.Create ? OpFlags.BindData : 0)
                        | (w.Placement == FilePlacement.ReadOnlyBind ? OpFlags.ReadOnly : 0)
                        | (w.InStorage ? OpRoots.S2(OpRoot.Base) : 0),
                });
                break;
            }
            case DeviceNode d:
            {
                uint type = d.Type switch { DeviceType.Character => 0x2000u, DeviceType.Block => 0x6000u, _ => 0x1000u };
                ulong dev = d.Type == DeviceType.Fifo ? 0 : MakeDev(d.Major, d.Minor);
                ops.Add(new PlannedOp(OpKind.Mknod, $"create device {dst}")
                {
                    S1 = dst,
                    S2 = dst,
                    Mode = type | ((uint)d.Mode & 0xFFF),
                    A = dev,
                    B = d.Uid ?? ulong.MaxValue,
                    C = d.Gid ?? ulong.MaxValue,
                    Origin = op,
                    Flags = OpRoots.S1(OpRoot.Old) | (d.BindHostFallback ? OpFlags.Try : 0),
                });
                break;
            }
            case MaskedPath:
                ops.Add(new PlannedOp(OpKind.Mask, $"mask {dst}") { S1 = "/dev/null", S2 = dst, Origin = op, Flags = OpRoots.S1(OpRoot.Old) });
                break;
            case ChangeMode c:
                ops.Add(new PlannedOp(OpKind.Chmod, $"chmod {Octal(c.Mode)} {dst}") { S2 = dst, Mode = (uint)c.Mode, Origin = op, Flags = OpFlags.NoCreate });
                break;
            case RemountReadOnly:
                ops.Add(new PlannedOp(OpKind.RemountReadOnly, $"remount {dst} read-only") { S2 = dst, Origin = op });
                break;
            case OverlayMount o:
            {
                var opts = new List<(string, string)> { ("source", "overlay") };
                int index = 0; // a temporary overlay's number, which names its upper and work directories
                // The kernel wants the top layer first; Husk's (and bwrap's) order puts it last.
                for (int i = o.Lowers.Length - 1; i >= 0; i--)
                {
                    if (o.LowerRoot == SourceRoot.Storage)
                    {
                        opts.Add(("%lowerdir+", "/" + o.Lowers[i].TrimStart('/')));
                        continue;
                    }
                    string lower = Path.GetFullPath(o.Lowers[i], host.WorkingDirectory);
                    opts.Add(idmap.Enabled ? ("%lowerdir+", idmap.Attach(ops, new IdmappedSource(lower, Writable: false), o.Optional, op)) : ("@lowerdir+", lower));
                }
                if (o.Kind == OverlayKind.Persistent && o.UpperRoot == SourceRoot.Storage)
                {
                    // Made here, with the mode asked for whatever the umask, since it is the mount's root.
                    string upper = "/" + o.Upper!.TrimStart('/'), work = "/" + o.Work!.TrimStart('/');
                    ops.Add(new PlannedOp(OpKind.Mkdir, $"create {upper}") { S2 = upper, Mode = (uint)(FileModes.Private), B = 0x1C0, Flags = OpRoots.S2(OpRoot.Base), Origin = op });
                    ops.Add(new PlannedOp(OpKind.Chmod, $"chmod {Octal(o.UpperMode)} {upper}") { S2 = upper, Mode = (uint)o.UpperMode, Flags = OpRoots.S2(OpRoot.Base) | OpFlags.NoCreate, Origin = op });
                    ops.Add(new PlannedOp(OpKind.Mkdir, $"create {work}") { S2 = work, Mode = (uint)(FileModes.Private), B = 0x1C0, Flags = OpRoots.S2(OpRoot.Base), Origin = op });
                    opts.Add(("%upperdir", upper));
                    opts.Add(("%workdir", work));
                }
                else if (o.Kind == OverlayKind.Persistent && o.UpperRoot == SourceRoot.Sandbox)
                {
                    opts.Add(("+upperdir", o.Upper!));
                    opts.Add(("+workdir", o.Work!));
                }
                else if (o.Kind == OverlayKind.Persistent)
                {
                    string upper = Path.GetFullPath(o.Upper!, host.WorkingDirectory), work = Path.GetFullPath(o.Work!, host.WorkingDirectory);
                    if (idmap.Enabled)
                    {
                        // One view holds both: overlayfs wants upper and work on the same mount.
                        string common = IdmappedLayers.CommonDirectory(upper, work);
                        string at = idmap.Attach(ops, new IdmappedSource(common, Writable: true), o.Optional, op);
                        opts.Add(("%upperdir", IdmappedLayers.Beneath(at, common, upper)));
                        opts.Add(("%workdir", IdmappedLayers.Beneath(at, common, work)));
                    }
                    else
                    {
                        opts.Add(("@upperdir", upper));
                        opts.Add(("@workdir", work));
                    }
                }
                else if (o.Kind == OverlayKind.Temporary)
                {
                    index = tmpOverlays++;
                    string upper = $"/tmp-overlay-upper-{index}";
                    string work = $"/tmp-overlay-work-{index}";
                    ops.Add(new PlannedOp(OpKind.Mkdir, $"create {upper}") { S2 = upper, Mode = (uint)(FileModes.Directory), Flags = OpRoots.S2(OpRoot.Base), Origin = op, Role = SetupRole.TmpOverlayUpper, Index = index });
                    ops.Add(new PlannedOp(OpKind.Mkdir, $"create {work}") { S2 = work, Mode = (uint)(FileModes.Directory), Flags = OpRoots.S2(OpRoot.Base), Origin = op, Role = SetupRole.TmpOverlayWork, Index = index });
                    opts.Add(("%upperdir", upper));
                    opts.Add(("%workdir", work));
                }
                var extra = o.Options.Select(x => x.IndexOf('=') is int eq and >= 0 ? (x[..eq], x[(eq + 1)..]) : (x, "")).ToList();
                if ((o.UserXattr ?? (spec.Namespaces.HasFlag(NamespaceKinds.User) || spec.UserNamespaceFd is not null)) && !extra.Contains(("userxattr", "")))
                    opts.Add(("userxattr", ""));
                // A "source=" option names the mount's source (shown in mountinfo) instead of "overlay".
                if (extra.FindIndex(x => x.Item1 == "source") is int src and >= 0)
                {
                    opts[0] = extra[src];
                    extra.RemoveAt(src);
                }
                opts.AddRange(extra);
                var mount = MountFs("overlay", dst, opts, 0, parentMode, $"mount overlay on {dst}", op, index: index);
                ops.Add(o.Optional ? mount.WithFlags(OpFlags.Try) : mount);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(op), op.GetType().Name, "unknown filesystem operation");
        }
    }

    /// <summary>dev_t as glibc's makedev builds it.</summary>
    internal static ulong MakeDev(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    private static PlannedOp Symlink(string target, string path, MountOp origin, SetupRole role) =>
        new(OpKind.Symlink, $"create symlink {path}") { S1 = target, S2 = path, Origin = origin, Role = role };

    private static PlannedOp MountFs(string fsType, string dst, IReadOnlyList<(string Key, string Value)> options, uint attrs, uint parentMode, string description, MountOp origin,
        SetupRole role = SetupRole.Mount, int index = 0)
    {
        if (!options.Any(o => o.Key == "source"))
            options = [("source", fsType), .. options];
        return new PlannedOp(OpKind.Mount, description)
        {
            S1 = fsType,
            S2 = dst,
            Data = OptionBlock(options),
            A = attrs,
            B = parentMode,
            Origin = origin,
            Role = role,
            Index = index,
            OptionDescriptions = options.Select(o => o.Value.Length == 0 ? o.Key.TrimStart('@', '%', '+') : $"{o.Key.TrimStart('@', '%', '+')}={o.Value}").ToArray(),
        };
    }

    /// <summary>"key\0value\0...\0": the native stage's mount options block.</summary>
    internal static byte[] OptionBlock(IReadOnlyList<(string Key, string Value)> options)
    {
        var ms = new MemoryStream();
        foreach (var (key, value) in options)
        {
            ms.Write(Encoding.UTF8.GetBytes(key));
            ms.WriteByte(0);
            ms.Write(Encoding.UTF8.GetBytes(value));
            ms.WriteByte(0);
        }
        ms.WriteByte(0);
        return ms.ToArray();
    }

    internal static string Octal(int mode) => "0" + Convert.ToString(mode, 8);

    internal static string Octal(UnixFileMode mode) => Octal((int)mode);

    internal static string Join(string dir, string name) => dir.EndsWith('/') ? dir + name : dir + "/" + name;
}
