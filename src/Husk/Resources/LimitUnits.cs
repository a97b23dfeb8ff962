using System.Globalization;

namespace Husk.Resources;

/// <summary>Reads limit values with units: sizes (512M, 1.5G, 4096) and durations (1.5s, 250ms, 2m).</summary>
internal static class LimitUnits
{
    /// <summary>Bytes, with an optional K, M, G or T suffix (powers of 1024; a trailing B or iB is allowed) and decimals.</summary>
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        string v = text.Trim();
        foreach (string suffix in new[] { "iB", "ib", "B", "b" })
        {
            if (v.Length > suffix.Length && v.EndsWith(suffix, StringComparison.Ordinal) && (suffix.Length == 2 || char.IsDigit(v[^2]) || char.IsLetter(v[^2])))
            {
                v = v[..^suffix.Length];
                break;
            }
        }
        double mult = 1;
        if (v.Length > 0 && char.IsLetter(v[^1]))
        {
            mult = char.ToUpperInvariant(v[^1]) switch
            {
                'K' => 1L << 10,
                'M' => 1L << 20,
                'G' => 1L << 30,
                'T' => 1L << 40,
                _ => 0,
            };
            v = v[..^1];
        }
        if (mult == 0 || !double.TryParse(v, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n) || n <= 0)
            return false;
        double total = Math.Round(n * mult);
        if (total < 1 || total >= long.MaxValue)
            return false;
        bytes = (long)total;
        return true;
    }

    /// <summary>A duration: a number with ms, s, m or h (seconds without a unit).</summary>
    public static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        string v = text.Trim();
        double mult = 1;
        foreach (var (suffix, m) in new[] { ("ms", 0.001), ("us", 0.000001), ("s", 1.0), ("m", 60.0), ("h", 3600.0) })
        {
            if (v.EndsWith(suffix, StringComparison.Ordinal))
            {
                mult = m;
                v = v[..^suffix.Length];
                break;
            }
        }
        if (!double.TryParse(v, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n) || n <= 0)
            return false;
        double seconds = n * mult;
        if (seconds < 0.000001 || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
            return false;
        duration = TimeSpan.FromSeconds(seconds);
        return true;
    }

    /// <summary>"512 MiB", "1.5 GiB", "800 B": for messages.</summary>
    public static string FormatSize(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.##} {units[u]}");
    }

    /// <summary>"1.5 s", "250 ms": for messages.</summary>
    public static string FormatDuration(TimeSpan t) =>
        t.TotalSeconds >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s")
            : string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:0.#} ms");
}
