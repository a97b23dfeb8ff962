using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>
/// Where a captured flow (a TCP connection, a UDP flow) may go: the name behind its fake
/// address, if any, the real addresses the policy lets it reach, in the resolver's order, and the
/// decision. <see cref="Allowed"/> is empty when it is refused; <see cref="Destination"/> is what
/// the log names then.
/// </summary>
internal sealed record EgressRoute
{
    /// <summary>The name the sandbox asked for (a fake address), or null for a literal address.</summary>
    public string? Name { get; init; }
    /// <summary>The real addresses it may reach, best first; empty: refused.</summary>
    public IReadOnlyList<IPAddress> Allowed { get; init; } = [];
    /// <summary>The destination for the log (the first real address, or where it was going).</summary>
    public required IPEndPoint Destination { get; init; }
    /// <summary>Allow, Log, Refuse or Kill.</summary>
    public required EgressAction Action { get; init; }
    /// <summary>Why: the rule that decided, or what was missing.</summary>
    public required string Reason { get; init; }

    /// <summary>
    /// Decides a flow the sandbox began towards <paramref name="destination"/> (its original
    /// destination, a fake address or a literal one).
    /// </summary>
    public static async Task<EgressRoute> DecideAsync(EgressPolicy policy, FakeAddressPool pool, DnsResponder dns, IPEndPoint destination, NetworkProtocol protocol, CancellationToken ct)
    {
        string? name = pool.NameOf(destination.Address);
        if (name is null && FakeAddressPool.InPool(destination.Address))
            return Refused(null, destination, "an address the sandbox's DNS never gave out");
        IReadOnlyList<IPAddress> candidates = name is null ? [destination.Address] : await RealAddressesAsync(dns, name, destination.AddressFamily, ct).ConfigureAwait(false);
        if (candidates.Count == 0)
            return Refused(name, destination, "the name no longer resolves");
        EgressDecision? decision = null;
        var allowed = new List<IPAddress>();
        foreach (var address in candidates)
        {
            var d = policy.Decide(name, address, destination.Port, protocol);
            if (d.Allowed)
                allowed.Add(address);
            if (decision is null || (d.Allowed && !decision.Allowed))
                decision = d;
        }
        return new EgressRoute
        {
            Name = name,
            Allowed = allowed,
            Destination = new IPEndPoint(allowed.Count > 0 ? allowed[0] : candidates[0], destination.Port),
            Action = decision!.Action,
            Reason = decision.Reason,
        };
    }

    private static EgressRoute Refused(string? name, IPEndPoint destination, string reason) =>
        new() { Name = name, Destination = destination, Action = EgressAction.Refuse, Reason = reason };

    /// <summary>The real addresses of a name in <paramref name="family"/>, else in the other one (a host with only IPv4 is still reached over an AAAA).</summary>
    private static async Task<IReadOnlyList<IPAddress>> RealAddressesAsync(DnsResponder dns, string name, AddressFamily family, CancellationToken ct)
    {
        var other = family == AddressFamily.InterNetwork ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        var list = dns.RealAddresses(name, family);
        if (list.Count == 0)
            list = await dns.ResolveAsync(name, family, ct).ConfigureAwait(false);
        if (list.Count == 0)
            list = dns.RealAddresses(name, other) is { Count: > 0 } o ? o : await dns.ResolveAsync(name, other, ct).ConfigureAwait(false);
        return list;
    }
}
