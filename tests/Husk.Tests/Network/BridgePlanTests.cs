using System.Net;
using Husk.Launch;
using Husk.Network;
using static Husk.Interop.Interop;

namespace Husk.Tests.Network;

/// <summary>The bridge's pure parts: address allocation, names, the nftables text and the ops inside the namespace.</summary>
public class BridgePlanTests
{
    private static readonly IPNetwork Subnet = IPNetwork.Parse("10.77.0.0/16");

    [Fact]
    public void Addresses_skip_the_bridges_own_the_taken_ones_and_the_broadcast()
    {
        Assert.Equal(IPAddress.Parse("10.77.0.2"), Bridge.FirstFree(Subnet, new HashSet<IPAddress>()));
        Assert.Equal(IPAddress.Parse("10.77.0.4"), Bridge.FirstFree(Subnet, new HashSet<IPAddress> { IPAddress.Parse("10.77.0.2"), IPAddress.Parse("10.77.0.3") }));
        var small = IPNetwork.Parse("192.168.5.0/30"); // .0 network, .1 bridge, .2 the only sandbox, .3 broadcast
        Assert.Equal(IPAddress.Parse("192.168.5.2"), Bridge.FirstFree(small, new HashSet<IPAddress>()));
        Assert.Null(Bridge.FirstFree(small, new HashSet<IPAddress> { IPAddress.Parse("192.168.5.2") }));
    }

    [Fact]
    public void A_lease_names_fit_an_interface_and_its_table_and_commands_follow_the_address()
    {
        var lease = Bridge.LeaseFor(IPAddress.Parse("10.77.1.254"), Subnet);
        Assert.Equal(("hv0a4d01fe", "hp0a4d01fe", "husk-0a4d01fe"), (lease.HostVeth, lease.SandboxVeth, Bridge.TableOf(lease)));
        Assert.True(lease.HostVeth.Length <= 15); // IFNAMSIZ - 1
        Assert.Equal(IPAddress.Parse("10.77.0.1"), lease.Gateway);
        Assert.Equal("link set dev hp0a4d01fe name eth0\naddr add 10.77.1.254/16 dev eth0\nlink set eth0 up\nroute add default via 10.77.0.1\n", lease.InsideCommands());
        // A stale lease is cleaned from its file name alone: the names must not depend on the subnet.
        Assert.Equal(lease.HostVeth, Bridge.LeaseFor(lease.Address, new IPNetwork(lease.Address, 32)).HostVeth);
    }

    [Fact]
    public void The_host_masquerades_only_what_leaves_the_subnet_and_publishes_to_the_sandboxs_address()
    {
        string host = Bridge.HostRuleset(Subnet);
        Assert.Contains("ip saddr 10.77.0.0/16 ip daddr != 10.77.0.0/16 masquerade", host);
        // The host's loopback reaches published ports (DNAT'd onto the bridge, masqueraded there)...
        Assert.Contains("\t\toifname \"husk0\" ip saddr 127.0.0.0/8 masquerade\n", host);
        // ...and the bridge, which then routes 127/8, lets no sandbox reach the host's loopback: before conntrack and NAT.
        Assert.Contains("type filter hook prerouting priority -300; policy accept;\n\t\tiifname \"husk0\" ip daddr 127.0.0.0/8 drop\n\t\tiifname \"husk0\" ip saddr 127.0.0.0/8 drop\n", host);
        var lease = Bridge.LeaseFor(IPAddress.Parse("10.77.0.2"), Subnet);
        string rules = Bridge.PublishRuleset(lease, [PortPublication.Parse("8080:80"), PortPublication.Parse("5353:53/udp")]);
        Assert.StartsWith("table ip husk-0a4d0002 {\n", rules);
        // From outside (prerouting) and from the host itself (output), to either port.
        Assert.Equal(2, rules.Split("fib daddr type local tcp dport 8080 dnat to 10.77.0.2:80\n").Length - 1);
        Assert.Equal(2, rules.Split("fib daddr type local udp dport 5353 dnat to 10.77.0.2:53\n").Length - 1);
    }

    [Fact]
    public void The_planner_configures_eth0_inside_and_gives_the_sandbox_the_supervisors_resolver()
    {
        var spec = new SandboxSpecBuilder("/bin/true").ClearEnv().HostReadOnly().Network(NetworkMode.Bridge).Build();
        var lease = Bridge.LeaseFor(IPAddress.Parse("10.77.0.9"), Subnet);
        var plan = SpawnPlanner.Plan(spec, new FakeHost().Context(), bridgeLease: lease);
        var run = plan.Ops.Single(o => o.Kind == OpKind.Run);
        Assert.Equal(("/usr/sbin/ip", lease.InsideCommands()), (run.S1, run.S2));
        Assert.Same(lease, plan.Network!.Bridge);
        Assert.Equal("bridge", plan.Network.ModeName);
        var resolv = plan.Mounts.OfType<WriteFile>().Single(w => w.Destination == "/etc/resolv.conf");
        Assert.Contains("nameserver 127.0.0.1\n", System.Text.Encoding.UTF8.GetString(resolv.Data.AsSpan()));
    }
}
