using System.Net;

namespace Husk.Network;

/// <summary>
/// Destinations the allowlist refuses unless a rule names them: private networks (RFC 1918, unique
/// local IPv6), link-local (cloud metadata at 169.254.169.254), loopback (from the supervisor's
/// side, that is the host's), shared and reserved blocks, multicast, the fake pool itself, and the
/// host's own addresses and gateways. A rule opens such a block only when it lies within it (an
/// address or CIDR rule inside the block, or an exact name that resolves there): 0.0.0.0/0 does not
/// open the metadata service, and neither does a wildcard whose names an outsider controls.
/// </summary>
internal sealed class ProtectedAddresses
{
    /// <summary>The fixed blocks, each with the reason a refusal gives.</summary>
    public static readonly IReadOnlyList<(IpNetwork Block, string Why)> Fixed =
    [
        (Block("0.0.0.0/8"), "this network"),
        (Block("10.0.0.0/8"), "a private network (RFC 1918)"),
        (Block("100.64.0.0/10"), "shared address space (RFC 6598)"),
        (Block("127.0.0.0/8"), "the host's loopback"),
        (Block("169.254.0.0/16"), "link-local (cloud metadata)"),
        (Block("172.16.0.0/12"), "a private network (RFC 1918)"),
        (Block("192.0.0.0/24"), "IETF protocol assignments"),
        (Block("192.168.0.0/16"), "a private network (RFC 1918)"),
        (Block("198.18.0.0/15"), "the benchmarking block (Husk's fake pool)"),
        (Block("224.0.0.0/4"), "multicast"),
        (Block("240.0.0.0/4"), "reserved"),
        (Block("::/128"), "the unspecified address"),
        (Block("::1/128"), "the host's loopback"),
        (Block("fc00::/7"), "a unique local network"),
        (Block("fe80::/10"), "link-local"),
        (Block("ff00::/8"), "multicast"),
        (Block("64:ff9b::/96"), "NAT64"),
    ];

    private readonly IReadOnlyList<(IpNetwork Block, string Why)> _all;

    /// <param name="hostAddresses">The host's own interface addresses.</param>
    /// <param name="gateways">The host's default gateways.</param>
    public ProtectedAddresses(IEnumerable<IPAddress> hostAddresses, IEnumerable<IPAddress> gateways)
    {
        _all = [.. Fixed, .. hostAddresses.Select(a => (IpNetwork.Of(a), "the host's own address")), .. gateways.Select(g => (IpNetwork.Of(g), "the gateway"))];
    }

    /// <summary>Only the fixed blocks (tests, and hosts whose interfaces cannot be read).</summary>
    public static ProtectedAddresses FixedOnly { get; } = new([], []);

    /// <summary>Why <paramref name="address"/> is protected, or null when it is not.</summary>
    public string? Why(IPAddress address)
    {
        foreach (var (block, why) in _all)
        {
            if (block.Contains(address))
                return why;
        }
        return null;
    }

    /// <summary>Whether a rule for <paramref name="rule"/> lies within every protected block holding <paramref name="address"/>.</summary>
    public bool Opens(IpNetwork rule, IPAddress address)
    {
        foreach (var (block, _) in _all)
        {
            if (block.Contains(address) && !block.Contains(rule))
                return false;
        }
        return true;
    }

    private static IpNetwork Block(string text) =>
        IpNetwork.TryParse(text, out var n, out _) ? n : throw new ArgumentException(text);
}
