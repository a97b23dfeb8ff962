using Husk.Launch;
using Husk.Network;
using static Husk.Interop.Interop;

namespace Husk.Tests.Network;

/// <summary>What the planner derives from the network of a spec: the ops in the namespace, the resolver file, the refusals.</summary>
public class NetworkPlannerTests
{
    private static readonly FakeHost Host = new();

    private static SandboxSpec Spec(Func<SandboxSpecBuilder, SandboxSpecBuilder> network) =>
        network(new SandboxSpecBuilder("/bin/true").ClearEnv().HostReadOnly()).Build();

    [Fact]
    public void The_allowlist_routes_everything_to_loopback_loads_its_rules_and_opens_the_supervisors_sockets()
    {
        var plan = SpawnPlanner.Plan(Spec(b => b.AllowHost("example.com:443")), Host.Context());
        var ops = plan.Ops.SkipWhile(o => o.Kind != OpKind.LoopbackUp).Take(10).ToList();
        Assert.Equal([OpKind.LoopbackUp, OpKind.Run, OpKind.Run, OpKind.Run, OpKind.NetSocket, OpKind.NetSocket, OpKind.NetSocket, OpKind.NetSocket, OpKind.NetSocket, OpKind.NetSocket],
            ops.Select(o => o.Kind));
        Assert.Equal(("/usr/sbin/ip", "route add local 0.0.0.0/0 dev lo\n", OpFlags.None), (ops[1].S1, ops[1].S2, ops[1].Flags));
        Assert.Equal(OpFlags.Try, ops[2].Flags); // a kernel without IPv6
        Assert.Equal("/usr/sbin/nft", ops[3].S1);
        Assert.Equal(1UL << 12, ops[3].A); // CAP_NET_ADMIN, ambient for the tool
        Assert.Equal([SocketRole.DnsUdp, SocketRole.DnsUdp, SocketRole.DnsTcp, SocketRole.DnsTcp, SocketRole.Capture, SocketRole.Capture],
            ops.Skip(4).Select(o => (SocketRole)o.Index));
        Assert.Equal([53UL, 53, 53, 53, 1, 1], ops.Skip(4).Select(o => o.C));
        Assert.Equal("allowlist", plan.Network!.ModeName);
        // The rule allows UDP too: the relay's sockets, and a netlink socket on the namespace's conntrack.
        var more = plan.Ops.SkipWhile(o => o.Kind != OpKind.LoopbackUp).Skip(10).TakeWhile(o => o.Kind == OpKind.NetSocket).ToList();
        Assert.Equal([SocketRole.Conntrack, SocketRole.UdpCapture, SocketRole.UdpCapture], more.Select(o => (SocketRole)o.Index));
        Assert.Equal((16UL, 3UL, 12UL, OpFlags.Try), (more[0].A, more[0].B, more[0].C, more[0].Flags)); // AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER
        var tcpOnly = SpawnPlanner.Plan(Spec(b => b.AllowHost("example.com:443/tcp")), Host.Context());
        Assert.DoesNotContain(tcpOnly.Ops, o => o.Kind == OpKind.NetSocket && (SocketRole)o.Index is SocketRole.UdpCapture or SocketRole.Conntrack);
        // Before the payload's user namespace: the payload never holds CAP_NET_ADMIN over this network.
        int nested = plan.Ops.ToList().FindIndex(o => o.Role == SetupRole.NestedUserNamespace);
        Assert.True(nested > plan.Ops.ToList().FindIndex(o => o.Kind == OpKind.NetSocket));
    }

    [Fact]
    public void Capabilities_kept_by_the_payload_leave_the_allowlists_network_with_the_sandbox()
    {
        var plan = SpawnPlanner.Plan(Spec(b => b.AllowHost("example.com").CapAdd("CAP_NET_ADMIN")), Host.Context());
        Assert.NotEqual(0UL, plan.CloneFlags & Clone.CLONE_NEWNET);
        var late = plan.Ops.Single(o => o.Role == SetupRole.CreateNamespaces && o.Kind == OpKind.Unshare);
        Assert.Equal(0UL, late.A & Clone.CLONE_NEWNET);
        var e = Assert.Throws<SandboxSpecException>(() => SpawnPlanner.Plan(Spec(b => b.AllowHost("example.com").AllowUserNamespaces().CapAdd("CAP_NET_ADMIN")), Host.Context()));
        Assert.Contains("cannot hold against a payload that keeps capabilities", e.Problems[0]);
    }

    private static string Rules(EgressAction defaultAction, params string[] rules) =>
        NftRuleset.Allowlist(1, 53, [.. rules.Select(EgressRule.Parse)], defaultAction);

