using System.Globalization;
using Husk.Launch;
using Husk.Policy;

namespace Husk.Logging;

/// <summary>
/// What a plan decided, as log lines: the namespaces, the filesystem mode, the ids, the network,
/// what is hidden, the walls (seccomp, Landlock, capabilities), then each setup step at debug
/// level. Pure, like the planner: the launcher writes them to the spec's sink.
/// </summary>
internal static class PlanEvents
{
    public static IEnumerable<LogEvent> Of(SandboxSpec spec, SpawnPlan plan)
    {
        var ns = spec.Namespaces;
        yield return EngineLog.Event(LogLevel.Info, "namespaces",
            new LogField("new", Names(ns)), new LogField("shared", Names((NamespaceKinds.AllButTime | NamespaceKinds.Time) & ~ns & ~spec.JoinNamespaces) is { Length: > 0 } shared ? shared : null));
        yield return EngineLog.Event(LogLevel.Info, "filesystem", FileSystemFields(spec.FileSystem));
        yield return EngineLog.Event(LogLevel.Info, "identity",
            new LogField("id_map", plan.IdMaps.Kind switch { IdMapKind.Write => "written", IdMapKind.Helper => "newuidmap", _ => "none" }),
            new LogField("uid_map", plan.IdMaps.Kind == IdMapKind.None ? null : plan.IdMaps.UidMap.Trim()),
            new LogField("gid_map", plan.IdMaps.Kind == IdMapKind.None ? null : plan.IdMaps.GidMap.Trim()));
        if (ns.HasFlag(NamespaceKinds.Uts) && spec.Hostname is { } hostname)
            yield return EngineLog.Event(LogLevel.Info, "hostname", new LogField("name", hostname));
        yield return ns.HasFlag(NamespaceKinds.Net)
            ? EngineLog.Event(LogLevel.Info, "network", new LogField("mode", "none"), new LogField("loopback", spec.BringUpLoopback ? "up" : "down"))
            : EngineLog.Event(LogLevel.Info, "network", new LogField("mode", "host"));
        foreach (var op in plan.Mounts.Where(FileSystem.Hiding.IsHiding))
            yield return EngineLog.Event(LogLevel.Info, "hidden", new LogField("path", op.Destination));
        yield return EngineLog.Event(LogLevel.Info, "seccomp", SeccompFields(spec.Seccomp));
        yield return EngineLog.Event(LogLevel.Info, "landlock", new LogField("mode", plan.Policy?.Landlock is null ? "off" : spec.Landlock.Mode == LandlockMode.Strict ? "strict" : "on"));
        yield return EngineLog.Event(LogLevel.Info, "capabilities", new LogField("kept", Capabilities(spec.Capabilities)), new LogField("no_new_privs", spec.NoNewPrivileges));
        for (int i = 0; i < plan.Ops.Count; i++)
        {
            var op = plan.Ops[i];
            yield return EngineLog.Event(LogLevel.Debug, "step",
                new LogField("index", i), new LogField("what", op.Description), new LogField("role", op.Role.ToString()));
        }
    }

    private static string Names(NamespaceKinds kinds)
    {
        var names = new List<string>();
        foreach (var (kind, name) in new[]
        {
            (NamespaceKinds.User, "user"), (NamespaceKinds.Mount, "mount"), (NamespaceKinds.Pid, "pid"), (NamespaceKinds.Ipc, "ipc"),
            (NamespaceKinds.Uts, "uts"), (NamespaceKinds.Net, "net"), (NamespaceKinds.Cgroup, "cgroup"), (NamespaceKinds.Time, "time"),
        })
        {
            if (kinds.HasFlag(kind))
                names.Add(name);
        }
        return string.Join(',', names);
    }

    private static LogField[] FileSystemFields(FileSystemSpec fs) => fs switch
    {
        HostOverlayFileSystem o => [new("mode", "overlay"), new("root", o.Root), new("storage", o.StorageSize), new("driver", o.Driver == OverlayDriver.Kernel ? "overlayfs" : "fuse-overlayfs")],
        HostReadOnlyFileSystem => [new("mode", "ro")],
        HostFileSystem h => [new("mode", "host"), new("read_only", h.ReadOnly)],
        EmptyFileSystem e => [new("mode", "tmpfs"), new("read_only", e.ReadOnly), new("size", e.Size)],
        DirectoryFileSystem d => [new("mode", "directory"), new("path", d.Path), new("read_only", d.ReadOnly), new("storage", d.Size)],
        BareFileSystem => [new("mode", "bare")],
        _ => [new("mode", "inherit")],
    };

    private static LogField[] SeccompFields(SeccompSpec seccomp)
    {
        string profile = seccomp.Profile is null ? (seccomp.RawPrograms.IsDefaultOrEmpty ? "none" : "raw")
            : ReferenceEquals(seccomp.Profile, SeccompProfiles.Default) ? "default"
            : SeccompProfiles.BuiltIn.FirstOrDefault(p => ReferenceEquals(p.Value, seccomp.Profile)).Key ?? "custom";
        return
        [
            new("profile", profile),
            new("allow", seccomp.Allow.IsDefaultOrEmpty ? null : string.Join(',', seccomp.Allow)),
            new("deny", seccomp.Deny.IsDefaultOrEmpty ? null : string.Join(',', seccomp.Deny.Select(d => d.Name + ":" + d.Errno.ToString(CultureInfo.InvariantCulture)))),
        ];
    }

    private static string Capabilities(CapabilitySet? caps)
    {
        if (caps is null)
            return "inherited";
        var kept = Enumerable.Range(0, 64).Where(c => (caps.Bounding & (1UL << c)) != 0).Select(CapabilityNames.Name).ToList();
        return kept.Count == 0 ? "none" : string.Join(',', kept);
    }
}
