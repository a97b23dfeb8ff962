using System.Collections.Immutable;
using Husk.Policy;

namespace Husk.Cli.Personalities.Oci;

/// <summary>What the mapper needs to know about the machine and the runtime's own place.</summary>
internal sealed record OciHost
{
    /// <summary>The runtime runs as uid 0 (of its user namespace: rootless podman's runtime is uid 0 in podman's).</summary>
    public bool IsRoot { get; init; }
    /// <summary>The runtime is in the initial user namespace (it may make device nodes, mount sysfs without a network namespace of its own).</summary>
    public bool InitialUserNamespace { get; init; }
    public bool AppArmorEnabled { get; init; }
    public bool SelinuxEnabled { get; init; }
    /// <summary>The highest capability the kernel knows.</summary>
    public int LastCapability { get; init; } = 40;
    /// <summary>cgroup v2 alone (no v1 hierarchy): a new cgroup namespace may mount its own cgroup2.</summary>
    public bool CgroupV2Only { get; init; }
    /// <summary>/proc/kcore exists (runc links /dev/core to it only then).</summary>
    public bool HasKcore { get; init; } = true;
    /// <summary>The home directory of a uid in the container's /etc/passwd, for HOME; null where none is listed.</summary>
    public Func<string, uint, string?> HomeOf { get; init; } = (_, _) => null;
    /// <summary>Whether the namespace at a path belongs to the runtime's own user namespace (its owner gives the runtime the privileges to mount sysfs for it).</summary>
    public Func<string, bool> OwnsNamespace { get; init; } = _ => false;
    /// <summary>For a cgroup path: each mounted hierarchy's mount point and the cgroup's directory there.</summary>
    public Func<string, IReadOnlyList<(string MountPoint, string Directory)>> CgroupDirectories { get; init; } = _ => [];
}

/// <summary>What a config maps to: the spec, the namespaces to join by path, and what the runtime itself does around it.</summary>
internal sealed record OciMapping(SandboxSpec Spec, ImmutableArray<(NamespaceKinds Kind, string Path)> JoinPaths, ImmutableArray<string> Warnings)
{
    /// <summary>What is done differently from runc without weakening anything, for the log's debug lines.</summary>
    public ImmutableArray<string> Notes { get; init; } = [];

    /// <summary>The spec with the namespaces of <see cref="JoinPaths"/> open at these descriptors (same order).</summary>
    public SandboxSpec WithNamespaceFds(IReadOnlyList<System.Runtime.InteropServices.SafeHandle> fds)
    {
        var spec = Spec;
        var others = ImmutableArray.CreateBuilder<NamespaceFd>();
        for (int i = 0; i < JoinPaths.Length; i++)
        {
            var kind = JoinPaths[i].Kind;
            if (kind == NamespaceKinds.User)
                spec = spec with { UserNamespaceFd = fds[i] };
            else if (kind == NamespaceKinds.Pid)
                spec = spec with { PidNamespaceFd = fds[i] };
            else
                others.Add(new NamespaceFd(kind, fds[i]));
        }
        return spec with { NamespaceFds = others.ToImmutable() };
    }
}

/// <summary>
/// config.json onto the engine: a personality that only produces a <see cref="SandboxSpec"/>
/// (DESIGN.md), following runc's reading of each field. Pure: facts about the machine come from
/// <see cref="OciHost"/>, so canonical configs have golden plans.
/// </summary>
internal static class OciSpecMapper
{
    private static readonly (string Type, NamespaceKinds Kind)[] NamespaceTypes =
    [
        ("pid", NamespaceKinds.Pid), ("network", NamespaceKinds.Net), ("mount", NamespaceKinds.Mount), ("ipc", NamespaceKinds.Ipc),
        ("uts", NamespaceKinds.Uts), ("user", NamespaceKinds.User), ("cgroup", NamespaceKinds.Cgroup), ("time", NamespaceKinds.Time),
    ];

