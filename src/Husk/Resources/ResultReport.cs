using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Husk;

/// <summary>A <see cref="SandboxResult"/> written out: as one JSON object, or as isolate's meta file.</summary>
internal static class ResultReport
{
    /// <summary>
    /// One JSON object: verdict (with libsandbox's code and isolate's status), message, exit_code,
    /// signal, cpu_time_s, user_time_s, system_time_s, wall_time_s, peak_memory_bytes,
    /// output_bytes (standard output and error), stdout_bytes, stderr_bytes, written_bytes,
    /// peak_processes, oom_killed, killed, backend, backend_notes, the limits applied, layer:
    /// the overlay mode's root where the run's writes are kept (<paramref name="layer"/>), or null,
    /// with counting syscall_counts (strace -c's table: per call its calls, errors and seconds), and
    /// with a network the supervisor saw, network (mode, helper, allowed, refused, bytes each way, events).
    /// docs/schema/husk-result.schema.json publishes it; libhusk returns the same object.
    /// </summary>
    public static string ToJson(SandboxResult result, string? layer = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = false }))
        {
            var u = result.Usage;
            w.WriteStartObject();
            w.WriteString("verdict", result.Verdict.ToString());
            w.WriteString("libsandbox", result.LibsandboxCode);
            if (result.IsolateStatus is { } status)
                w.WriteString("isolate", status);
            else
                w.WriteNull("isolate");
            w.WriteString("message", result.Message);
            WriteNumberOrNull(w, "exit_code", result.Exit?.ExitCode);
            WriteNumberOrNull(w, "signal", result.Exit?.Signal);
            w.WriteNumber("cpu_time_s", Seconds(u.CpuTime));
            w.WriteNumber("user_time_s", Seconds(u.UserTime));
            w.WriteNumber("system_time_s", Seconds(u.SystemTime));
            w.WriteNumber("wall_time_s", Seconds(u.WallTime));
            w.WriteNumber("peak_memory_bytes", u.PeakMemoryBytes);
            w.WriteNumber("output_bytes", u.OutputBytes);
            w.WriteNumber("stdout_bytes", u.StdoutBytes);
            w.WriteNumber("stderr_bytes", u.StderrBytes);
            WriteNumberOrNull(w, "written_bytes", u.WrittenBytes);
            w.WriteNumber("peak_processes", u.PeakProcesses);
            w.WriteBoolean("oom_killed", u.OomKilled);
            w.WriteBoolean("killed", result.KilledBySupervisor);
            w.WriteString("backend", result.Backend);
            w.WriteStartArray("backend_notes");
            foreach (string note in result.BackendNotes)
                w.WriteStringValue(note);
            w.WriteEndArray();
            w.WriteStartObject("limits");
            foreach (var (name, value) in result.Limits.Applied())
                w.WriteNumber(name, value);
            w.WriteEndObject();
            if (layer is not null)
                w.WriteString("layer", layer);
            else
                w.WriteNull("layer");
            if (!result.SyscallCounts.IsDefaultOrEmpty)
            {
                w.WritePropertyName("syscall_counts");
                Tracing.SyscallCountTable.Write(w, result.SyscallCounts);
            }
            if (result.Network is { } network)
            {
                w.WriteStartObject("network");
                w.WriteString("mode", network.Mode);
                if (network.Helper is { } helper)
                    w.WriteString("helper", helper);
                w.WriteNumber("allowed", network.Allowed);
                w.WriteNumber("refused", network.Refused);
                w.WriteNumber("bytes_sent", network.BytesSent);
                w.WriteNumber("bytes_received", network.BytesReceived);
                w.WriteStartArray("events");
                foreach (var e in network.Events)
                {
                    w.WriteStartObject();
                    Network.NetworkLog.Write(w, e);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static double Seconds(TimeSpan t) => Math.Round(t.TotalSeconds, 6);

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } v)
            w.WriteNumber(name, v);
        else
            w.WriteNull(name);
    }

    /// <summary>
    /// isolate's meta file (key:value lines): time, time-wall, max-rss and cg-mem (KiB), exitcode or
    /// exitsig, killed, cg-oom-killed, status (RE, SG, TO, XX; absent when OK) and message.
    /// </summary>
    public static string ToIsolateMeta(SandboxResult result)
    {
        var sb = new StringBuilder();
        void Line(string key, string value) => sb.Append(key).Append(':').Append(value).Append('\n');
        var u = result.Usage;
        Line("time", u.CpuTime.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture));
        Line("time-wall", u.WallTime.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture));
        Line("max-rss", (u.PeakMemoryBytes / 1024).ToString(CultureInfo.InvariantCulture));
        if (result.Backend.StartsWith("cgroup", StringComparison.Ordinal))
            Line("cg-mem", (u.PeakMemoryBytes / 1024).ToString(CultureInfo.InvariantCulture));
        if (result.Exit?.Signal is { } sig)
            Line("exitsig", sig.ToString(CultureInfo.InvariantCulture));
        else if (result.Exit?.ExitCode is { } code)
            Line("exitcode", code.ToString(CultureInfo.InvariantCulture));
        if (result.KilledBySupervisor)
            Line("killed", "1");
        if (u.OomKilled)
            Line("cg-oom-killed", "1");
        if (result.IsolateStatus is { } status)
        {
            Line("status", status);
            Line("message", IsolateMessage(result));
        }
        return sb.ToString();
    }

    /// <summary>isolate's wording where it has one, Husk's otherwise.</summary>
    private static string IsolateMessage(SandboxResult result) => result.Verdict switch
    {
        Verdict.TimeLimit => "Time limit exceeded",
        Verdict.WallTimeLimit => "Time limit exceeded (wall clock)",
        Verdict.RuntimeError when result.Exit?.ExitCode is { } code => $"Exited with error status {code}",
        _ when result.Exit?.Signal is { } sig => $"Caught fatal signal {sig} ({result.Message})",
        _ => result.Message,
    };
}
