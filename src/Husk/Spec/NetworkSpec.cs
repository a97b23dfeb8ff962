using System.Collections.Immutable;
using System.Net;

namespace Husk;

/// <summary>How the sandbox reaches the network.</summary>
public enum NetworkMode
{
    /// <summary>A network namespace of its own with only loopback (the default).</summary>
    None,
    /// <summary>The host's network namespace: no network isolation at all.</summary>
    Host,
    /// <summary>
    /// A network namespace of its own behind user-mode NAT (Debian's pasta, else slirp4netns),
    /// without root: the outside is reachable, the host's loopback and the host's own addresses
    /// are not (unless <see cref="NetworkSpec.AllowHostLoopback"/>), nothing inside is reachable
    /// from outside unless published.
    /// </summary>
    Nat,
    /// <summary>
    /// As root: a veth pair into the <c>husk0</c> bridge with an address of its subnet, NAT through
    /// nftables. Sandboxes on the bridge can reach each other.
    /// </summary>
    Bridge,
}

/// <summary>The transport of a flow, a rule or a published port.</summary>
public enum NetworkProtocol
{
    /// <summary>TCP.</summary>
    Tcp,
    /// <summary>UDP.</summary>
    Udp,
}

/// <summary>A port of the host forwarded into the sandbox (<c>--publish HOSTPORT:SANDBOXPORT[/udp]</c>).</summary>
public sealed record PortPublication(ushort HostPort, ushort SandboxPort, NetworkProtocol Protocol = NetworkProtocol.Tcp)
{
    /// <summary>Parses HOSTPORT:SANDBOXPORT[/udp|/tcp]; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static PortPublication Parse(string text)
    {
        string t = text;
        var protocol = NetworkProtocol.Tcp;
        int slash = t.IndexOf('/');
        if (slash >= 0)
        {
            protocol = t[(slash + 1)..] switch
            {
                "tcp" => NetworkProtocol.Tcp,
                "udp" => NetworkProtocol.Udp,
                var p => throw new FormatException($"unknown protocol {p}: use /tcp or /udp"),
            };
            t = t[..slash];
        }
        int colon = t.IndexOf(':');
        if (colon <= 0 || !Port(t[..colon], out ushort host) || !Port(t[(colon + 1)..], out ushort inside))
            throw new FormatException($"expected HOSTPORT:SANDBOXPORT[/udp] with ports 1 to 65535: {text}");
        return new PortPublication(host, inside, protocol);
    }

    private static bool Port(string s, out ushort port) =>
        ushort.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) && port > 0;

    /// <summary>HOSTPORT:SANDBOXPORT/PROTOCOL.</summary>
    public override string ToString() => $"{HostPort}:{SandboxPort}/{Protocol.ToString().ToLowerInvariant()}";
}

/// <summary>
/// The sandbox's network as intent: the mode, the egress allowlist, published ports, the resolver
/// the sandbox is told about, and the log. The planner derives what the native stage does in the
/// sandbox's network namespace (loopback, nftables rules, routes, the supervisor's sockets) and
/// what the supervisor does around it (pasta or slirp4netns, the bridge, the DNS responder, the
/// TCP splice).
/// </summary>
public sealed record NetworkSpec
{
    /// <summary>The mode (default: loopback only).</summary>
    public NetworkMode Mode { get; init; }

    /// <summary>
    /// The egress goes through Husk's allowlist: the sandbox's namespace has no route out but into
    /// the supervisor's sockets; its DNS answers only allowed names (with private fake addresses),
    /// and TCP is checked against <see cref="Rules"/> and spliced from the host's network. Set by
    /// any rule; alone, everything is refused (and logged).
    /// </summary>
    public bool Filter { get; init; }

    /// <summary>The allowlist's rules (the most specific match decides).</summary>
    public ImmutableArray<EgressRule> Rules { get; init; } = [];

    /// <summary>What happens to what no rule matches: refused for an allowlist; mbox's profiles log it.</summary>
    public EgressAction DefaultAction { get; init; } = EgressAction.Refuse;

    /// <summary>Host ports forwarded into the sandbox (<see cref="NetworkMode.Nat"/>, <see cref="NetworkMode.Bridge"/>).</summary>
    public ImmutableArray<PortPublication> Publish { get; init; } = [];

