using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Husk.Resources;

namespace Husk.Cli.Personalities.Oci;

/// <summary><c>state</c>, <c>list</c> and <c>ps</c>: what runc prints, in its layouts.</summary>
internal static class QueryCommands
{
    /// <summary><c>state ID</c>: the runtime-spec state, indented as runc prints it.</summary>
    public static int State(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, [], command: "state");
        string id = OciPersonality.OneId(line, "state");
        var state = ctx.Store.Require(id);
        Console.Out.Write(state.ToSpecJson(state.Status(ctx.Store), indented: true) + "\n");
        return 0;
    }

    public static readonly OciOption[] ListOptions = [new(["format", "f"], true), new(["quiet", "q"], false)];

    /// <summary><c>list [--format table|json] [--quiet]</c>.</summary>
    public static int List(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, ListOptions, command: "list");
        string format = line.Value("format") ?? "table";
        var states = ctx.Store.Ids().Select(ctx.Store.Load).Where(s => s is not null).Select(s => (State: s!, Status: s!.Status(ctx.Store))).ToList();
        if (line.Flag("quiet"))
        {
            foreach (var (s, _) in states)
                Console.Out.Write(s.Id + "\n");
            return 0;
        }
        switch (format)
        {
            case "json":
            {
                var ms = new MemoryStream();
                using (var w = new Utf8JsonWriter(ms))
                {
                    w.WriteStartArray();
                    foreach (var (s, status) in states)
                        s.WriteSpecState(w, status);
                    w.WriteEndArray();
                }
                Console.Out.Write(Encoding.UTF8.GetString(ms.ToArray()) + "\n");
                return 0;
            }
            case "table":
            {
                var rows = new List<string[]> { new[] { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" } };
                foreach (var (s, status) in states)
                {
                    rows.Add([s.Id, (status == "stopped" ? 0 : s.Pid).ToString(CultureInfo.InvariantCulture), status, s.Bundle,
                        s.Created.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture), ""]);
                }
                Console.Out.Write(Table(rows));
                return 0;
            }
            default:
                throw new OciUsageException($"invalid format option: {format}");
        }
    }

    /// <summary>Columns as Go's tabwriter lays out runc's (minimum width 12, one space of padding).</summary>
    internal static string Table(List<string[]> rows)
    {
        int columns = rows.Max(r => r.Length);
        var widths = new int[columns];
        foreach (var r in rows)
        {
            for (int i = 0; i < r.Length - 1; i++)
                widths[i] = Math.Max(widths[i], Math.Max(12, r[i].Length + 1));
        }
        var sb = new StringBuilder();
        foreach (var r in rows)
        {
            for (int i = 0; i < r.Length; i++)
                sb.Append(i < r.Length - 1 ? r[i].PadRight(widths[i]) : r[i]);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    public static readonly OciOption[] PsOptions = [new(["format", "f"], true)];

    /// <summary><c>ps [--format table|json] ID [PS-ARGS...]</c>: the container's processes (its cgroup's), as pids or as ps(1) shows them.</summary>
    public static int Ps(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, PsOptions, stopAfter: 1, command: "ps");
        if (line.Arguments.Count < 1)
            throw new OciUsageException("ps: \"ps\" requires a minimum of 1 argument");
        string id = line.Arguments[0];
        var state = ctx.Store.Require(id);
        if (state.Status(ctx.Store) == "stopped")
            throw new OciRuntimeException("container not running");
        var pids = state.CgroupDirectories.Length > 0
            ? CgroupPlacement.Open(HostCgroupFs.Instance, state.CgroupDirectories).Pids()
            : [state.Pid];
        string format = line.Value("format") ?? "table";
        if (format == "json")
        {
            Console.Out.Write("[" + string.Join(",", pids.Select(p => p.ToString(CultureInfo.InvariantCulture))) + "]\n");
            return 0;
        }
        if (format != "table")
            throw new OciUsageException($"invalid format option: {format}");
        var psi = new ProcessStartInfo("ps") { UseShellExecute = false, RedirectStandardOutput = true };
        var psArgs = line.Arguments.Skip(1).ToList();
        foreach (string a in psArgs.Count > 0 ? psArgs : ["-ef"])
            psi.ArgumentList.Add(a);
        using var ps = Process.Start(psi)!;
        string output = ps.StandardOutput.ReadToEnd();
        ps.WaitForExit();
        string[] lines = output.Split('\n');
        int pidColumn = Array.IndexOf(lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries), "PID");
        if (pidColumn < 0)
            throw new OciRuntimeException("couldn't find PID field in ps output");
        var set = pids.ToHashSet();
        var sb = new StringBuilder(lines[0]).Append('\n');
        foreach (string l in lines.Skip(1))
        {
            string[] fields = l.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > pidColumn && int.TryParse(fields[pidColumn], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && set.Contains(pid))
                sb.Append(l).Append('\n');
        }
        Console.Out.Write(sb.ToString());
        return 0;
    }
}
