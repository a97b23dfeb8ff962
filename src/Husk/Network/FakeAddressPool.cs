using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>
/// The private addresses the supervisor's DNS gives out, one per name and family: 198.18.0.0/15
/// (RFC 2544's benchmarking block, routed nowhere) and fd68:7573:6b00::/64 (a unique local block).
/// The sandbox sees only these for names; a connection to one tells the supervisor which name it
/// is for, so policy is on names and never on addresses shared by other sites behind one CDN.
/// Thread-safe.
/// </summary>
internal sealed class FakeAddressPool
{
    public static readonly IpNetwork V4 = Parse("198.18.0.0/15");
    public static readonly IpNetwork V6 = Parse("fd68:7573:6b00::/64");

    private readonly object _gate = new();
    private readonly Dictionary<(string Name, AddressFamily Family), IPAddress> _byName = [];
    private readonly Dictionary<IPAddress, string> _byAddress = [];
    private UInt128 _next4 = 1, _next6 = 1;

    /// <summary>The name's address in <paramref name="family"/>, given out now if it has none.</summary>
    public IPAddress AddressOf(string name, AddressFamily family)
    {
        lock (_gate)
        {
            if (_byName.TryGetValue((name, family), out var existing))
                return existing;
            bool v4 = family == AddressFamily.InterNetwork;
            var block = v4 ? V4 : V6;
            ref UInt128 next = ref v4 ? ref _next4 : ref _next6;
            // The first address and, for IPv4, the last stay unused (network and broadcast look-alikes).
            if (next >= block.Size - (v4 ? 1u : 0u))
                throw new InvalidOperationException($"the fake address pool {block} is exhausted");
            var address = block.At(next++);
            _byName[(name, family)] = address;
            _byAddress[address] = name;
            return address;
        }
    }

    /// <summary>The name behind a fake address, or null for any other address.</summary>
    public string? NameOf(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        lock (_gate)
            return _byAddress.GetValueOrDefault(address);
    }

    /// <summary>Whether <paramref name="address"/> lies in either pool block (given out or not).</summary>
    public static bool InPool(IPAddress address) => V4.Contains(address) || V6.Contains(address);

    private static IpNetwork Parse(string text) => IpNetwork.TryParse(text, out var n, out _) ? n : throw new ArgumentException(text);
}
