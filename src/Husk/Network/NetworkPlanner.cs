using System.Net;
using System.Net.Sockets;
using System.Text;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Network;

/// <summary>
/// Derives the network half of a plan from the spec's <see cref="NetworkSpec"/>. Pure: host facts
/// (where nft, ip, pasta live; the host's addresses) come from <see cref="HostContext"/>.
/// </summary>
internal static class NetworkPlanner
{
    /// <summary>The allowlist's capture listener (a privileged port: nothing in the sandbox can take it first).</summary>
    public const int CapturePort = 1;
    public const int DnsPort = 53;
    private const ulong CapNetAdmin = 1UL << 12;
    private const ulong AfNetlink = 16, SockRaw = 3, NetlinkNetfilter = 12;

    /// <summary>
    /// The mode's name in reports. Spelt out: Enum.ToString reads reflection metadata the first time,
    /// a measurable part of a cold start.
    /// </summary>
    internal static string ModeText(NetworkMode mode) => mode switch
    {
        NetworkMode.None => "none",
        NetworkMode.Host => "host",
        NetworkMode.Nat => "nat",
        NetworkMode.Bridge => "bridge",
        _ => mode.ToString().ToLowerInvariant(),
    };

    /// <summary>The network plan of <paramref name="spec"/>; throws <see cref="SandboxSetupException"/> when a helper it needs is missing.</summary>
    public static NetworkPlan Plan(SandboxSpec spec, HostContext host, BridgeLease? lease = null)
    {
        var net = spec.Network;
        bool own = spec.Namespaces.HasFlag(NamespaceKinds.Net);
        string mode = !own ? "host" : net.Filter ? "allowlist" : ModeText(net.Mode);
        if (!own || !net.Supervised)
        {
            return new NetworkPlan
            {
                Spec = net,
                ModeName = mode,
            };
        }
        var ops = new List<PlannedOp>();
        NatHelper? nat = null;
        if (net.Filter)
        {
            string ip = Require(host, "ip", "iproute2", "the allowlist");
            string nft = Require(host, "nft", "nftables", "the allowlist");
            // Every address is local: nothing is routed out, so what nftables does not hand to the supervisor goes nowhere.
            ops.Add(Run(ip, ["ip", "-batch", "-"], "route add local 0.0.0.0/0 dev lo\n", "route every IPv4 address to the sandbox's loopback"));
            ops.Add(Run(ip, ["ip", "-batch", "-"], "route add local ::/0 dev lo\n", "route every IPv6 address to the sandbox's loopback", optional: true));
            ops.Add(Run(nft, ["nft", "-f", "-"], NftRuleset.Allowlist(CapturePort, DnsPort, net.Rules, net.DefaultAction), "load the allowlist's nftables rules"));
        }
        else if (net.Mode == NetworkMode.Nat)
        {
            nat = host.FindProgram("pasta") is { } pasta ? new NatHelper(NatHelperKind.Pasta, pasta)
                : host.FindProgram("slirp4netns") is { } slirp ? new NatHelper(NatHelperKind.Slirp4netns, slirp)
                : throw Missing("--net nat needs pasta (Debian package passt) or slirp4netns: install one of them (apt install passt)");
            if (nat.Kind == NatHelperKind.Slirp4netns && net.Publish.Length > 0)
                throw Missing("--publish needs pasta (Debian package passt): slirp4netns forwards ports only through an API socket husk does not drive (apt install passt)");
            string ip = Require(host, "ip", "iproute2", "--net nat");
            // The helper connects from the host's network: the host's own addresses would reach its services.
            var hostOwn = host.HostAddresses.Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal).ToList();
            if (hostOwn.Count > 0)
                ops.Add(Run(ip, ["ip", "-force", "-batch", "-"], Prohibit(hostOwn), "make the host's own addresses unreachable", optional: true));
            // Keeps from pasta what it gets wrong; without nft (or netfilter) IPv6 and slow handshakes may hang (docs/internals.md).
            if (nat.Kind == NatHelperKind.Pasta && host.FindProgram("nft") is { } nft)
                ops.Add(Run(nft, ["nft", "-f", "-"], NftRuleset.PastaGuards(), "keep from pasta the packets it mishandles", optional: true));
        }
        else if (net.Mode == NetworkMode.Bridge)
        {
            if (lease is null)
                throw new InvalidOperationException("a bridge plan needs its lease");
            string ip = Require(host, "ip", "iproute2", "--net bridge");
            ops.Add(Run(ip, ["ip", "-batch", "-"], lease.InsideCommands(), $"configure eth0 with {lease.Address}/{lease.PrefixLength}"));
        }
        // The supervisor's resolver, the sandbox's only one (DNS through 127.0.0.1, as resolv.conf says).
        AddSockets(ops, SocketRole.DnsUdp, SocketType.Dgram, DnsPort);
        AddSockets(ops, SocketRole.DnsTcp, SocketType.Stream, DnsPort);
        if (net.Filter)
            AddSockets(ops, SocketRole.Capture, SocketType.Stream, CapturePort);
        if (net.RelaysUdp)
        {
            // Without conntrack's netlink (a kernel built without it) the relay cannot tell destinations: UDP stays refused.
            // Before the relay's sockets: the supervisor takes the sockets in this order, so the relay, which starts
            // with its socket, never sees a datagram before it knows whether it has conntrack.
            ops.Add(new PlannedOp(OpKind.NetSocket, "open the supervisor's conntrack socket (netlink)")
            {
                A = AfNetlink,
                B = SockRaw,
                C = NetlinkNetfilter,
                Index = (int)SocketRole.Conntrack,
                Flags = OpFlags.Try,
            });
            AddSockets(ops, SocketRole.UdpCapture, SocketType.Dgram, CapturePort);
        }
        return new NetworkPlan
        {
            Spec = net,
            ModeName = mode,
            Nat = nat,
            Bridge = lease,
            NamespaceOps = ops,
            HostAddresses = host.HostAddresses,
            Gateways = host.Gateways,
        };
    }

    /// <summary>resolv.conf naming <paramref name="servers"/>.</summary>
    internal static string ResolvConf(IEnumerable<IPAddress> servers)
    {
        var sb = new StringBuilder("# written by husk: the sandbox's own resolver\n");
        foreach (var s in servers)
            sb.Append("nameserver ").Append(s).Append('\n');
        return sb.ToString();
    }

    /// <summary>The mount op that puts the sandbox's resolv.conf in place, or null.</summary>
    internal static MountOp? ResolvConfMount(SandboxSpec spec)
    {
        var net = spec.Network;
        bool own = spec.Namespaces.HasFlag(NamespaceKinds.Net);
        string? text = !own ? (net.Dns.Length > 0 ? ResolvConf(net.Dns) : null)
            : net.Supervised ? ResolvConf(net.Dns.Length > 0 && !net.Filter ? net.Dns : [IPAddress.Loopback])
            : net.Dns.Length > 0 ? ResolvConf(net.Dns) : null;
        return text is null ? null : new WriteFile("/etc/resolv.conf") { Data = [.. Encoding.UTF8.GetBytes(text)], Mode = FileModes.File, Placement = FilePlacement.ReadOnlyBind };
    }

    private static string Prohibit(IEnumerable<IPAddress> addresses)
    {
        var sb = new StringBuilder();
        foreach (var a in addresses)
            sb.Append("route add prohibit ").Append(a).Append(a.AddressFamily == AddressFamily.InterNetwork ? "/32" : "/128").Append('\n');
        return sb.ToString();
    }

    private static void AddSockets(List<PlannedOp> ops, SocketRole role, SocketType type, int port)
    {
        foreach (var address in new[] { IPAddress.Loopback, IPAddress.IPv6Loopback })
        {
            bool v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
            ops.Add(new PlannedOp(OpKind.NetSocket, $"open the supervisor's {Describe(role)} at {(v6 ? $"[{address}]" : address)}:{port}")
            {
                A = v6 ? 10UL : 2UL,
                B = type == SocketType.Stream ? 1UL : 2UL,
                C = (ulong)port,
                Data = address.GetAddressBytes(),
                Index = (int)role,
                // A kernel without IPv6 gives the sandbox none either.
                Flags = v6 ? OpFlags.Try : OpFlags.None,
            });
        }
    }

    private static string Describe(SocketRole role) => role switch
    {
        SocketRole.DnsUdp => "resolver (UDP)",
        SocketRole.DnsTcp => "resolver (TCP)",
        SocketRole.UdpCapture => "UDP relay",
        _ => "TCP capture listener",
    };

    private static PlannedOp Run(string program, string[] argv, string input, string description, bool optional = false) =>
        new(OpKind.Run, description)
        {
            S1 = program,
            Strings = argv,
            S2 = input,
            A = CapNetAdmin,
            Flags = optional ? OpFlags.Try : OpFlags.None,
        };

    private static string Require(HostContext host, string program, string package, string what) =>
        host.FindProgram(program) ?? throw Missing($"{what} needs {program} (Debian package {package}): install it (apt install {package})");

    private static SandboxSetupException Missing(string message) =>
        new(message, Errno.ENOENT) { Stage = SandboxSetupStage.Start, RoleOverride = SetupRole.NetworkHelper };
}
