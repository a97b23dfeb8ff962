using System.Net;
using Husk.FileSystem;
using Husk.Network;

namespace Husk.Tests.Network;

/// <summary>The allowlist's decision function: names by name rules, addresses by address rules, protected blocks, precedence.</summary>
public class EgressPolicyTests
{
    private static readonly IPAddress Host = IPAddress.Parse("192.0.2.10"), Gateway = IPAddress.Parse("192.0.2.1");

    private static EgressPolicy Policy(params string[] rules) =>
        new([.. rules.Select(EgressRule.Parse)], EgressAction.Refuse, new ProtectedAddresses([Host], [Gateway]));

    private static EgressAction Tcp(EgressPolicy p, string? name, string address, int port) =>
        p.Decide(name, IPAddress.Parse(address), port, NetworkProtocol.Tcp).Action;

    [Fact]
    public void Names_are_decided_by_name_rules_with_their_ports()
    {
        var p = Policy("example.com:443", "*.cdn.example.net");
        Assert.Equal(EgressAction.Allow, Tcp(p, "example.com", "93.184.216.34", 443));
        Assert.Equal(EgressAction.Refuse, Tcp(p, "example.com", "93.184.216.34", 80));
        Assert.Equal(EgressAction.Allow, Tcp(p, "img.cdn.example.net", "93.184.216.34", 80));
        Assert.Equal(EgressAction.Refuse, Tcp(p, "cdn.example.net", "93.184.216.34", 80));
        Assert.Equal(EgressAction.Refuse, Tcp(p, "other.com", "93.184.216.34", 443));
    }

    [Fact]
    public void A_rule_applies_to_both_transports_unless_it_names_one()
    {
        var p = Policy("example.com:443/tcp", "example.org:443", "203.0.113.5:5000/udp", "203.0.113.0/24/tcp");
        EgressAction Udp(string? name, string address, int port) => p.Decide(name, IPAddress.Parse(address), port, NetworkProtocol.Udp).Action;
        Assert.Equal(EgressAction.Allow, Tcp(p, "example.com", "93.184.216.34", 443));
        Assert.Equal(EgressAction.Refuse, Udp("example.com", "93.184.216.34", 443));
        Assert.Equal(EgressAction.Allow, Udp("example.org", "93.184.216.34", 443));  // QUIC as well as TCP
        Assert.Equal(EgressAction.Allow, Udp(null, "203.0.113.5", 5000));
        Assert.Equal(EgressAction.Refuse, Udp(null, "203.0.113.5", 5001));
        Assert.Equal(EgressAction.Allow, Tcp(p, null, "203.0.113.5", 5001));          // the /24's TCP
        Assert.Equal(EgressAction.Refuse, Udp(null, "203.0.113.6", 5000));
        Assert.Equal("no address rule allows UDP port 5000 there", p.Decide(null, IPAddress.Parse("203.0.113.6"), 5000, NetworkProtocol.Udp).Reason);
        // The DNS answers a name whatever transport its rule is for.
        Assert.Equal(EgressAction.Allow, p.DecideName("example.com").Action);
    }

    [Fact]
    public void The_DNS_answers_only_names_some_rule_allows()
    {
        var p = Policy("example.com:443", "*.example.org", "1.2.3.4");
        Assert.Equal(EgressAction.Allow, p.DecideName("example.com").Action);
        Assert.Equal(EgressAction.Allow, p.DecideName("a.example.org").Action);
        Assert.Equal(EgressAction.Refuse, p.DecideName("example.org").Action);
        Assert.Equal(EgressAction.Refuse, p.DecideName("evil.com").Action);
    }

    [Fact]
    public void A_literal_address_needs_an_address_rule_even_when_an_allowed_name_resolves_to_it()
    {
        var p = Policy("example.com", "10.1.0.0/16:5432");
        Assert.Equal(EgressAction.Refuse, Tcp(p, null, "93.184.216.34", 443)); // example.com's address, reached literally
        Assert.Equal(EgressAction.Allow, Tcp(p, null, "10.1.2.3", 5432));
        Assert.Equal(EgressAction.Refuse, Tcp(p, null, "10.1.2.3", 22));
        Assert.Equal(EgressAction.Refuse, Tcp(p, null, "10.2.0.1", 5432));
    }