    /// <summary>The devices every container gets (runtime-spec config-linux.md, "Default Devices").</summary>
    private static readonly (string Name, uint Major, uint Minor)[] DefaultDevices =
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("tty", 5, 0), ("random", 1, 8), ("urandom", 1, 9)];

    /// <param name="config">The bundle's config.</param>
    /// <param name="bundle">The bundle directory (absolute).</param>
    /// <param name="id">The container's id (the default cgroup path).</param>
    /// <param name="host">Facts about the machine.</param>
    /// <param name="systemdCgroup">--systemd-cgroup: cgroupsPath is "slice:prefix:name".</param>
    /// <param name="preserveFds">--preserve-fds: descriptors 3 to 3+N-1 are passed on.</param>
    public static OciMapping Map(OciConfig config, string bundle, string id, OciHost host, bool systemdCgroup = false, int preserveFds = 0)
    {
        var warnings = new List<string>();
        var notes = new List<string>();
        var process = config.Process ?? throw new OciConfigException("process: missing: a container needs a process to start");
        if (process.Args.IsDefaultOrEmpty || process.Args[0].Length == 0)
            throw new OciConfigException($"{process.Where}.args: empty: name the program to run");
        var linux = config.Linux;

        // Namespaces: new ones, or joined by path.
        var ns = NamespaceKinds.None;
        var joins = ImmutableArray.CreateBuilder<(NamespaceKinds, string)>();
        foreach (var n in linux.Namespaces)
        {
            var kind = NamespaceTypes.FirstOrDefault(t => t.Type == n.Type).Kind;
            if (kind == NamespaceKinds.None)
                throw new OciConfigException($"{n.Where}.type: unknown namespace type \"{n.Type}\"");
            if ((ns & kind) != 0 || joins.Any(j => j.Item1 == kind))
                throw new OciConfigException($"{n.Where}: the {n.Type} namespace is listed twice");
            if (n.Path is { Length: > 0 } path)
            {
                if (!path.StartsWith('/'))
                    throw new OciConfigException($"{n.Where}.path: \"{path}\" is not an absolute path");
                joins.Add((kind, path));
            }
            else
            {
                ns |= kind;
            }
        }
        // Without a mount namespace the root is entered with chroot, as crun does, and nothing is
        // mounted: the mounts would land in the host's mount table (crun makes them there, runc
        // skips the root altogether).
        bool ownMount = ns.HasFlag(NamespaceKinds.Mount) || joins.Any(j => j.Item1 == NamespaceKinds.Mount);
        if (!ownMount)
        {
            string[] skipped =
            [
                .. config.Mounts.Length > 0 ? ["mounts"] : Array.Empty<string>(),
                .. linux.MaskedPaths.Length > 0 ? ["linux.maskedPaths"] : Array.Empty<string>(),
                .. linux.ReadonlyPaths.Length > 0 ? ["linux.readonlyPaths"] : Array.Empty<string>(),
                .. linux.Devices.Length > 0 ? ["linux.devices"] : Array.Empty<string>(),
                .. config.Root.ReadOnly ? ["root.readonly"] : Array.Empty<string>(),
            ];
            if (skipped.Length > 0)
                warnings.Add($"linux.namespaces: no mount namespace: the root is entered with chroot and {string.Join(", ", skipped)} not applied (they would change the host's mounts)");
        }
        bool newUser = ns.HasFlag(NamespaceKinds.User);
        bool joinUser = joins.Any(j => j.Item1 == NamespaceKinds.User);
        if (newUser && (linux.UidMappings.IsEmpty || linux.GidMappings.IsEmpty))
            throw new OciConfigException("linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
        if (!newUser && (!linux.UidMappings.IsEmpty || !linux.GidMappings.IsEmpty))
            throw new OciConfigException("linux.uidMappings: id mappings are given but no new user namespace is (add {\"type\": \"user\"} to linux.namespaces)");
        if (linux.TimeOffsets)
            throw new OciConfigException("linux.timeOffsets: time namespace offsets are not supported by husk-runtime");
        if (linux.IntelRdt)
            throw new OciConfigException("linux.intelRdt: Intel RDT is not supported by husk-runtime");

        // Identity.
        var user = process.User;
        var identity = new Identity { Uid = user.Uid, Gid = user.Gid, AdditionalGids = user.AdditionalGids };
        if (newUser)
        {
            identity = identity with
            {
                Mapping = IdMapping.Explicit,
                UidMappings = [.. linux.UidMappings.Select(m => new IdRange(m.ContainerId, m.HostId, m.Size))],
                GidMappings = [.. linux.GidMappings.Select(m => new IdRange(m.ContainerId, m.HostId, m.Size))],
            };
            bool ownOnly = linux.UidMappings.Length == 1 && linux.GidMappings.Length == 1 && linux.GidMappings[0].Size == 1;
            if (!host.IsRoot && ownOnly && !user.AdditionalGids.IsEmpty)
                warnings.Add($"{process.Where}.user.additionalGids: ignored: a user namespace mapped without newgidmap cannot set groups");
        }

        // Environment: as given, plus HOME from the container's passwd (runc's rule).
        string rootfs = Path.GetFullPath(config.Root.Path, bundle);
        var env = process.Env.ToList();
        if (!env.Any(e => e.StartsWith("HOME=", StringComparison.Ordinal)))
            env.Add("HOME=" + (host.HomeOf(rootfs, user.Uid) ?? "/"));

        // Mounts, then /dev's defaults and devices, then read-only and masked paths (runc's order).
        var cgroup = MapCgroup(config, id, host, systemdCgroup);
        var cgroupDirectories = cgroup is { Optional: false } ? host.CgroupDirectories(cgroup.Path) : [];
        var mounts = ImmutableArray.CreateBuilder<MountOp>();
        // sysfs can be mounted by whoever administers the network namespace it shows: one of the
        // container's own, or one joined that the runtime's user namespace owns (rootless podman's);
        // otherwise the host's /sys is bound (runc's fallback).
        string? netPath = joins.FirstOrDefault(j => j.Item1 == NamespaceKinds.Net).Item2;
        bool sysfs = ns.HasFlag(NamespaceKinds.Net)
            ? true
            : !newUser && !joinUser && (netPath is null ? host.IsRoot && host.InitialUserNamespace : (host.IsRoot && host.InitialUserNamespace) || host.OwnsNamespace(netPath));
        foreach (var m in ownMount ? config.Mounts : [])
            mounts.AddRange(MapMount(m, bundle, ns, sysfs, host, warnings, notes, cgroupDirectories));
        bool devBound = !ownMount || config.Mounts.Any(m => m.Destination.TrimEnd('/') == "/dev" && IsBind(m));
        var listed = linux.Devices.Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
        if (!devBound)
        {
            foreach (var (name, major, minor) in DefaultDevices.Where(d => !listed.Contains("/dev/" + d.Name)))
                mounts.Add(new DeviceNode("/dev/" + name, DeviceType.Character, major, minor) { Mode = FileModes.ReadWriteAll });
            mounts.Add(new MakeSymlink("/proc/self/fd", "/dev/fd"));
            mounts.Add(new MakeSymlink("/proc/self/fd/0", "/dev/stdin"));
            mounts.Add(new MakeSymlink("/proc/self/fd/1", "/dev/stdout"));
            mounts.Add(new MakeSymlink("/proc/self/fd/2", "/dev/stderr"));
            if (host.HasKcore)
                mounts.Add(new MakeSymlink("/proc/kcore", "/dev/core"));
            mounts.Add(new MakeSymlink("pts/ptmx", "/dev/ptmx") { Overmount = true });
        }
        foreach (var d in ownMount ? linux.Devices : [])
            mounts.Add(MapDevice(d));
        foreach (string p in ownMount ? linux.ReadonlyPaths : [])
            mounts.Add(new BindMount(p, p) { SourceRoot = SourceRoot.Sandbox, ReadOnly = true, Optional = true, Devices = true, AllowSetuid = true });
        foreach (string p in ownMount ? linux.MaskedPaths : [])
            mounts.Add(new MaskedPath(p));

        var propagation = linux.RootfsPropagation switch
        {
            null or "" or "slave" or "rslave" => MountPropagation.Slave,
            "private" or "rprivate" => MountPropagation.Private,
            "shared" or "rshared" => MountPropagation.Shared,
            "unbindable" or "runbindable" => MountPropagation.Unbindable,
            var other => throw new OciConfigException($"linux.rootfsPropagation: unknown propagation \"{other}\""),
        };

        // Policy.
        var capabilities = process.Capabilities is { } caps ? MapCapabilities(caps, host, warnings) : null;
        SeccompSpec seccomp = SeccompSpec.None;
        if (linux.Seccomp is { } s)
        {
            var (policy, notify) = OciSeccompProfile.Map(s, warnings, notes);
            seccomp = SeccompSpec.Of(policy) with { UserNotification = notify };
        }
        if (process.ApparmorProfile is { Length: > 0 } profile && host.AppArmorEnabled)
            throw new OciConfigException($"{process.Where}.apparmorProfile: \"{profile}\": husk-runtime cannot apply AppArmor profiles");
        if (process.SelinuxLabel is { Length: > 0 } label && host.SelinuxEnabled)
            throw new OciConfigException($"{process.Where}.selinuxLabel: \"{label}\": husk-runtime cannot apply SELinux labels");
        if (linux.MountLabel is { Length: > 0 } mountLabel && host.SelinuxEnabled)
            throw new OciConfigException($"linux.mountLabel: \"{mountLabel}\": husk-runtime cannot apply SELinux labels");

        var rlimits = ImmutableArray.CreateBuilder<Rlimit>();
        foreach (var r in process.Rlimits)
        {
            int resource = Launch.SpawnPlanner.RlimitResource(r.Type) is { } res && r.Type.StartsWith("RLIMIT_", StringComparison.Ordinal)
                ? res
                : throw new OciConfigException($"{r.Where}.type: invalid rlimit \"{r.Type}\"");
            if (r.Soft > r.Hard)
                throw new OciConfigException($"{r.Where}: the soft limit {r.Soft} is above the hard limit {r.Hard}");
            if (rlimits.Any(x => x.Resource == resource))
                throw new OciConfigException($"{r.Where}.type: {r.Type} is given twice");
            rlimits.Add(new Rlimit(resource, r.Soft, r.Hard));
        }
        uint? persona = linux.Personality is { } pers ? MapPersonality(pers.Domain, pers.Flags) : null;

        var spec = new SandboxSpec
        {
            Command = process.Args,
            SearchPath = true,
            ScriptShell = false,
            Namespaces = ns,
            NestedUserNamespaces = NestedUserNamespaces.ProfileOnly,
            Identity = identity,
            Hostname = config.Hostname is { Length: > 0 } hostname ? hostname : null,
            DomainName = config.Domainname is { Length: > 0 } domain ? domain : null,
            FileSystem = ownMount ? FileSystemSpec.Rootfs(rootfs, config.Root.ReadOnly) : FileSystemSpec.Chroot(rootfs),
            Mounts = mounts.ToImmutable(),
            RootPropagation = propagation,
            Environment = [.. env],
            WorkingDirectory = process.Cwd,
            SetPwd = false,
            Umask = process.User.Umask ?? 0x12,
            // The payload is the container's init (no husk-init); a pid namespace joined or shared has one already.
            AsPid1 = ns.HasFlag(NamespaceKinds.Pid),
            Detached = true,
            NewSession = false,
            Terminal = process.Terminal ? new TerminalSize(Nonzero(process.ConsoleSize?.Height, 24), Nonzero(process.ConsoleSize?.Width, 80)) : null,
            TerminalConsole = process.Terminal && ownMount ? "/dev/console" : null,
            Fds = [.. Enumerable.Range(3, Math.Max(0, preserveFds)).Select(fd => new FdMapping(Descriptors.Borrow(fd), fd))],
            Capabilities = capabilities,
            NoNewPrivileges = process.NoNewPrivileges,
            Landlock = LandlockSpec.Off,
            Seccomp = seccomp,
            Sysctls = [.. linux.Sysctl.Select(kv => new Sysctl(kv.Key, kv.Value))],
            Rlimits = rlimits.ToImmutable(),
            OomScoreAdjust = process.OomScoreAdj,
            Personality = persona,
            PauseBeforeRootSwitch = config.Hooks.BeforeStart,
            Cgroup = cgroup,
        };
        // Setting a name in the runtime's own UTS namespace would rename the host (runc refuses too).
        bool ownUts = ns.HasFlag(NamespaceKinds.Uts) || joins.Any(j => j.Item1 == NamespaceKinds.Uts);
        if (spec.Hostname is not null && !ownUts)
            throw new OciConfigException("hostname: setting it needs a UTS namespace of the container's own (add {\"type\": \"uts\"} to linux.namespaces)");
        if (spec.DomainName is not null && !ownUts)
            throw new OciConfigException("domainname: setting it needs a UTS namespace of the container's own (add {\"type\": \"uts\"} to linux.namespaces)");
        return new OciMapping(spec, joins.ToImmutable(), [.. warnings]) { Notes = [.. notes] };
    }

    private static string PathJoin(string dir, string name) => dir.TrimEnd('/') + "/" + name;

    private static ushort Nonzero(ushort? value, ushort fallback) => value is > 0 ? value.Value : fallback;

    private static bool IsBind(OciMount m) => m.Type is "bind" or "rbind" || m.Options.Any(o => o is "bind" or "rbind");

    private static CgroupSpec? MapCgroup(OciConfig config, string id, OciHost host, bool systemd)
    {
        string? given = config.Linux.CgroupsPath is { Length: > 0 } p ? p : null;
        string path;
        if (systemd)
        {
            // slice:prefix:name, as a cgroupfs path (no systemd here to make a transient scope).
            string value = given ?? $"system.slice:husk-runtime:{id}";
            string[] parts = value.Split(':');
            if (parts.Length != 3)
                throw new OciConfigException($"linux.cgroupsPath: \"{value}\" is not slice:prefix:name (--systemd-cgroup)");
            path = SystemdSlicePath(parts[0].Length == 0 ? "system.slice" : parts[0]) + "/" + (parts[1].Length == 0 ? parts[2] : $"{parts[1]}-{parts[2]}") + ".scope";
        }
        else
        {
            if (given is not null && given.Contains(':') && !given.StartsWith('/'))
                throw new OciConfigException($"linux.cgroupsPath: \"{given}\" looks like systemd's slice:prefix:name: pass --systemd-cgroup");
            path = given ?? "/" + id;
        }
        if (path.Split('/').Contains(".."))
            throw new OciConfigException($"linux.cgroupsPath: \"{path}\" may not contain \"..\"");
        var resources = config.Linux.Resources ?? new CgroupResources();
        bool rootful = host.IsRoot && host.InitialUserNamespace;
        // A rootless runtime makes a cgroup only when asked (podman rootless on cgroup v1 gives no path).
        if (!rootful && given is null && !resources.Any)
            return null;
        if (resources.Devices.Length > 0 || config.Linux.Devices.Length > 0)
        {
            // The config's devices may be used; runc's defaults come after the config's own rules.
            var rules = resources.Devices
                .Concat(config.Linux.Devices.Where(d => d.Type is "c" or "b" or "u").Select(d => new DeviceRule(true, d.Type == "b" ? 'b' : 'c', d.Major, d.Minor, "rwm")))
                .Concat(OciResources.DefaultAllowedDevices);
            resources = resources with { Devices = [.. rules] };
        }
        // A runtime that is not root of the initial user namespace (rootless) goes on without one when it cannot make it.
        return new CgroupSpec(path) { Resources = resources, Optional = !rootful };
    }

    /// <summary>"a-b.slice" as systemd nests it: /a.slice/a-b.slice.</summary>
    internal static string SystemdSlicePath(string slice)
    {
        if (slice == "-.slice")
            return "";
        if (!slice.EndsWith(".slice", StringComparison.Ordinal) || slice.Contains('/'))
            throw new OciConfigException($"linux.cgroupsPath: \"{slice}\" is not a slice name");
        string name = slice[..^".slice".Length];
        var path = new List<string>();
        string prefix = "";
        foreach (string part in name.Split('-'))
        {
            if (part.Length == 0)
                throw new OciConfigException($"linux.cgroupsPath: \"{slice}\" is not a slice name");
            prefix = prefix.Length == 0 ? part : prefix + "-" + part;
            path.Add(prefix + ".slice");
        }
        return "/" + string.Join('/', path);
    }

    private static uint MapPersonality(string domain, ImmutableArray<string> flags)
    {
        if (!flags.IsDefaultOrEmpty)
            throw new OciConfigException($"linux.personality.flags: {string.Join(", ", flags)}: personality flags are not supported");
        return domain switch
        {
            "LINUX" => 0x0000,
            "LINUX32" => 0x0008,
            _ => throw new OciConfigException($"linux.personality.domain: unknown domain \"{domain}\" (LINUX or LINUX32)"),
        };
    }

    private static CapabilitySet MapCapabilities(OciCapabilities caps, OciHost host, List<string> warnings)
    {
        ulong Mask(ImmutableArray<string> names, string set)
        {
            ulong mask = 0;
            foreach (string name in names)
            {
                if (!name.StartsWith("CAP_", StringComparison.Ordinal) || !CapabilityNames.TryFind(name.AsSpan(4), out int cap))
                    throw new OciConfigException($"{caps.Where}.{set}: unknown capability \"{name}\"");
                if (cap > host.LastCapability)
                {
                    warnings.Add($"{caps.Where}.{set}: {name} is unknown to this kernel: ignored");
                    continue;
                }
                mask |= 1UL << cap;
            }
            return mask;
        }
        return new CapabilitySet
        {
            Bounding = Mask(caps.Bounding, "bounding"),
            Effective = Mask(caps.Effective, "effective"),
            Inheritable = Mask(caps.Inheritable, "inheritable"),
            Permitted = Mask(caps.Permitted, "permitted"),
            Ambient = Mask(caps.Ambient, "ambient"),
        };
    }

    private static DeviceNode MapDevice(OciDevice d)
    {
        if (!d.Path.StartsWith("/dev/", StringComparison.Ordinal))
            throw new OciConfigException($"{d.Where}.path: \"{d.Path}\" is not below /dev");
        var type = d.Type switch
        {
            "c" or "u" => DeviceType.Character,
            "b" => DeviceType.Block,
            "p" => DeviceType.Fifo,
            _ => throw new OciConfigException($"{d.Where}.type: \"{d.Type}\" is not c, b, u or p"),
        };
        if (type != DeviceType.Fifo && (d.Major is < 0 or > 0xFFFFFFFF || d.Minor is < 0 or > 0xFFFFFFFF))
            throw new OciConfigException($"{d.Where}: major and minor must be non-negative 32-bit numbers");
        return new DeviceNode(d.Path, type, (uint)d.Major, (uint)d.Minor)
        {
            Mode = (UnixFileMode)((d.FileMode ?? 0x1B6) & 0xFFF),
            Uid = d.Uid,
            Gid = d.Gid,
        };
    }

    /// <summary>One config mount as the engine's operations (usually one).</summary>
    /// <param name="m">The config's mount.</param>
    /// <param name="bundle">Relative bind sources are the bundle's.</param>
    /// <param name="ns">The namespaces the container gets of its own.</param>
    /// <param name="sysfs">sysfs can be mounted (else the host's /sys is bound).</param>
    /// <param name="host">Facts about the machine.</param>
    /// <param name="warnings">What is ignored.</param>
    /// <param name="notes">What differs harmlessly.</param>
    /// <param name="cgroupDirectories">The container's cgroup in each hierarchy, shown at a cgroup mount; empty: none of its own.</param>
    internal static IEnumerable<MountOp> MapMount(OciMount m, string bundle, NamespaceKinds ns, bool sysfs, OciHost host, List<string> warnings, List<string> notes,
        IReadOnlyList<(string MountPoint, string Directory)> cgroupDirectories)
    {
        var o = MountOptions.Parse(m, warnings, notes);
        string dst = m.Destination;
        if (IsBind(m))
        {
            string source = m.Source is { Length: > 0 } src ? Path.GetFullPath(src, bundle) : throw new OciConfigException($"{m.Where}.source: a bind mount needs a source");
            yield return new BindMount(source, dst)
            {
                ReadOnly = o.ReadOnly,
                Devices = !o.NoDevices,
                AllowSetuid = !o.NoSetuid,
                NoExec = o.NoExec,
                NoSymlinks = o.NoSymlinks,
                Recursive = m.Type == "rbind" || m.Options.Contains("rbind"),
            };
            yield break;
        }
        string type = m.Type is { Length: > 0 } t ? t : throw new OciConfigException($"{m.Where}.type: missing (a mount that is not a bind needs a filesystem type)");
        if (type == "cgroup" || type == "cgroup2")
        {
            // cgroup2 of the container's own where it has a cgroup namespace on a v2-only host;
            // otherwise the host's hierarchies (runc does this rootless and for v1).
            if (host.CgroupV2Only && ns.HasFlag(NamespaceKinds.Cgroup))
            {
                yield return new FilesystemMount("cgroup2", dst) { ReadOnly = o.ReadOnly, Options = ["source=cgroup"], NoExec = true };
                yield break;
            }
            if (cgroupDirectories.Count > 0)
            {
                // runc's layout: a tmpfs with the container's own cgroup of each hierarchy, so the
                // container sees its limits at the top and nothing of the host's tree.
                yield return new FilesystemMount("tmpfs", dst) { Options = ["source=tmpfs", "mode=755"], NoExec = true };
                foreach (var (mountPoint, directory) in cgroupDirectories)
                {
                    string name = Path.GetFileName(mountPoint.TrimEnd('/'));
                    yield return new BindMount(directory, PathJoin(dst, name)) { NoExec = true, Recursive = false, ReadOnly = o.ReadOnly };
                    // "cpu,cpuacct" is also reachable as cpu and cpuacct.
                    if (name.Contains(','))
                    {
                        foreach (string part in name.Split(','))
                            yield return new MakeSymlink(name, PathJoin(dst, part));
                    }
                }
                if (o.ReadOnly)
                    yield return new RemountReadOnly(dst);
                yield break;
            }
            yield return new BindMount("/sys/fs/cgroup", dst) { ReadOnly = o.ReadOnly, NoExec = true };
            yield break;
        }
        if (type == "sysfs" && !sysfs)
        {
            yield return new BindMount("/sys", dst) { ReadOnly = o.ReadOnly, NoExec = o.NoExec };
            yield break;
        }
        var options = o.Data.ToList();
        if (m.Source is { Length: > 0 } source2)
            options.Insert(0, "source=" + source2);
        yield return new FilesystemMount(type, dst)
        {
            Options = [.. options],
            ReadOnly = o.ReadOnly,
            Devices = !o.NoDevices,
            AllowSetuid = !o.NoSetuid,
            NoExec = o.NoExec,
            AccessTime = o.AccessTime,
            NoDirectoryAccessTime = o.NoDirectoryAccessTime,
            NoSymlinks = o.NoSymlinks,
        };
    }
}