    [Fact]
    public void The_nftables_rules_hand_DNS_and_TCP_to_the_supervisor_and_drop_the_rest()
    {
        string rules = Rules(EgressAction.Refuse, "10.0.0.0/8", "10.1.0.0/16", "[2001:db8::]/32", "192.0.2.7:22", "example.com/tcp");
        Assert.Contains("meta l4proto { tcp, udp } th dport 53 redirect to :53", rules);
        Assert.Contains("tcp flags & (syn | ack) == syn redirect to :1", rules);
        Assert.Contains("type filter hook output priority 0; policy drop;", rules);
        // Overlapping blocks would make nft refuse the set: only the outermost stay.
        Assert.Contains("ip daddr != { 10.0.0.0/8, 127.0.0.0/8, 198.18.0.0/15, 192.0.2.7 }", rules);
        Assert.Contains("ip6 daddr != { 2001:db8::/32, fd68:7573:6b00::/64, ::1 }", rules);
        // Every rule here allows UDP as well: what they name, and the fake pool, go to the relay.
        Assert.Contains("meta nfproto ipv4 ip daddr { 10.0.0.0/8, 198.18.0.0/15, 192.0.2.7 } meta l4proto udp redirect to :1", rules);
        Assert.Contains("meta nfproto ipv6 ip6 daddr { 2001:db8::/32, fd68:7573:6b00::/64 } meta l4proto udp redirect to :1", rules);
        Assert.DoesNotContain("husk_early", Rules(EgressAction.Log));
        // mbox's default lets everything through (logged): every datagram goes to the relay.
        Assert.Contains("\t\tmeta l4proto udp redirect to :1\n", Rules(EgressAction.Log));
    }

    [Fact]
    public void A_kill_rule_reaches_the_supervisor_even_when_the_default_refuses()
    {
        // mbox's -n with "kill: 192.0.2.9": reset in the kernel, the connection would never kill the sandbox.
        string rules = NftRuleset.Allowlist(1, 53, [EgressRule.Parse("192.0.2.9") with { Action = EgressAction.Kill }], EgressAction.Refuse);
        Assert.Contains("ip daddr != { 127.0.0.0/8, 198.18.0.0/15, 192.0.2.9 } tcp flags", rules);
        Assert.Contains("ip daddr { 198.18.0.0/15, 192.0.2.9 } meta l4proto udp redirect to :1", rules);
    }

    [Fact]
    public void Rules_for_TCP_alone_leave_UDP_to_be_dropped_in_the_namespace()
    {
        string rules = Rules(EgressAction.Refuse, "example.com:443/tcp", "10.0.0.0/8/tcp");
        Assert.DoesNotContain("udp redirect", rules.Replace("{ tcp, udp } th dport 53 redirect", ""));
        Assert.False(new NetworkSpec { Filter = true, Rules = [EgressRule.Parse("example.com/tcp")] }.RelaysUdp);
        Assert.True(new NetworkSpec { Filter = true, Rules = [EgressRule.Parse("example.com:443")] }.RelaysUdp);
        Assert.True(new NetworkSpec { Filter = true, Rules = [EgressRule.Parse("example.com/udp") with { Action = EgressAction.Kill }] }.RelaysUdp);
    }

    [Fact]
    public void Address_rules_in_the_loopback_send_those_destinations_to_the_hosts_loopback_but_never_DNS()
    {
        string rules = Rules(EgressAction.Refuse, "127.0.0.3:8080", "127.0.0.0/8:1-100/tcp", "[::1]:9000/udp", "127.0.0.5", "127.0.0.1:53", "0.0.0.0/0:80");
        string redirect = rules[rules.IndexOf("husk_redirect", StringComparison.Ordinal)..rules.IndexOf("husk_output", StringComparison.Ordinal)];
        Assert.Contains("\t\tip daddr 127.0.0.3 tcp dport 8080 tcp flags & (syn | ack) == syn redirect to :1\n\t\tip daddr 127.0.0.3 udp dport 8080 redirect to :1\n", redirect);
        Assert.Contains("\t\tip daddr 127.0.0.0/8 tcp dport { 1-52, 54-100 } tcp flags & (syn | ack) == syn redirect to :1\n", redirect);
        Assert.DoesNotContain("127.0.0.0/8 udp", redirect);
        Assert.Contains("\t\tip6 daddr ::1 udp dport 9000 redirect to :1\n", redirect);
        Assert.Contains("\t\tip daddr 127.0.0.5 tcp dport { 1-52, 54-65535 } tcp flags", redirect);
        // The host's loopback before the sandbox's own, which stays the sandbox's for everything else.
        string hostLoopback = redirect[..redirect.IndexOf("ip daddr 127.0.0.0/8 return", StringComparison.Ordinal)];
        Assert.Contains("127.0.0.3 tcp", hostLoopback);
        Assert.DoesNotContain("127.0.0.1", hostLoopback); // a rule for port 53 alone names only the sandbox's own resolver
        Assert.DoesNotContain("0.0.0.0/0", hostLoopback); // a block beyond the loopback does not open it (as the policy says)
        Assert.Equal("54-80", NftRuleset.PortsBut53(EgressRule.Parse("127.0.0.1:53-80")));
        Assert.Null(NftRuleset.PortsBut53(EgressRule.Parse("127.0.0.1:53")));
    }