    /// <summary>Nameservers written to the sandbox's own /etc/resolv.conf (<c>--dns</c>).</summary>
    public ImmutableArray<IPAddress> Dns { get; init; } = [];

    /// <summary>The resolver the supervisor asks for allowed names (<c>--dns-upstream</c>); null: the host's.</summary>
    public IPEndPoint? DnsUpstream { get; init; }

    /// <summary>With <see cref="NetworkMode.Nat"/>: the host's loopback is reachable through the gateway's address.</summary>
    public bool AllowHostLoopback { get; init; }

    /// <summary>Write every connection and DNS question, allowed or refused, to this file as JSON lines (<c>--net-log</c>).</summary>
    public string? LogFile { get; init; }

    /// <summary>The bridge's subnet (<see cref="NetworkMode.Bridge"/>); the bridge has its first address.</summary>
    public IPNetwork BridgeSubnet { get; init; } = new(new IPAddress([10, 77, 0, 0]), 16); // 10.77.0.0/16, not parsed: every spec makes one on a cold start

    /// <summary>
    /// With <see cref="Filter"/>: at most this many connections leave, wherever they go, and names
    /// are answered only while some are left (libmini-tapbox's mini_sandbox_allow_max_connections);
    /// null: no budget.
    /// </summary>
    internal int? MaxConnections { get; init; }

    /// <summary>Loopback only (the default).</summary>
    public static NetworkSpec None { get; } = new();

    /// <summary>The sandbox's traffic goes through the supervisor, which logs it: the allowlist, or user-mode NAT's DNS.</summary>
    internal bool Supervised => Filter || Mode is NetworkMode.Nat or NetworkMode.Bridge;

    /// <summary>The allowlist may let UDP other than DNS through (a rule for UDP that does not refuse, or a default that lets through): the supervisor relays it.</summary>
    internal bool RelaysUdp => Filter && (DefaultAction is EgressAction.Allow or EgressAction.Log
        || Rules.Any(r => r.Action != EgressAction.Refuse && r.MatchesProtocol(NetworkProtocol.Udp)));

    /// <summary>Every problem with the network, each a sentence a user can act on.</summary>
    internal IEnumerable<string> Validate(bool ownNamespace)
    {
        if (Mode == NetworkMode.Host && (Filter || Rules.Length > 0))
            yield return "the egress allowlist needs a network namespace of the sandbox's own: drop --net host (or --share-net)";
        else if (!ownNamespace && (Filter || Mode is NetworkMode.Nat or NetworkMode.Bridge))
            yield return $"--net {(Filter ? "with --allow-host" : Mode.ToString().ToLowerInvariant())} needs a network namespace of the sandbox's own: drop --share-net";
        if (Filter && Mode == NetworkMode.Bridge)
            yield return "the egress allowlist has its own way out: use it with --net none or nat, not bridge";
        if (Publish.Length > 0 && (Filter || Mode is not (NetworkMode.Nat or NetworkMode.Bridge)))
            yield return Filter
                ? "--publish does not combine with the egress allowlist yet: publish with --net nat alone"
                : "--publish needs --net nat or --net bridge";
        if (AllowHostLoopback && (Filter || Mode != NetworkMode.Nat))
            yield return "--allow-host-loopback is for --net nat (with the allowlist, allow the host's loopback by address instead, e.g. --allow-host 127.0.0.1:8080)";
        if (Mode == NetworkMode.Bridge && BridgeSubnet.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            yield return $"the bridge's subnet must be IPv4: {BridgeSubnet}";
        else if (Mode == NetworkMode.Bridge && BridgeSubnet.PrefixLength is < 8 or > 28)
            yield return $"the bridge's subnet must be a /8 to a /28: {BridgeSubnet}";
        if (Publish.Length < 2)
            yield break;
        foreach (var group in Publish.GroupBy(p => (p.HostPort, p.Protocol)).Where(g => g.Count() > 1))
            yield return $"host port {group.Key.HostPort}/{group.Key.Protocol.ToString().ToLowerInvariant()} is published twice";
    }
}
