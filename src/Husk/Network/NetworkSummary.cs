using System.Globalization;
using System.Text;

namespace Husk.Network;

/// <summary>
/// The "Network Summary" of a run, in the spirit of mbox's: what the sandbox tried to reach, one
/// line each (connections and flows, and the names it was refused), with the verdict and bytes.
/// </summary>
internal static class NetworkSummary
{
    /// <summary>The summary's lines (without the heading), for <paramref name="activity"/> or a mode the supervisor did not see.</summary>
    public static IReadOnlyList<string> Lines(NetworkActivity? activity, string mode)
    {
        if (activity is null)
        {
            return [mode switch
            {
                "host" => " > shared with the host: not seen by husk",
                _ => " > none: a network namespace of its own (loopback only)",
            }];
        }
        var lines = new List<string>();
        foreach (var e in activity.Events)
        {
            if (e.Protocol == "dns" && e.Allowed && (activity.Mode == "allowlist" || e.Address is null))
                continue; // names that went ahead show with their connections (nat and bridge: with their addresses)
            var sb = new StringBuilder(" > [").Append(e.Verdict).Append("] ");
            if (e.Protocol == "dns")
            {
                sb.Append(e.Name).Append(" (DNS)");
                if (e.Allowed)
                    sb.Append(" -> ").Append(e.Address);
            }
            else
            {
                string where = e.Address is null ? "?" : e.Address.Contains(':') ? $"[{e.Address}]" : e.Address;
                sb.Append(e.Name is null ? where : $"{e.Name} ({where})").Append(':').Append(e.Port?.ToString(CultureInfo.InvariantCulture) ?? "?").Append(' ').Append(e.Protocol);
                if (e.Allowed)
                    sb.Append(CultureInfo.InvariantCulture, $", {e.BytesSent} bytes sent, {e.BytesReceived} received");
            }
            if (!e.Allowed && e.Reason is { } reason)
                sb.Append(": ").Append(reason);
            lines.Add(sb.ToString());
        }
        if (lines.Count == 0)
            lines.Add(activity.Mode == "allowlist" ? " > nothing: the sandbox reached for no host" : $" > {activity.Mode}: no name was looked up through husk");
        return lines;
    }
}