    [Fact]
    public void Nat_blocks_the_hosts_own_addresses_and_everyone_gets_a_resolver_that_works_inside()
    {
        var plan = SpawnPlanner.Plan(Spec(b => b.Network(NetworkMode.Nat)), Host.Context());
        Assert.Equal(new NatHelper(NatHelperKind.Pasta, "/usr/sbin/pasta"), plan.Network!.Nat);
        var runs = plan.Ops.Where(o => o.Kind == OpKind.Run).ToList();
        Assert.Equal("route add prohibit 192.0.2.10/32\n", runs[0].S2);
        // pasta's two faults are kept from it (NftRuleset.PastaGuards); slirp4netns has neither.
        Assert.Equal(["nft", "-f", "-"], runs[1].Strings!);
        Assert.Equal(NftRuleset.PastaGuards(), runs[1].S2);
        Assert.Contains("\t\tip6 saddr :: drop\n", runs[1].S2);
        Assert.Contains("oifname != \"lo\" tcp flags & (syn | ack) == syn ct state new ct status confirmed drop", runs[1].S2);
        Assert.True(runs[1].Flags.HasFlag(OpFlags.Try)); // without netfilter the network still works
        Assert.Equal(2, runs.Count);
        var slirpHost = Host.Context() with { FindProgram = n => n is "ip" or "nft" or "slirp4netns" ? "/usr/bin/" + n : null };
        Assert.Single(SpawnPlanner.Plan(Spec(b => b.Network(NetworkMode.Nat)), slirpHost).Ops, o => o.Kind == OpKind.Run);
        var resolv = Assert.Single(plan.Mounts.OfType<WriteFile>(), w => w.Destination == "/etc/resolv.conf");
        Assert.Contains("nameserver 127.0.0.1\n", System.Text.Encoding.UTF8.GetString(resolv.Data.AsSpan()));
        var own = Spec(b => b.Network(NetworkMode.Nat).Dns("192.0.2.53"));
        var ownResolv = SpawnPlanner.Plan(own, Host.Context()).Mounts.OfType<WriteFile>().Single(w => w.Destination == "/etc/resolv.conf");
        Assert.Contains("nameserver 192.0.2.53\n", System.Text.Encoding.UTF8.GetString(ownResolv.Data.AsSpan()));
        Assert.DoesNotContain(SpawnPlanner.Plan(Spec(b => b), Host.Context()).Mounts.OfType<WriteFile>(), w => w.Destination == "/etc/resolv.conf");
    }

    [Fact]
    public void A_missing_helper_names_the_package_to_install()
    {
        var bare = Host.Context() with { FindProgram = _ => null };
        var nat = Assert.Throws<SandboxSetupException>(() => SpawnPlanner.Plan(Spec(b => b.Network(NetworkMode.Nat)), bare));
        Assert.Equal("--net nat needs pasta (Debian package passt) or slirp4netns: install one of them (apt install passt)", nat.Message);
        Assert.Equal(SetupRole.NetworkHelper, nat.Role);
        var allow = Assert.Throws<SandboxSetupException>(() => SpawnPlanner.Plan(Spec(b => b.AllowHost("example.com")), Host.Context() with { FindProgram = n => n == "ip" ? "/sbin/ip" : null }));
        Assert.Equal("the allowlist needs nft (Debian package nftables): install it (apt install nftables)", allow.Message);
        var slirp = SpawnPlanner.Plan(Spec(b => b.Network(NetworkMode.Nat)), Host.Context() with { FindProgram = n => n is "ip" or "slirp4netns" ? "/usr/bin/" + n : null });
        Assert.Equal(NatHelperKind.Slirp4netns, slirp.Network!.Nat!.Kind);
    }

