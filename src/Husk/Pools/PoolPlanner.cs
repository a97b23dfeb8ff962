using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Husk.FileSystem;
using Husk.Launch;
using static Husk.Interop.Interop;
using static Husk.Interop.Interop.Clone;

namespace Husk.Pools;

/// <summary>A cold plan divided between a pool's template and each of its runs (<see cref="PoolPlanner.Split"/>).</summary>
internal sealed class PoolPlan
{
    /// <summary>The template's ops: its namespaces, ids and the part of the tree no run can change, ending halfway through the build.</summary>
    public required IReadOnlyList<PlannedOp> TemplateOps { get; init; }

    public required ulong TemplateCloneFlags { get; init; }

    public required IdMapPlan IdMaps { get; init; }

    /// <summary>Runs whose plans have the same key can share one template.</summary>
    public required string Key { get; init; }

    /// <summary>
    /// A run's plan: the fresh filesystems and what lies in them, the build's finish, a user
    /// namespace of the run's own, then the cold plan's own ops to the payload's exec.
    /// </summary>
    public required SpawnPlan Run { get; init; }

    /// <summary>
    /// The template's whole plan: its ops, then the template program's exec (from the sealed
    /// memfd <paramref name="imageFd"/>, through the host's /proc) with <paramref name="controlFd"/> as its fd 3.
    /// </summary>
    public SpawnPlan Template(int controlFd, int imageFd)
    {
        var ops = TemplateOps.ToList();
        ops.Add(new PlannedOp(OpKind.Dup2, "pass the template its control socket as fd 3") { Fd = controlFd, A = 3 });
        ops.Add(new PlannedOp(OpKind.CloexecRange, "close the rest on exec") { A = 4, B = uint.MaxValue });
        // The template builds each run's tree and namespaces: it keeps across its exec the
        // capabilities the stage has at this point of a cold build (in the sandbox's user namespace
        // only). A run drops them all when it enters its own user namespace.
        ulong all = Policy.CapabilityNames.All;
        ops.Add(new PlannedOp(OpKind.Caps, "keep the template's capabilities across its exec")
        {
            Caps = new HuskCaps { Bounding = all, Permitted = all, Effective = all, Inheritable = all, Ambient = all },
        });
        ops.Add(new PlannedOp(OpKind.Exec, "start the pool's template")
        {
            S1 = $"/oldroot/proc/self/fd/{imageFd}",
            Strings = ["husk-pool", "3"],
            Strings2 = [],
        });
        return new SpawnPlan
        {
            CloneFlags = TemplateCloneFlags,
            Ops = ops,
            IdMaps = IdMaps,
            HasMounts = true,
            ExecOpIndex = ops.Count - 1,
        };
    }
}

/// <summary>
/// Divides a cold plan between a pool's template and its runs. Pure: the planner has already
/// decided every wall; this only says which process carries out which op.
/// <list type="bullet">
/// <item>The template keeps what no run can change and what is the same for every run: the user
/// namespace and its id maps, the network namespace (unless each run gets its own), the hostname,
/// and the mounts that make no filesystem of their own (binds, read-only or onto the host),
/// stopping halfway through the build (the host's root still at /oldroot).</item>
/// <item>Each run makes every filesystem instance afresh (tmpfs, proc, devpts, mqueue...) and
/// everything planned in or over them, makes the root read-only, finishes the build, enters a user
/// namespace of its own (so RLIMIT_NPROC and the nested-namespace limit count that run alone), and
/// goes on with the cold plan to the payload: the same ops, the same walls.</item>
/// </list>
/// </summary>
internal static class PoolPlanner
{
    /// <summary>Where a run's fixed descriptors land in the template: its channel, its status pipe, its cgroup.</summary>
    internal const int ChannelSlot = 0, StatusSlot = 1, CgroupSlot = 2, FirstPayloadSlot = 3;

