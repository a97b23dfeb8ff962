using System.Globalization;

namespace Husk.Policy;

/// <summary>This process's capability sets, as /proc/self/status shows them.</summary>
internal readonly record struct ProcessCapabilities(ulong Permitted, ulong Effective)
{
    /// <summary>Reads them now (nothing readable: none).</summary>
    public static ProcessCapabilities Current()
    {
        ulong prm = 0, eff = 0;
        foreach (string line in (Resources.ProcFile.ReadText("/proc/self/status") ?? "").Split('\n'))
        {
            if (line.StartsWith("CapPrm:", StringComparison.Ordinal))
                ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out prm);
            else if (line.StartsWith("CapEff:", StringComparison.Ordinal))
                ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out eff);
        }
        return new ProcessCapabilities(prm, eff);
    }
}
