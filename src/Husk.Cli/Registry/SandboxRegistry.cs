using System.Globalization;
using System.Text;
using System.Text.Json;
using Husk.Cli.Run;
using Husk.Interop;

namespace Husk.Cli.Registry;

/// <summary>One running sandbox as <c>husk ps</c> lists it.</summary>
internal sealed record SandboxEntry(string Id, string? Name, int Pid, long StartTicks, int SupervisorPid, DateTimeOffset Started, string Command)
{
    /// <summary>The payload's uid and gid inside, so that <c>husk enter</c> runs as the payload does.</summary>
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    /// <summary>The payload's walls, which <c>husk enter</c> gives the processes it starts there.</summary>
    public Husk.Launch.AppliedPolicy? Policy { get; init; }
}

/// <summary>
/// Running sandboxes of this user, one JSON file each in the user's runtime directory
/// ($XDG_RUNTIME_DIR/husk/sandboxes, else /tmp/husk-UID/sandboxes). A sandbox is identified by its
/// pid together with that process's start time, so a reused pid is never mistaken for it; files of
/// sandboxes that are gone are removed whenever the registry is read.
/// </summary>
internal static class SandboxRegistry
{
    public static string Directory
    {
        get
        {
            string? runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
            string root = runtime is { Length: > 0 } && System.IO.Directory.Exists(runtime)
                ? Path.Combine(runtime, "husk")
                : $"/tmp/husk-{Interop.Interop.GetUid()}";
            return Path.Combine(root, "sandboxes");
        }
    }

    private static string EnsureDirectory()
    {
        string dir = Directory;
        string parent = Path.GetDirectoryName(dir)!;
        foreach (string d in new[] { parent, dir })
        {
            if (!System.IO.Directory.Exists(d))
                System.IO.Directory.CreateDirectory(d, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        // A directory under /tmp that someone else made first must not be trusted.
        if (Interop.Interop.TryStat(parent, out var st, followSymlinks: false) != 0 || st.Uid != Interop.Interop.GetUid() || (st.Mode & 0x3F) != 0)
            throw new InvalidOperationException($"husk: refusing to use {parent}: it is not a private directory of this user");
        return dir;
    }

    // Ids need only be unique among this user's running sandboxes; RandomNumberGenerator would
    // load OpenSSL, which cost a third of a launch.
    public static string NewId() => Random.Shared.Next().ToString("x8", System.Globalization.CultureInfo.InvariantCulture);

    public static long StartTicks(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 22 (starttime) comes after the parenthesised command, which may contain spaces.
            string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(rest[19], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    public static string Register(SandboxEntry entry)
    {
        string dir = EnsureDirectory();
        string path = Path.Combine(dir, entry.Id + ".json");
        using (var stream = new FileStream(path + ".tmp", FileMode.Create, FileAccess.Write))
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("id", entry.Id);
            if (entry.Name is not null)
                w.WriteString("name", entry.Name);
            w.WriteNumber("pid", entry.Pid);
            w.WriteNumber("start_ticks", entry.StartTicks);
            w.WriteNumber("supervisor_pid", entry.SupervisorPid);
            w.WriteString("started", entry.Started);
            w.WriteString("command", entry.Command);
            w.WriteNumber("uid", entry.Uid);
            w.WriteNumber("gid", entry.Gid);
            if (entry.Policy is { } policy)
            {
                w.WritePropertyName("policy");
                policy.Write(w);
            }
            w.WriteEndObject();
        }
        File.Move(path + ".tmp", path, overwrite: true);
        return path;
    }

    public static void Unregister(string id)
    {
        try
        {
            File.Delete(Path.Combine(Directory, id + ".json"));
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Live sandboxes; files of dead ones are removed on the way.</summary>
    public static List<SandboxEntry> List()
    {
        var result = new List<SandboxEntry>();
        if (!System.IO.Directory.Exists(Directory))
            return result;
        foreach (string file in System.IO.Directory.GetFiles(Directory, "*.json"))
        {
            SandboxEntry? e = Read(file);
            if (e is null || StartTicks(e.Pid) != e.StartTicks)
            {
                try
                {
                    File.Delete(file);
                }
                catch (IOException)
                {
                }
                continue;
            }
            result.Add(e);
        }
        return [.. result.OrderBy(e => e.Started)];
    }

    private static SandboxEntry? Read(string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file));
            var r = doc.RootElement;
            return new SandboxEntry(
                r.GetProperty("id").GetString()!,
                r.TryGetProperty("name", out var n) ? n.GetString() : null,
                r.GetProperty("pid").GetInt32(),
                r.GetProperty("start_ticks").GetInt64(),
                r.GetProperty("supervisor_pid").GetInt32(),
                r.GetProperty("started").GetDateTimeOffset(),
                r.GetProperty("command").GetString() ?? "")
            {
                Uid = r.TryGetProperty("uid", out var u) ? u.GetUInt32() : 0,
                Gid = r.TryGetProperty("gid", out var g) ? g.GetUInt32() : 0,
                Policy = r.TryGetProperty("policy", out var p) ? Husk.Launch.AppliedPolicy.Read(p) : null,
            };
        }
        catch (Exception e) when (e is IOException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Finds a live sandbox by id, id prefix or name.</summary>
    public static SandboxEntry Find(string idOrName)
    {
        var all = List();
        var exact = all.Where(e => e.Id == idOrName || e.Name == idOrName).ToList();
        var matches = exact.Count > 0 ? exact : all.Where(e => e.Id.StartsWith(idOrName, StringComparison.Ordinal)).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new UsageException($"husk: no running sandbox {idOrName}: see husk ps"),
            _ => throw new UsageException($"husk: {idOrName} names several sandboxes: give more of the id"),
        };
    }

    /// <summary>A pidfd for the sandbox's first process, checked to still be that process.</summary>
    public static SafePidfd Open(SandboxEntry entry)
    {
        var pidfd = Interop.Interop.PidfdOpen(entry.Pid);
        // Checking the start time after opening the pidfd closes the reuse race: the pidfd pins the process.
        if (pidfd is null || StartTicks(entry.Pid) != entry.StartTicks)
        {
            pidfd?.Dispose();
            throw new UsageException($"husk: sandbox {entry.Id} has ended");
        }
        return pidfd;
    }

    public static string Describe(IEnumerable<string> command) =>
        string.Join(' ', command.Select(a => a.Any(char.IsWhiteSpace) || a.Length == 0 ? "'" + a.Replace("'", "'\\''") + "'" : a));

    internal static string Table(IReadOnlyList<SandboxEntry> entries)
    {
        var sb = new StringBuilder();
        sb.AppendLine("ID        NAME          PID      STARTED              COMMAND");
        foreach (var e in entries)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{e.Id,-9} {Trunc(e.Name ?? "-", 13),-13} {e.Pid,-8} {e.Started.ToLocalTime():yyyy-MM-dd HH:mm:ss}  {e.Command}");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static string Trunc(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";
}
