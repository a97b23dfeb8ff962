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
        try
        {
            return [.. File.ReadAllText("/proc/self/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries).Where(e => e.Contains('='))];
        }
        catch (IOException)
        {
            return [.. Current()];
        }
    }

    /// <summary>An entry split at its first '=' (NAME, VALUE).</summary>
    public static KeyValuePair<string, string> Split(string entry)
    {
        int eq = entry.IndexOf('=');
        return eq < 0 ? new(entry, "") : new(entry[..eq], entry[(eq + 1)..]);
    }
}