    [Theory]
    [InlineData("host+allow", "the egress allowlist needs a network namespace of the sandbox's own: drop --net host (or --share-net)")]
    [InlineData("publish", "--publish needs --net nat or --net bridge")]
    [InlineData("allow+publish", "--publish does not combine with the egress allowlist yet: publish with --net nat alone")]
    [InlineData("loopback", "--allow-host-loopback is for --net nat (with the allowlist, allow the host's loopback by address instead, e.g. --allow-host 127.0.0.1:8080)")]
    [InlineData("twice", "host port 8080/tcp is published twice")]
    [InlineData("badrule", "--allow-host exa mple: not a host name, an address or a CIDR block: exa mple")]
    public void Network_contradictions_are_one_line_each(string which, string problem)
    {
        var b = new SandboxSpecBuilder("/bin/true");
        b = which switch
        {
            "host+allow" => b.AllowHost("example.com").Network(NetworkMode.Host),
            "publish" => b.Publish("8080:80"),
            "allow+publish" => b.AllowHost("example.com").Publish("8080:80"),
            "loopback" => b.AllowHostLoopback(),
            "twice" => b.Network(NetworkMode.Nat).Publish("8080:80").Publish("8080:81"),
            _ => b.AllowHost("exa mple"),
        };
        var e = Assert.Throws<SandboxSpecException>(() => b.Build());
        Assert.Contains(problem, e.Problems);
    }

    [Fact]
    public void The_summary_lists_connections_and_refused_names()
    {
        var activity = new NetworkActivity
        {
            Mode = "allowlist",
            Events =
            [
                new NetworkEvent { Time = DateTimeOffset.UnixEpoch, Protocol = "dns", Name = "example.com", Address = "93.184.216.34", Port = 53, Verdict = "allowed" },
                new NetworkEvent { Time = DateTimeOffset.UnixEpoch, Protocol = "tcp", Name = "example.com", Address = "93.184.216.34", Port = 443, Verdict = "allowed", BytesSent = 10, BytesReceived = 20 },
                new NetworkEvent { Time = DateTimeOffset.UnixEpoch, Protocol = "dns", Name = "evil.test", Port = 53, Verdict = "refused", Reason = "no rule allows this name" },
                new NetworkEvent { Time = DateTimeOffset.UnixEpoch, Protocol = "tcp", Address = "2001:db8::1", Port = 22, Verdict = "refused", Reason = "no address rule allows port 22 there" },
            ],
        };
        Assert.Equal(
        [
            " > [allowed] example.com (93.184.216.34):443 tcp, 10 bytes sent, 20 received",
            " > [refused] evil.test (DNS): no rule allows this name",
            " > [refused] [2001:db8::1]:22 tcp: no address rule allows port 22 there",
        ], NetworkSummary.Lines(activity, "allowlist"));
        Assert.Equal([" > none: a network namespace of its own (loopback only)"], NetworkSummary.Lines(null, "none"));
        Assert.Equal((1, 2, 10L, 20L), (activity.Allowed, activity.Refused, activity.BytesSent, activity.BytesReceived));
        Assert.Equal("{\"time\":\"1970-01-01T00:00:00.000000Z\",\"pid\":null,\"protocol\":\"tcp\",\"name\":\"example.com\",\"address\":\"93.184.216.34\",\"port\":443,\"verdict\":\"allowed\",\"bytes_sent\":10,\"bytes_received\":20}",
            NetworkLog.ToJson(activity.Events[1]));
    }

    [Fact]
    public void The_nat_helpers_forward_nothing_to_the_host_and_map_no_gateway_unless_asked()
    {
        var spec = new NetworkSpec { Mode = NetworkMode.Nat, Publish = [PortPublication.Parse("8080:80"), PortPublication.Parse("5353:53/udp")] };
        var pasta = UserModeNat.Arguments(new NatHelper(NatHelperKind.Pasta, "/usr/bin/pasta"), spec, 42, "/run/r", -1, root: false);
        Assert.Equal(["-f", "-q", "--config-net", "--netns", "/proc/42/ns/net", "--userns", "/proc/42/ns/user", "-P", "/run/r", "-T", "none", "-U", "none", "--no-map-gw", "-t", "8080:80", "-u", "5353:53"], pasta);
        var open = UserModeNat.Arguments(new NatHelper(NatHelperKind.Pasta, "/usr/bin/pasta"), spec with { AllowHostLoopback = true, Publish = [] }, 42, "/run/r", -1, root: true);
        Assert.DoesNotContain("--no-map-gw", open);
        Assert.Equal(["--runas", "0", "-t", "none", "-u", "none"], open.TakeLast(6));
        var slirp = UserModeNat.Arguments(new NatHelper(NatHelperKind.Slirp4netns, "/usr/bin/slirp4netns"), spec, 42, "", 7, root: false);
        Assert.Equal(["--configure", "--mtu=65520", "--enable-ipv6", "--ready-fd", "7", "--netns-type=path", "--userns-path", "/proc/42/ns/user", "--disable-host-loopback", "/proc/42/ns/net", "tap0"], slirp);
    }
}
