using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Husk.Resources;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// What husk-runtime keeps about one container in <c>ROOT/ID/state.json</c> (beside the config it
/// was created from and the start FIFO). The container's init is identified by its pid together
/// with that process's start time (field 22 of /proc/PID/stat), so a pid reused after the init has
/// gone is never taken for it.
/// </summary>
internal sealed record ContainerState
{
    public required string Id { get; init; }
    public required string Bundle { get; init; }
    public required string Rootfs { get; init; }
    public string OciVersion { get; init; } = "1.0.2";
    public int Pid { get; init; }
    public long StartTicks { get; init; }
    public DateTimeOffset Created { get; init; }
    public ImmutableArray<KeyValuePair<string, string>> Annotations { get; init; } = [];
    /// <summary>The container's cgroup directories (CgroupPlacement), empty when it has none.</summary>
    public ImmutableArray<string> CgroupDirectories { get; init; } = [];
    /// <summary>"creating" until <c>create</c> has finished.</summary>
    public bool Creating { get; init; }

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("id", Id);
        w.WriteString("bundle", Bundle);
        w.WriteString("rootfs", Rootfs);
        w.WriteString("ociVersion", OciVersion);
        w.WriteNumber("pid", Pid);
        w.WriteNumber("startTicks", StartTicks);
        w.WriteString("created", Created);
        w.WriteBoolean("creating", Creating);
        w.WriteStartObject("annotations");
        foreach (var (k, v) in Annotations)
            w.WriteString(k, v);
        w.WriteEndObject();
        w.WriteStartArray("cgroup");
        foreach (string d in CgroupDirectories)
            w.WriteStringValue(d);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static ContainerState Read(string json, string file)
    {
        var n = ConfigNode.Parse(json, file);
        try
        {
            return new ContainerState
            {
                Id = n.String("id") ?? throw n.Error("id: missing"),
                Bundle = n.String("bundle") ?? "",
                Rootfs = n.String("rootfs") ?? "",
                OciVersion = n.String("ociVersion") ?? "1.0.2",
                Pid = n.Int32("pid") ?? 0,
                StartTicks = n.Int64("startTicks") ?? 0,
                Created = DateTimeOffset.Parse(n.String("created") ?? "1970-01-01T00:00:00Z", CultureInfo.InvariantCulture),
                Creating = n.Bool("creating") ?? false,
                Annotations = [.. n.StringMap("annotations")],
                CgroupDirectories = [.. n.Strings("cgroup")],
            };
        }
        catch (OciConfigException e)
        {
            throw new OciConfigException($"{file}: {e.Message}");
        }
    }

    /// <summary>The init, if it is the same process that was started (its start time matches) and has not exited.</summary>
    public bool InitAlive()
    {
        if (Pid <= 0)
            return false;
        string? stat = ProcFile.ReadText($"/proc/{Pid}/stat");
        if (stat is null)
            return false;
        int close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length)
            return false;
        string[] fields = stat[(close + 2)..].Split(' ');
        // A zombie has exited: the container is stopped although its subreaper has not reaped it yet.
        return fields.Length > 19 && fields[0] != "Z" && fields[0] != "X"
            && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out long start) && start == StartTicks;
    }

    /// <summary>The OCI status: creating, created (waiting on the FIFO), running, paused (frozen) or stopped.</summary>
    public string Status(ContainerStore store)
    {
        if (Creating)
            return InitAlive() || Pid == 0 ? "creating" : "stopped";
        if (!InitAlive())
            return "stopped";
        // The FIFO goes once start has read the gate's byte: a start killed in between leaves it
        // behind a payload that runs, so the init must also still be the gate.
        if (File.Exists(store.FifoPath(Id)) && AtGate())
            return "created";
        if (CgroupDirectories.Length > 0 && CgroupPlacement.Open(HostCgroupFs.Instance, CgroupDirectories).IsFrozen())
            return "paused";
        return "running";
    }

    /// <summary>Whether the init is still husk-init's gate (its argv is "husk-init gate ..."), not the payload it execs.</summary>
    internal bool AtGate()
    {
        try
        {
            return File.ReadAllText($"/proc/{Pid}/cmdline").StartsWith("husk-init\0gate\0", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The state runtime-spec defines (runc's layout): what <c>state</c> prints and hooks read on stdin.</summary>
    public string ToSpecJson(string status, bool indented)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
            WriteSpecState(w, status);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public void WriteSpecState(Utf8JsonWriter w, string status)
    {
        w.WriteStartObject();
        w.WriteString("ociVersion", OciVersion);
        w.WriteString("id", Id);
        w.WriteNumber("pid", status == "stopped" ? 0 : Pid);
        w.WriteString("status", status);
        w.WriteString("bundle", Bundle);
        w.WriteString("rootfs", Rootfs);
        w.WriteString("created", Created.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
        w.WriteString("owner", "");
        if (Annotations.Length > 0)
        {
            w.WriteStartObject("annotations");
            foreach (var (k, v) in Annotations)
                w.WriteString(k, v);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }
}
