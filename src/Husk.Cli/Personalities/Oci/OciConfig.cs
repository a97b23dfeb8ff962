using System.Collections.Immutable;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// A bundle's config.json (runtime-spec config.md and config-linux.md) as read, field by field,
/// with every type and range checked (<see cref="ConfigNode"/> names the field that is wrong).
/// Only the parts Husk acts on are kept; others are ignored as the spec asks, or refused where
/// runc refuses them (the mapper decides).
/// </summary>
internal sealed record OciConfig
{
    public required string OciVersion { get; init; }
    public required OciRoot Root { get; init; }
    public ImmutableArray<OciMount> Mounts { get; init; } = [];
    public OciProcess? Process { get; init; }
    public string? Hostname { get; init; }
    public string? Domainname { get; init; }
    public OciHooks Hooks { get; init; } = new();
    public ImmutableArray<KeyValuePair<string, string>> Annotations { get; init; } = [];
    public OciLinux Linux { get; init; } = new();

    /// <summary>Reads config.json's text.</summary>
    public static OciConfig Parse(string json)
    {
        var doc = ConfigNode.Parse(json, "config.json");
        if (doc.Kind != System.Text.Json.JsonValueKind.Object)
            throw new OciConfigException("config.json: expected a JSON object");
        string version = doc.String("ociVersion") ?? throw new OciConfigException("ociVersion: missing (required)");
        // Any 1.x: crun 1.8.1 refuses 1.3.0, which runtime-tools writes; runc accepts it.
        if (!version.StartsWith("1.", StringComparison.Ordinal))
            throw doc.Required("ociVersion").Error($"unsupported version \"{version}\": husk-runtime takes configs of runtime-spec 1.x");
        var root = doc.Field("root") is { } r
            ? new OciRoot(r.String("path") ?? throw r.Error("path: missing (required)"), r.Bool("readonly") ?? false)
            : throw new OciConfigException("root: missing (required on Linux)");
        var annotations = doc.StringMap("annotations");
        foreach (var (key, _) in annotations)
        {
            if (key.Length == 0)
                throw doc.Required("annotations").Error("an annotation key is empty");
        }
        return new OciConfig
        {
            OciVersion = version,
            Root = root,
            Mounts = [.. doc.Array("mounts").Select(OciMount.Parse)],
            Process = doc.Field("process") is { } p ? OciProcess.Parse(p) : null,
            Hostname = doc.String("hostname"),
            Domainname = doc.String("domainname"),
            Hooks = doc.Field("hooks") is { } h ? OciHooks.Parse(h) : new(),
            Annotations = [.. annotations],
            Linux = doc.Field("linux") is { } l ? OciLinux.Parse(l) : new(),
        };
    }
}

internal sealed record OciRoot(string Path, bool ReadOnly);

internal sealed record OciMount(string Destination, string? Type, string? Source, ImmutableArray<string> Options, string Where)
{
    public static OciMount Parse(ConfigNode m)
    {
        string dst = m.String("destination") ?? throw m.Error("destination: missing (required)");
        if (!dst.StartsWith('/'))
            throw m.Required("destination").Error($"\"{dst}\" is not an absolute path");
        if (m.Array("uidMappings").Count > 0 || m.Array("gidMappings").Count > 0)
            throw m.Required(m.Field("uidMappings") is not null ? "uidMappings" : "gidMappings").Error("idmapped mounts are not supported by husk-runtime");
        return new OciMount(dst, m.String("type"), m.String("source"), [.. m.Strings("options")], m.Path);
    }
}

internal sealed record OciUser(uint Uid, uint Gid, uint? Umask, ImmutableArray<uint> AdditionalGids, string? Username);

internal sealed record OciCapabilities(ImmutableArray<string> Bounding, ImmutableArray<string> Effective, ImmutableArray<string> Inheritable, ImmutableArray<string> Permitted, ImmutableArray<string> Ambient, string Where);

internal sealed record OciRlimit(string Type, ulong Soft, ulong Hard, string Where);

internal sealed record OciProcess
{
    public bool Terminal { get; init; }
    public (ushort Height, ushort Width)? ConsoleSize { get; init; }
    public required OciUser User { get; init; }
    public ImmutableArray<string> Args { get; init; } = [];
    public ImmutableArray<string> Env { get; init; } = [];
    public required string Cwd { get; init; }
    public OciCapabilities? Capabilities { get; init; }
    public ImmutableArray<OciRlimit> Rlimits { get; init; } = [];
    public bool NoNewPrivileges { get; init; }
    public string? ApparmorProfile { get; init; }
    public int? OomScoreAdj { get; init; }
    public string? SelinuxLabel { get; init; }
    public string Where { get; init; } = "process";

