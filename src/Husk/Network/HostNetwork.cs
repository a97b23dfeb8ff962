using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;

namespace Husk.Network;

/// <summary>The host's own addresses and default gateways, which the sandbox must not reach unless told.</summary>
internal static class HostNetwork
{
    /// <summary>Every address of every interface of the host (loopback's included).</summary>
    public static IReadOnlyList<IPAddress> Addresses()
    {
        try
        {
            return [.. NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(u => u.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && u.Address.ScopeId != 0 ? new IPAddress(u.Address.GetAddressBytes()) : u.Address)
                .Distinct()];
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    /// <summary>The gateways of the host's default routes, IPv4 (/proc/net/route) and IPv6 (/proc/net/ipv6_route).</summary>
    public static IReadOnlyList<IPAddress> Gateways()
    {
        var list = new List<IPAddress>();
        foreach (string line in ReadLines("/proc/net/route").Skip(1))
        {
            string[] f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 2 && f[1] == "00000000" && uint.TryParse(f[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint gw) && gw != 0)
                list.Add(new IPAddress(BitConverter.GetBytes(gw))); // little-endian in the file, as the kernel keeps it
        }
        foreach (string line in ReadLines("/proc/net/ipv6_route"))
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 4 && f[0] == new string('0', 32) && f[1] == "00" && f[4] != new string('0', 32) && f[4].Length == 32)
                list.Add(new IPAddress(Convert.FromHexString(f[4])));
        }
        return list;
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
