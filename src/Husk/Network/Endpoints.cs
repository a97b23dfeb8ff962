using System.Globalization;
using System.Net;

namespace Husk.Network;

/// <summary>Host endpoints written as ADDR, ADDR:PORT, [V6] or [V6]:PORT.</summary>
internal static class Endpoints
{
    /// <summary>Parses an endpoint; a missing port is <paramref name="defaultPort"/>.</summary>
    public static bool TryParse(string text, int defaultPort, out IPEndPoint endpoint, out string? error)
    {
        endpoint = new IPEndPoint(IPAddress.None, 0);
        string host = text;
        string? port = null;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0 || (close + 1 < text.Length && text[close + 1] != ':'))
            {
                error = "expected ADDR, ADDR:PORT or [IPV6]:PORT";
                return false;
            }
            host = text[1..close];
            port = close + 1 < text.Length ? text[(close + 2)..] : null;
        }
        else if (text.Count(c => c == ':') == 1)
        {
            int colon = text.IndexOf(':');
            host = text[..colon];
            port = text[(colon + 1)..];
        }
        if (!IpNetwork.TryParseAddress(host, out var ip))
        {
            error = $"not an IP address: {host}";
            return false;
        }
        int p = defaultPort;
        if (port is not null && (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out p) || p is < 1 or > 65535))
        {
            error = $"not a port (1 to 65535): {port}";
            return false;
        }
        endpoint = new IPEndPoint(ip, p);
        error = null;
        return true;
    }
}
