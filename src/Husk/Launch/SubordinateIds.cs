using System.Globalization;

namespace Husk.Launch;

/// <summary>Subordinate id ranges from /etc/subuid and /etc/subgid.</summary>
internal sealed record SubordinateIds((uint Start, uint Count)? UserRange, (uint Start, uint Count)? UserGidRange,
    (uint Start, uint Count)? RootRange, (uint Start, uint Count)? RootGidRange)
{
    public static SubordinateIds Read(string userName, uint uid) =>
        new(Find("/etc/subuid", userName, uid), Find("/etc/subgid", userName, uid),
            Find("/etc/subuid", "root", 0), Find("/etc/subgid", "root", 0));

    internal static (uint Start, uint Count)? Find(string file, string userName, uint uid)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        return Parse(lines, userName, uid);
    }

    internal static (uint Start, uint Count)? Parse(IEnumerable<string> lines, string userName, uint uid)
    {
        string uidText = uid.ToString(CultureInfo.InvariantCulture);
        foreach (string raw in lines)
        {
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            string[] parts = line.Split(':');
            if (parts.Length != 3 || (parts[0] != userName && parts[0] != uidText))
                continue;
            if (uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out uint start) &&
                uint.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint count) && count > 0)
                return (start, Math.Min(count, SpawnPlanner.RangeSize));
        }
        return null;
    }
}
