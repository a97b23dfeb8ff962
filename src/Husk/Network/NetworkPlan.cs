using System.Net;
using Husk.Launch;

namespace Husk.Network;

/// <summary>What a socket the native stage makes in the sandbox's network namespace is for.</summary>
internal enum SocketRole
{
    /// <summary>The supervisor's resolver, UDP (127.0.0.1:53, [::1]:53).</summary>
    DnsUdp,
    /// <summary>The supervisor's resolver, TCP.</summary>
    DnsTcp,
    /// <summary>The allowlist's capture listener: every TCP connection is redirected to it.</summary>
    Capture,
    /// <summary>The allowlist's UDP relay: UDP a rule may let through is redirected to it.</summary>
    UdpCapture,
    /// <summary>A netlink socket on the namespace's conntrack, where the relay reads where a redirected datagram was going.</summary>
    Conntrack,
}

/// <summary>The user-mode NAT helper the supervisor runs on the sandbox's namespace.</summary>
internal enum NatHelperKind
{
    Pasta,
    Slirp4netns,
}

/// <summary>A user-mode NAT helper and where it is installed.</summary>
internal sealed record NatHelper(NatHelperKind Kind, string Path)
{
    public string Name => Kind == NatHelperKind.Pasta ? "pasta" : "slirp4netns";
}

/// <summary>
/// The network half of a plan: the ops the native stage runs in the sandbox's network namespace
/// (with the capabilities it holds there, before the payload exists), and what the supervisor
/// does around the clone (start pasta or slirp4netns on the namespace, or move the bridge's veth
/// into it, before the child goes on; serve the sockets the ops send back).
/// </summary>
internal sealed record NetworkPlan
{
    public required NetworkSpec Spec { get; init; }
    /// <summary>none, host, nat, bridge or allowlist.</summary>
    public required string ModeName { get; init; }
    /// <summary>The user-mode NAT helper to start before the child goes on (nat).</summary>
    public NatHelper? Nat { get; init; }
    /// <summary>The bridge's lease: the veth to move into the namespace and the address it gets (bridge).</summary>
    public BridgeLease? Bridge { get; init; }
    /// <summary>The ops run in the namespace after loopback is up.</summary>
    public IReadOnlyList<PlannedOp> NamespaceOps { get; init; } = [];
    /// <summary>The host's addresses and gateways the allowlist refuses unless a rule names them.</summary>
    public IReadOnlyList<IPAddress> HostAddresses { get; init; } = [];
    public IReadOnlyList<IPAddress> Gateways { get; init; } = [];

    /// <summary>The supervisor serves sockets, runs a helper or owns a lease: there is a network session.</summary>
    public bool NeedsSession => Spec.Supervised;
}
