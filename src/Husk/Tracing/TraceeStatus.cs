using System.Globalization;

namespace Husk.Tracing;

/// <summary>
/// What the tracer reads about a traced thread from /proc/TID/status: how many seccomp filters it
/// has (a payload has more than the stage that made it: the trace's own, at least) and its ids in
/// the pid namespaces it is in, outermost first.
/// </summary>
internal static class TraceeStatus
{
    /// <summary>Seccomp_filters (Linux 5.9+), or null.</summary>
    public static int? SeccompFilters(int tid) => Field(tid, "Seccomp_filters:") is { } v && int.TryParse(v, CultureInfo.InvariantCulture, out int n) ? n : null;

    /// <summary>NSpid: the thread's id in each pid namespace from the reader's down, or null.</summary>
    public static int[]? NamespacePids(int tid) =>
        Field(tid, "NSpid:") is { } v ? [.. v.Split('\t', ' ', StringSplitOptions.RemoveEmptyEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture))] : null;

    private static string? Field(int tid, string name)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{tid.ToString(CultureInfo.InvariantCulture)}/status");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return Parse(text, name);
    }

    /// <summary>The value of the line starting with <paramref name="name"/> in a status file's text.</summary>
    internal static string? Parse(string text, string name)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
                return line[name.Length..].Trim();
        }
        return null;
    }
}