    [Theory]
    [InlineData("169.254.169.254")]
    [InlineData("127.0.0.1")]
    [InlineData("10.0.0.1")]
    [InlineData("172.16.0.1")]
    [InlineData("192.168.1.1")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    [InlineData("fd00::1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("192.0.2.10")] // the host's own address
    [InlineData("192.0.2.1")]  // the gateway
    [InlineData("198.18.0.1")] // the fake pool
    public void Protected_destinations_are_refused_unless_a_rule_inside_their_block_names_them(string address)
    {
        Assert.Equal(EgressAction.Refuse, Tcp(Policy("0.0.0.0/0", "::/0"), null, address, 80));
        Assert.Equal(EgressAction.Refuse, Tcp(Policy("*.example.com"), "rebind.example.com", address, 80));
        var ip = IPAddress.Parse(address);
        if (ip.IsIPv4MappedToIPv6)
            ip = ip.MapToIPv4();
        Assert.Equal(EgressAction.Allow, Tcp(Policy(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? $"{ip}:80" : $"[{ip}]:80"), null, address, 80));
        Assert.Equal(EgressAction.Allow, Tcp(Policy("service.test"), "service.test", address, 80));
    }

    [Fact]
    public void A_wildcard_reaches_a_protected_block_that_an_address_rule_opens()
    {
        Assert.Equal(EgressAction.Allow, Tcp(Policy("*.web.test", "127.0.0.0/8"), "api.web.test", "127.0.0.5", 8080));
        Assert.Equal(EgressAction.Refuse, Tcp(Policy("*.web.test", "127.0.0.0/8:9"), "api.web.test", "127.0.0.5", 8080));
    }

    [Fact]
    public void Public_addresses_pass_with_an_address_rule_for_them()
    {
        Assert.Equal(EgressAction.Allow, Tcp(Policy("0.0.0.0/0"), null, "93.184.216.34", 80));
        Assert.Equal(EgressAction.Allow, Tcp(Policy("[2001:db8::]/32"), null, "2001:db8::5", 80));
    }

    [Fact]
    public void The_most_specific_rule_wins_as_in_mbox()
    {
        EgressRule R(string text, EgressAction action) => EgressRule.Parse(text) with { Action = action };
        var p = new EgressPolicy([R("0.0.0.0/0", EgressAction.Kill), R("93.184.0.0/16", EgressAction.Refuse), R("93.184.216.34:80", EgressAction.Allow)],
            EgressAction.Log, ProtectedAddresses.FixedOnly);
        Assert.Equal(EgressAction.Allow, Tcp(p, null, "93.184.216.34", 80));
        Assert.Equal(EgressAction.Refuse, Tcp(p, null, "93.184.216.34", 443));
        Assert.Equal(EgressAction.Kill, Tcp(p, null, "8.8.8.8", 53));
        var logged = new EgressPolicy([], EgressAction.Log, ProtectedAddresses.FixedOnly);
        Assert.Equal(EgressAction.Log, Tcp(logged, "anything.test", "93.184.216.34", 443));
        Assert.Equal(EgressAction.Log, logged.DecideName("anything.test").Action);
        Assert.Equal(EgressAction.Refuse, Tcp(logged, null, "169.254.169.254", 80));
    }

    [Fact]
    public void Mbox_rules_map_trailing_zero_octets_to_blocks()
    {
        var profile = MboxProfile.Parse(["[network]", "kill: 0.0.0.0", "block: 192.168.1.0", "allow: 192.168.1.1:22", "log: 10.0.0.0:80"], "/home/me", p => p);
        var rules = profile.Network.Select(r => r.ToEgressRule()).ToList();
        Assert.Equal([("0.0.0.0", 0, EgressAction.Kill), ("192.168.1.0", 24, EgressAction.Refuse), ("192.168.1.1", 32, EgressAction.Allow), ("10.0.0.0", 8, EgressAction.Log)],
            rules.Select(r => (r.Address!.ToString(), r.PrefixLength, r.Action)));
        Assert.Equal((22, 22), ((int)rules[2].LowPort, (int)rules[2].HighPort));
        var p = new EgressPolicy(rules, EgressAction.Log, ProtectedAddresses.FixedOnly);
        Assert.Equal(EgressAction.Allow, Tcp(p, null, "192.168.1.1", 22));
        Assert.Equal(EgressAction.Refuse, Tcp(p, null, "192.168.1.1", 80));
        Assert.Equal(EgressAction.Kill, Tcp(p, null, "8.8.8.8", 443));
    }

    [Fact]
    public void A_budget_of_connections_lets_that_many_through_then_refuses_flows_and_names()
    {
        // libmini-tapbox's mini_sandbox_allow_max_connections(2): no rule, everything allowed until spent.
        var p = new EgressPolicy([], EgressAction.Allow, new ProtectedAddresses([Host], [Gateway]), maxConnections: 2);
        int spent = 0;
        p.Spent += () => spent++;
        Assert.Equal(EgressAction.Allow, p.DecideName("example.com").Action);
        // Each new socket asking names is one flow; the same one asking again is not.
        var socket1 = new IPEndPoint(IPAddress.Loopback, 40000);
        Assert.True(p.TakeDnsFlow(socket1, out _));
        Assert.True(p.TakeDnsFlow(socket1, out _));
        Assert.False(p.BudgetSpent);
        Assert.True(p.TakeConnection(out _));
        Assert.True(p.BudgetSpent);
        Assert.Equal(1, spent);
        Assert.False(p.TakeConnection(out string? why));
        Assert.Equal("the sandbox's budget of 2 connections is spent", why);
        var name = p.DecideName("example.com");
        Assert.Equal((EgressAction.Refuse, "the sandbox's budget of 2 connections is spent"), (name.Action, name.Reason));
        Assert.Equal(1, spent);
        // Without a budget nothing is counted.
        var free = Policy("example.com");
        Assert.True(free.TakeConnection(out _) && free.TakeDnsFlow(socket1, out _) && !free.BudgetSpent);
    }
}