    /// <summary>Why <paramref name="spec"/> cannot run in a pool, each a sentence a user can act on.</summary>
    public static ImmutableArray<string> Check(SandboxSpec spec)
    {
        var problems = ImmutableArray.CreateBuilder<string>();
        var ns = spec.Namespaces;
        if (!ns.HasFlag(NamespaceKinds.User))
            problems.Add("a pool needs a user namespace of the sandbox's own: drop --share-user");
        if (!ns.HasFlag(NamespaceKinds.Mount) || !ns.HasFlag(NamespaceKinds.Pid))
            problems.Add("a pool's runs need mount and pid namespaces of their own: drop --share-mount and --share-pid");
        if (ns.HasFlag(NamespaceKinds.Time))
            problems.Add("a pool cannot give runs a time namespace (it cannot share memory with its parent): drop --unshare-time");
        if (spec.UserNamespaceFd is not null || spec.PidNamespaceFd is not null || spec.JoinProcessFd is not null || spec.UserNamespace2Fd is not null)
            problems.Add("a pool cannot join namespaces: drop --userns, --pidns and --userns2");
        if (spec.Identity.Mapping == IdMapping.External)
            problems.Add("a pool maps its own ids: drop the external id mapping (--userns-block-fd)");
        switch (spec.FileSystem)
        {
            case InheritFileSystem or ChrootFileSystem:
                problems.Add("a pool needs a root of the sandbox's own: choose a filesystem mode other than Inherit or Chroot");
                break;
            case HostOverlayFileSystem:
                problems.Add("a pool does not take the host overlay (its layer is prepared on disk for each sandbox): use the read-only host view with tmpfs where runs write");
                break;
            case DirectoryFileSystem { ReadOnly: false }:
                problems.Add("a pool does not take a writable root directory (a temporary overlay): mount it read-only, with tmpfs where runs write");
                break;
        }
        foreach (var op in spec.Mounts)
        {
            switch (op)
            {
                case OverlayMount { Kind: OverlayKind.Temporary } o:
                    problems.Add($"a pool does not take temporary overlays (--tmp-overlay {o.Destination}): use a tmpfs there");
                    break;
                case OverlayMount o when o.UpperRoot == SourceRoot.Storage || o.LowerRoot == SourceRoot.Storage:
                case MakeDirectory { InStorage: true }:
                case MakeSymlink { InStorage: true }:
                case WriteFile { InStorage: true }:
                case BindMount { SourceRoot: SourceRoot.Storage }:
                    problems.Add($"a pool does not take the build's storage ({op.Destination})");
                    break;
                case BindFdMount b:
                    problems.Add($"a pool does not bind descriptors (fd {Descriptors.Number(b.Fd)} on {b.Destination}): bind the path");
                    break;
                case WriteFile { Fd: not null } w:
                    problems.Add($"a pool does not copy files from descriptors ({w.Destination}): give the data");
                    break;
            }
        }
        if (spec.RootTmpfs.KeepOpen)
            problems.Add("a pool does not keep the build's storage open");
        if (!spec.SupervisorFds.IsEmpty || spec.SyncFd is not null || spec.BlockFd is not null || !spec.LockFiles.IsEmpty)
            problems.Add("a pool does not take a command line's descriptors (--info-fd, --sync-fd, --block-fd) or lock files");
        if (spec.InheritFds)
            problems.Add("a pool's runs cannot inherit the caller's descriptors: pass them with Fds");
        if (spec.ForegroundTerminal is not null)
            problems.Add("a pool's runs cannot take the caller's terminal (they are not its children): use a pseudo-terminal (Terminal)");
        // The supervisor of a nat, bridge or allowlist network serves each sandbox's namespace
        // (its helper, veth or sockets) between the clone and the go: a pool's run plan has none of it.
        if (spec.Network.Supervised && ns.HasFlag(NamespaceKinds.Net))
            problems.Add($"a pool's runs have loopback only (or the host's network): drop the {NetworkModeName(spec.Network)} network, or start such sandboxes with Sandbox.Start");
        if (spec.Fds.Length + 3 > PoolMaxFds - FirstPayloadSlot)
            problems.Add($"a pool passes at most {PoolMaxFds - FirstPayloadSlot - 3} descriptors besides the standard ones");
        return problems.ToImmutable();
    }

