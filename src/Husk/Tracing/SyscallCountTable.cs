using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Husk.Tracing;

/// <summary>Counts written out: strace -c's table (as strace 6 prints it), or JSON.</summary>
internal static class SyscallCountTable
{
    private const string Dashes = "------ ----------- ----------- --------- --------- ----------------";

    /// <summary>
    /// <c>% time     seconds  usecs/call     calls    errors syscall</c>, a row per call in the order
    /// given, and the total.
    /// </summary>
    /// <param name="counts">The rows, in the order shown.</param>
    /// <param name="totalPerCall">Show usecs/call on the total row (strace 6 does; strace 4.7, and so mbox, left it blank).</param>
    public static string Text(IReadOnlyList<SyscallCount> counts, bool totalPerCall = true)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("% time     seconds  usecs/call     calls    errors syscall\n").Append(Dashes).Append('\n');
        double total = counts.Sum(c => c.Time.TotalSeconds);
        long calls = counts.Sum(c => c.Calls), errors = counts.Sum(c => c.Errors);
        foreach (var c in counts)
        {
            double percent = total > 0 ? 100.0 * c.Time.TotalSeconds / total : 0;
            sb.Append(string.Format(inv, "{0,6:0.00} {1,11:0.000000} {2,11} {3,9} {4,9} {5}\n",
                percent, c.Time.TotalSeconds, c.MicrosecondsPerCall, c.Calls, c.Errors == 0 ? "" : c.Errors.ToString(inv), c.Name));
        }
        sb.Append(Dashes).Append('\n');
        long perCall = calls == 0 ? 0 : (long)(total * 1e6 / calls);
        sb.Append(string.Format(inv, "{0,6:0.00} {1,11:0.000000} {2,11} {3,9} {4,9} total\n",
            100.0, total, totalPerCall ? perCall.ToString(inv) : "", calls, errors == 0 ? "" : errors.ToString(inv)));
        return sb.ToString();
    }

    /// <summary>
    /// <c>{"syscalls": [{"syscall", "nr", "calls", "errors", "seconds", "usecs_per_call", "wall_seconds"}...],
    /// "total": {"calls", "errors", "seconds"}}</c>.
    /// </summary>
    public static string Json(IReadOnlyList<SyscallCount> counts)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
            Write(w, counts);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>The JSON object of <see cref="Json"/>, into a writer (the run's report embeds it).</summary>
    public static void Write(Utf8JsonWriter w, IReadOnlyList<SyscallCount> counts)
    {
        w.WriteStartObject();
        w.WriteStartArray("syscalls");
        foreach (var c in counts)
        {
            w.WriteStartObject();
            w.WriteString("syscall", c.Name);
            w.WriteNumber("nr", c.Number);
            w.WriteNumber("calls", c.Calls);
            w.WriteNumber("errors", c.Errors);
            w.WriteNumber("seconds", Math.Round(c.Time.TotalSeconds, 6));
            w.WriteNumber("usecs_per_call", c.MicrosecondsPerCall);
            w.WriteNumber("wall_seconds", Math.Round(c.WallTime.TotalSeconds, 6));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("total");
        w.WriteNumber("calls", counts.Sum(c => c.Calls));
        w.WriteNumber("errors", counts.Sum(c => c.Errors));
        w.WriteNumber("seconds", Math.Round(counts.Sum(c => c.Time.TotalSeconds), 6));
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