    public static OciProcess Parse(ConfigNode p)
    {
        var u = p.Field("user");
        var user = u is { } un
            ? new OciUser(un.UInt32("uid") ?? 0, un.UInt32("gid") ?? 0, un.UInt32("umask"), [.. un.Array("additionalGids").Select(g => g.AsUInt32())], un.String("username"))
            : new OciUser(0, 0, null, [], null);
        string cwd = p.String("cwd") ?? "/";
        if (!cwd.StartsWith('/'))
            throw p.Required("cwd").Error($"\"{cwd}\" is not an absolute path");
        var env = p.Strings("env");
        foreach (var (e, i) in env.Select((e, i) => (e, i)))
        {
            if (!e.Contains('='))
                throw p.Array("env")[i].Error($"\"{e}\" is not NAME=VALUE");
        }
        (ushort, ushort)? size = p.Field("consoleSize") is { } cs ? (cs.UInt16("height") ?? 0, cs.UInt16("width") ?? 0) : null;
        OciCapabilities? caps = p.Field("capabilities") is { } c
            ? new OciCapabilities([.. c.Strings("bounding")], [.. c.Strings("effective")], [.. c.Strings("inheritable")], [.. c.Strings("permitted")], [.. c.Strings("ambient")], c.Path)
            : null;
        var rlimits = p.Array("rlimits").Select(r => new OciRlimit(
            r.String("type") ?? throw r.Error("type: missing (required)"),
            r.UInt64("soft") ?? throw r.Error("soft: missing (required)"),
            r.UInt64("hard") ?? throw r.Error("hard: missing (required)"),
            r.Path)).ToImmutableArray();
        if (p.Field("commandLine") is { } cl)
            throw cl.Error("is for Windows: use process.args");
        return new OciProcess
        {
            Terminal = p.Bool("terminal") ?? false,
            ConsoleSize = size,
            User = user,
            Args = [.. p.Strings("args")],
            Env = [.. env],
            Cwd = cwd,
            Capabilities = caps,
            Rlimits = rlimits,
            NoNewPrivileges = p.Bool("noNewPrivileges") ?? false,
            ApparmorProfile = p.String("apparmorProfile"),
            OomScoreAdj = p.Int32("oomScoreAdj"),
            SelinuxLabel = p.String("selinuxLabel"),
            Where = p.Path,
        };
    }
}

internal sealed record OciHook(string Path, ImmutableArray<string> Args, ImmutableArray<string> Env, int? Timeout, string Where)
{
    public static OciHook Parse(ConfigNode h)
    {
        string path = h.String("path") ?? throw h.Error("path: missing (required)");
        if (!path.StartsWith('/'))
            throw h.Required("path").Error($"\"{path}\" is not an absolute path");
        int? timeout = h.Int32("timeout");
        if (timeout is <= 0)
            throw h.Required("timeout").Error("must be greater than zero");
        return new OciHook(path, [.. h.Strings("args")], [.. h.Strings("env")], timeout, h.Path);
    }
}

internal sealed record OciHooks
{
    public ImmutableArray<OciHook> Prestart { get; init; } = [];
    public ImmutableArray<OciHook> CreateRuntime { get; init; } = [];
    public ImmutableArray<OciHook> CreateContainer { get; init; } = [];
    public ImmutableArray<OciHook> StartContainer { get; init; } = [];
    public ImmutableArray<OciHook> Poststart { get; init; } = [];
    public ImmutableArray<OciHook> Poststop { get; init; } = [];

    public bool BeforeStart => Prestart.Length + CreateRuntime.Length + CreateContainer.Length > 0;

    public static OciHooks Parse(ConfigNode h) => new()
    {
        Prestart = [.. h.Array("prestart").Select(OciHook.Parse)],
        CreateRuntime = [.. h.Array("createRuntime").Select(OciHook.Parse)],
        CreateContainer = [.. h.Array("createContainer").Select(OciHook.Parse)],
        StartContainer = [.. h.Array("startContainer").Select(OciHook.Parse)],
        Poststart = [.. h.Array("poststart").Select(OciHook.Parse)],
        Poststop = [.. h.Array("poststop").Select(OciHook.Parse)],
    };
}

internal sealed record OciNamespace(string Type, string? Path, string Where);

internal sealed record OciIdMapping(uint ContainerId, uint HostId, uint Size);

internal sealed record OciDevice(string Path, string Type, long Major, long Minor, uint? FileMode, uint? Uid, uint? Gid, string Where);

internal sealed record OciSeccompArg(int Index, ulong Value, ulong ValueTwo, string Op, string Where);

internal sealed record OciSeccompRule(ImmutableArray<string> Names, string Action, uint? ErrnoRet, ImmutableArray<OciSeccompArg> Args, string Where);