    private static string NetworkModeName(NetworkSpec network) =>
        network.Filter ? "egress allowlist" : network.Mode.ToString().ToLowerInvariant();

    /// <summary>
    /// The descriptors of <paramref name="withFds"/> named where the template places them: the
    /// i-th mapping's at <see cref="PoolFdBase"/> + <see cref="FirstPayloadSlot"/> + i.
    /// </summary>
    public static SandboxSpec AtSlots(SandboxSpec withFds) => withFds with
    {
        Fds = [.. withFds.Fds.Select((m, i) => m with { Host = Descriptors.Borrow(PoolFdBase + FirstPayloadSlot + i) })],
    };

    /// <summary>Divides <paramref name="cold"/>, planned for <paramref name="spec"/>, between a template and a run.</summary>
    /// <param name="cold">The plan a cold launch of the spec gets, its descriptors at the template's slots (<see cref="AtSlots"/>).</param>
    /// <param name="spec">The spec it was planned from.</param>
    /// <param name="host">The caller's facts.</param>
    /// <param name="freshNetwork">Each run gets a network namespace of its own (instead of the template's).</param>
    public static PoolPlan Split(SpawnPlan cold, SandboxSpec spec, HostContext host, bool freshNetwork)
    {
        if (Check(spec) is { Length: > 0 } problems)
            throw new SandboxSpecException(problems);
        uint uid = spec.Identity.Uid ?? host.Uid;
        uint gid = spec.Identity.Gid ?? host.Gid;
        var maps = host.IsRoot && spec.Identity.Mapping == IdMapping.Auto ? OneOfRange(cold.IdMaps, uid, gid) : cold.IdMaps;
        if (MapsRange(maps))
        {
            // A run's own user namespace is made from inside, where only one id can be mapped.
            throw new SandboxSpecException(["a pool's runs map one id each, and this spec maps a range (a subordinate range or an explicit map): map one id"]);
        }
        if (cold.Network is { NeedsSession: true } || cold.IdmappedSources.Count > 0)
        {
            // Check refuses the specs that plan these; a run has no supervisor's part between clone and go.
            throw new SandboxSpecException(["a pool's runs cannot take a network the supervisor serves or idmapped layers"]);
        }
        var ops = cold.Ops;
        int begin = IndexOf(ops, OpKind.RootBegin);
        int finish = IndexOf(ops, OpKind.RootFinish);
        if (begin < 0 || finish < begin)
            throw new SandboxSpecException(["a pool needs a root of the sandbox's own: give the sandbox a filesystem"]);
        bool netPerRun = freshNetwork && (cold.CloneFlags & CLONE_NEWNET) != 0;

        var template = new List<PlannedOp>();
        // The template's clone makes only the run's pid namespace (which a clone must make) and
        // its cgroup namespace (cheap, and made where a cold run's is: at the clone, so that its
        // root is the same cgroup as a cold run's); the run makes its other namespaces itself,
        // right after the supervisor lets it go. (When the template served one request at a time,
        // a network namespace made in its clone held every other request behind it; the run's own
        // unshare costs the same and keeps the template's part of a run short.)
        ulong perRun = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (netPerRun ? CLONE_NEWNET : 0);
        var run = new List<PlannedOp>
        {
            new(OpKind.WaitParent, "wait for the supervisor"),
            new(OpKind.Unshare, "create the run's mount, IPC, UTS and network namespaces") { A = cold.CloneFlags & perRun, Role = SetupRole.CreateNamespaces },
        };
        PlannedOp? maxUserNamespaces = null;
        foreach (var op in ops.Take(begin))
        {
            switch (op.Kind)
            {
                case OpKind.WaitParent or OpKind.SetId or OpKind.SetHostname:
                    template.Add(op);
                    break;
                case OpKind.LoopbackUp:
                    (netPerRun ? run : template).Add(op);
                    break;
                // The nested-namespace limit belongs to the run's own user namespace: in the
                // template's, every concurrent run would count against one limit.
                case OpKind.WriteProc when op.Role == SetupRole.MaxUserNamespaces:
                    maxUserNamespaces = op;
                    break;
                default:
                    throw new SandboxSpecException([$"a pool cannot carry out \"{op.Description}\" before the build"]);
            }
        }
        template.Add(ops[begin]);
        SplitMounts(ops.Skip(begin + 1).Take(finish - begin - 1), template, run);
        run.Add(ops[finish]);
        int built = run.Count;
        // The run's own user namespace, mapping only its ids (those the template switched to).
        run.AddRange(SpawnPlanner.NestedUserNamespace(uid, gid, "run's"));
        if (maxUserNamespaces is not null)
            run.Add(maxUserNamespaces);
        int execIndex = cold.ExecOpIndex - (finish + 1) + run.Count;
        run.AddRange(ops.Skip(finish + 1));

        var runPlan = new SpawnPlan
        {
            CloneFlags = CLONE_NEWPID | (cold.CloneFlags & CLONE_NEWCGROUP),
            Ops = run,
            IdMaps = IdMapPlan.None,
            HasMounts = true,
            UsesInit = cold.UsesInit,
            ExecOpIndex = execIndex,
            Policy = cold.Policy,
            Mounts = cold.Mounts,
        };
        return new PoolPlan
        {
            TemplateOps = template,
            TemplateCloneFlags = cold.CloneFlags,
            IdMaps = maps,
            Key = KeyOf(cold.CloneFlags, maps, netPerRun, template, run.Take(built)),
            Run = runPlan,
        };
    }

