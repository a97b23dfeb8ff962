using System.Collections.Immutable;

namespace Husk.Launch;

/// <summary>
/// The caller's environment, captured in one place for every front door: as the runtime sees it now
/// (what a library user may have changed), or as the process started with it, in its order and with
/// its duplicates (what bubblewrap and mkosi-sandbox pass on).
/// </summary>
internal static class CallerEnvironment
{
    /// <summary>The environment as the runtime sees it, as NAME=VALUE entries.</summary>
    public static ImmutableArray<string> Current() =>
        [.. Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}")];

    /// <summary>The environment as the process started with it (/proc/self/environ), in its order; the runtime's view where that cannot be read.</summary>
    public static List<string> AsStarted()
    {
        // Plain open and read (not FileStream): this is on every bwrap and mkosi-sandbox cold start.
        if (Resources.ProcFile.ReadAllText("/proc/self/environ") is not { } text)
            return [.. Current()];
        var entries = new List<string>();
        foreach (string e in text.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            if (e.Contains('='))
                entries.Add(e);
        }
        return entries;
    }

    /// <summary>An entry split at its first '=' (NAME, VALUE).</summary>
    public static KeyValuePair<string, string> Split(string entry)
    {
        int eq = entry.IndexOf('=');
        return eq < 0 ? new(entry, "") : new(entry[..eq], entry[(eq + 1)..]);
    }
}