internal sealed record OciSeccomp
{
    public required string DefaultAction { get; init; }
    public uint? DefaultErrnoRet { get; init; }
    public ImmutableArray<string> Architectures { get; init; } = [];
    public ImmutableArray<string> Flags { get; init; } = [];
    public string? ListenerPath { get; init; }
    public string? ListenerMetadata { get; init; }
    public ImmutableArray<OciSeccompRule> Syscalls { get; init; } = [];
    public string Where { get; init; } = "linux.seccomp";

    public static OciSeccomp Parse(ConfigNode s) => new()
    {
        DefaultAction = s.String("defaultAction") ?? throw s.Error("defaultAction: missing (required)"),
        DefaultErrnoRet = s.UInt32("defaultErrnoRet"),
        Architectures = [.. s.Strings("architectures")],
        Flags = [.. s.Strings("flags")],
        ListenerPath = s.String("listenerPath"),
        ListenerMetadata = s.String("listenerMetadata"),
        Syscalls = [.. s.Array("syscalls").Select(r => new OciSeccompRule(
            [.. r.Strings("names")],
            r.String("action") ?? throw r.Error("action: missing (required)"),
            r.UInt32("errnoRet"),
            [.. r.Array("args").Select(a => new OciSeccompArg(
                (int)(a.UInt32("index") ?? throw a.Error("index: missing (required)")),
                a.UInt64("value") ?? 0,
                a.UInt64("valueTwo") ?? 0,
                a.String("op") ?? throw a.Error("op: missing (required)"),
                a.Path))],
            r.Path))],
        Where = s.Path,
    };
}

internal sealed record OciLinux
{
    public ImmutableArray<OciNamespace> Namespaces { get; init; } = [];
    public ImmutableArray<OciIdMapping> UidMappings { get; init; } = [];
    public ImmutableArray<OciIdMapping> GidMappings { get; init; } = [];
    public ImmutableArray<OciDevice> Devices { get; init; } = [];
    public string? CgroupsPath { get; init; }
    public CgroupResources? Resources { get; init; }
    public string? RootfsPropagation { get; init; }
    public OciSeccomp? Seccomp { get; init; }
    public ImmutableArray<KeyValuePair<string, string>> Sysctl { get; init; } = [];
    public ImmutableArray<string> MaskedPaths { get; init; } = [];
    public ImmutableArray<string> ReadonlyPaths { get; init; } = [];
    public string? MountLabel { get; init; }
    public (string Domain, ImmutableArray<string> Flags)? Personality { get; init; }
    public bool IntelRdt { get; init; }
    public bool TimeOffsets { get; init; }

    public static OciLinux Parse(ConfigNode l)
    {
        ImmutableArray<OciIdMapping> Maps(string name) => [.. l.Array(name).Select(m => new OciIdMapping(
            m.UInt32("containerID") ?? throw m.Error("containerID: missing (required)"),
            m.UInt32("hostID") ?? throw m.Error("hostID: missing (required)"),
            m.UInt32("size") ?? throw m.Error("size: missing (required)")))];
        return new OciLinux
        {
            Namespaces = [.. l.Array("namespaces").Select(n => new OciNamespace(n.String("type") ?? throw n.Error("type: missing (required)"), n.String("path"), n.Path))],
            UidMappings = Maps("uidMappings"),
            GidMappings = Maps("gidMappings"),
            Devices = [.. l.Array("devices").Select(d => new OciDevice(
                d.String("path") ?? throw d.Error("path: missing (required)"),
                d.String("type") ?? throw d.Error("type: missing (required)"),
                d.Int64("major") ?? 0,
                d.Int64("minor") ?? 0,
                d.UInt32("fileMode"),
                d.UInt32("uid"),
                d.UInt32("gid"),
                d.Path))],
            CgroupsPath = l.String("cgroupsPath"),
            Resources = l.Field("resources") is { } r ? OciResources.Parse(r) : null,
            RootfsPropagation = l.String("rootfsPropagation"),
            Seccomp = l.Field("seccomp") is { } s ? OciSeccomp.Parse(s) : null,
            Sysctl = [.. l.StringMap("sysctl")],
            MaskedPaths = [.. l.Strings("maskedPaths")],
            ReadonlyPaths = [.. l.Strings("readonlyPaths")],
            MountLabel = l.String("mountLabel"),
            Personality = l.Field("personality") is { } p ? (p.String("domain") ?? throw p.Error("domain: missing (required)"), [.. p.Strings("flags")]) : null,
            IntelRdt = l.Field("intelRdt") is not null,
            TimeOffsets = l.Field("timeOffsets") is not null,
        };
    }
}