    /// <summary>
    /// Root's default maps (inside 0 onwards to a subordinate range, written by the supervisor)
    /// narrowed to the one uid and gid the payload runs as, each to the same host id as in the
    /// range: the payload is who a cold run's is, never the host's root. A run's own user
    /// namespace is made from inside it, where only the ids of the template can be mapped, so a
    /// pool maps one id for root as it does for everyone. Other maps are returned as they are.
    /// </summary>
    internal static IdMapPlan OneOfRange(IdMapPlan maps, uint uid, uint gid)
    {
        if (maps.Kind != IdMapKind.Write || Line(maps.UidMap) is not [0, var uidStart, var uidCount] || Line(maps.GidMap) is not [0, var gidStart, var gidCount]
            || uid >= uidCount || gid >= gidCount)
            return maps;
        return maps with
        {
            UidMap = string.Create(CultureInfo.InvariantCulture, $"{uid} {uidStart + uid} 1\n"),
            GidMap = string.Create(CultureInfo.InvariantCulture, $"{gid} {gidStart + gid} 1\n"),
        };

        static ulong[]? Line(string map) =>
            map.Split('\n', StringSplitOptions.RemoveEmptyEntries) is [var only] && only.Split(' ') is { Length: 3 } fields
                && fields.All(f => ulong.TryParse(f, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                ? [.. fields.Select(f => ulong.Parse(f, CultureInfo.InvariantCulture))]
                : null;
    }

    /// <summary>Whether the maps give the sandbox more than one uid or gid.</summary>
    internal static bool MapsRange(IdMapPlan maps) =>
        maps.UidMap.Split('\n', StringSplitOptions.RemoveEmptyEntries).Concat(maps.GidMap.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Any(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries) is not [_, _, "1"]) ||
        maps.UidMap.Count(c => c == '\n') > 1 || maps.GidMap.Count(c => c == '\n') > 1;

    private static int IndexOf(IReadOnlyList<PlannedOp> ops, OpKind kind)
    {
        for (int i = 0; i < ops.Count; i++)
        {
            if (ops[i].Kind == kind)
                return i;
        }
        return -1;
    }

    /// <summary>
    /// Walks the build's ops in order. A run makes every filesystem instance afresh (a mount of a
    /// filesystem, not a bind or an overlay of host layers) and every op whose path lies in one,
    /// whose source lies in one, or that would cover one; and repeats every change to content
    /// the runs share (a writable bind of the host). The template keeps the rest, so it may move
    /// ahead of ops it came after only where their paths do not meet. The root of the build is
    /// shared by every run: each turns it read-only before its payload starts.
    /// </summary>
    private static void SplitMounts(IEnumerable<PlannedOp> mounts, List<PlannedOp> template, List<PlannedOp> run)
    {
        var fresh = new List<string>();
        var writable = new List<string>();
        bool rootCovered = false, rootClosed = false;
        foreach (var op in mounts)
        {
            if (op.Kind == OpKind.AttachMount || RootOf2(op) == OpRoot.Base)
                throw new SandboxSpecException([$"a pool cannot carry out \"{op.Description}\" (it needs the build's storage)"]);
            string? dest = RootOf2(op) == OpRoot.New && op.S2 is { } d ? Normal(d) : null;
            string? source = RootOf1(op) == OpRoot.New && op.S1 is { } s && op.Kind == OpKind.Bind ? Normal(s) : null;
            bool makesMount = op.Kind is OpKind.Mount or OpKind.Bind || op.Kind == OpKind.WriteFile && (op.Flags & OpFlags.BindData) != 0;
            bool instance = op.Kind == OpKind.Mount && op.Origin is not OverlayMount;
            bool changesContent = op.Kind is OpKind.Mkdir or OpKind.Symlink or OpKind.WriteFile or OpKind.Chmod;
            bool perRun = instance
                || dest is not null && fresh.Any(f => HostMounts.IsUnder(dest, f) || HostMounts.IsUnder(f, dest))
                || source is not null && fresh.Any(f => HostMounts.IsUnder(source, f))
                || changesContent && dest is not null && writable.Any(w => HostMounts.IsUnder(dest, w));
            if (op.Kind == OpKind.RemountReadOnly && dest == "/")
            {
                // The build's own closing remount: every run's, after its own mounts.
                rootClosed = true;
                continue;
            }
            (perRun ? run : template).Add(op);
            if (makesMount && dest is not null)
            {
                if (dest == "/")
                    rootCovered = true;
                if (perRun)
                    fresh.Add(dest);
                else if (op.Kind == OpKind.Bind && (op.Flags & OpFlags.ReadOnly) == 0 || op.Origin is OverlayMount { Kind: OverlayKind.Persistent })
                    writable.Add(dest);
            }
        }
        // The root (when nothing covers it) is one tmpfs for every run: none may write to it.
        if (rootClosed || !rootCovered)
        {
            run.Add(new PlannedOp(OpKind.RemountReadOnly, rootClosed ? "remount / read-only" : "remount / read-only (a pool's runs share it)")
            {
                S2 = "/",
            });
        }
    }

    private static OpRoot RootOf1(PlannedOp op) => (OpRoot)((uint)op.Flags & 3);

    private static OpRoot RootOf2(PlannedOp op) => (OpRoot)(((uint)op.Flags >> 2) & 3);

    private static string Normal(string path) => path.Length > 1 ? "/" + path.Trim('/') : "/";

    /// <summary>Everything that shapes a template: the namespaces, the id maps, its ops, and the mounts each run makes in what it shares.</summary>
    private static string KeyOf(ulong cloneFlags, IdMapPlan maps, bool netPerRun, IEnumerable<PlannedOp> template, IEnumerable<PlannedOp> build)
    {
        var text = new StringBuilder();
        text.Append($"{cloneFlags:x} {maps.Kind} {maps.UidMap} {maps.GidMap} {maps.DenySetgroups} {netPerRun}\n");
        foreach (var op in template.Concat(build))
        {
            text.Append($"{op.Kind} {op.Flags} {op.Fd} {op.Mode} {op.A} {op.B} {op.C} {op.S1} {op.S2}");
            if (op.Data is not null)
                text.Append(' ').Append(Convert.ToHexString(SHA256.HashData(op.Data)));
            foreach (string s in (op.Strings ?? []).Concat(op.Strings2 ?? []))
                text.Append(' ').Append(s);
            text.Append('\n');
        }
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }
}
