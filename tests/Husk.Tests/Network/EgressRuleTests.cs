using System.Net;
using Husk.Network;

namespace Husk.Tests.Network;

/// <summary>The allowlist's rule syntax: names, wildcards, addresses and CIDR blocks of both families, ports and ranges; and rule files.</summary>
public class EgressRuleTests
{
    [Theory]
    [InlineData("example.com", EgressRuleKind.Name, "example.com", null, 0, 0, 0)]
    [InlineData("Example.COM.", EgressRuleKind.Name, "example.com", null, 0, 0, 0)]
    [InlineData("example.com:443", EgressRuleKind.Name, "example.com", null, 0, 443, 443)]
    [InlineData("*.example.com:8000-8100", EgressRuleKind.Wildcard, "example.com", null, 0, 8000, 8100)]
    [InlineData("1.2.3.4", EgressRuleKind.Address, null, "1.2.3.4", 32, 0, 0)]
    [InlineData("1.2.3.4:22", EgressRuleKind.Address, null, "1.2.3.4", 32, 22, 22)]
    [InlineData("10.1.2.3/8", EgressRuleKind.Address, null, "10.0.0.0", 8, 0, 0)]
    [InlineData("10.0.0.0/8:5432", EgressRuleKind.Address, null, "10.0.0.0", 8, 5432, 5432)]
    [InlineData("2001:db8::1", EgressRuleKind.Address, null, "2001:db8::1", 128, 0, 0)]
    [InlineData("[2001:db8::1]:443", EgressRuleKind.Address, null, "2001:db8::1", 128, 443, 443)]
    [InlineData("2001:db8::/32", EgressRuleKind.Address, null, "2001:db8::", 32, 0, 0)]
    [InlineData("[2001:db8::]/32:1-1024", EgressRuleKind.Address, null, "2001:db8::", 32, 1, 1024)]
    [InlineData("[2001:db8::/32]:53", EgressRuleKind.Address, null, "2001:db8::", 32, 53, 53)]
    [InlineData("0.0.0.0/0", EgressRuleKind.Address, null, "0.0.0.0", 0, 0, 0)]
    public void Rules_parse(string text, EgressRuleKind kind, string? name, string? address, int prefix, int low, int high)
    {
        var r = EgressRule.Parse(text);
        Assert.Equal((kind, name, address, low, high), (r.Kind, r.Name, r.Address?.ToString(), (int)r.LowPort, (int)r.HighPort));
        if (address is not null)
            Assert.Equal(prefix, r.PrefixLength);
        Assert.Equal(EgressAction.Allow, r.Action);
    }

    [Theory]
    [InlineData("example.com/udp", "example.com", null, 0, NetworkProtocol.Udp)]
    [InlineData("example.com:443/UDP", "example.com", null, 443, NetworkProtocol.Udp)]
    [InlineData("10.0.0.5:5000/udp", null, "10.0.0.5", 5000, NetworkProtocol.Udp)]
    [InlineData("10.0.0.0/8/tcp", null, "10.0.0.0", 0, NetworkProtocol.Tcp)]
    [InlineData("[2001:db8::1]:53/udp", null, "2001:db8::1", 53, NetworkProtocol.Udp)]
    [InlineData("2001:db8::/32/udp", null, "2001:db8::", 0, NetworkProtocol.Udp)]
    [InlineData("*.example.com:8000-8100/tcp", "example.com", null, 8000, NetworkProtocol.Tcp)]
    public void A_protocol_after_the_rule_narrows_it_to_one_transport(string text, string? name, string? address, int low, NetworkProtocol protocol)
    {
        var r = EgressRule.Parse(text);
        Assert.Equal((name, address, low, (NetworkProtocol?)protocol, text), (r.Name, r.Address?.ToString(), (int)r.LowPort, r.Protocol, r.Text));
        Assert.True(r.MatchesProtocol(protocol));
        Assert.False(r.MatchesProtocol(protocol == NetworkProtocol.Udp ? NetworkProtocol.Tcp : NetworkProtocol.Udp));
        var both = EgressRule.Parse("example.com:443");
        Assert.Null(both.Protocol);
        Assert.True(both.MatchesProtocol(NetworkProtocol.Tcp) && both.MatchesProtocol(NetworkProtocol.Udp));
    }

    [Theory]
    [InlineData("", "an empty rule")]
    [InlineData("/udp", "a protocol without a destination")]
    [InlineData("example.com:53/icmp", "not a port or port range")]
    [InlineData("example.com:0", "not a port or port range")]
    [InlineData("example.com:70000", "not a port or port range")]
    [InlineData("example.com:90-80", "the port range runs backwards")]
    [InlineData("example.com:http", "not a port or port range")]
    [InlineData("1.2.3", "not an IP address: 1.2.3")]
    [InlineData("1.2.3.256", "not an IP address")]
    [InlineData("10.0.0.0/33", "not a prefix length of an IPv4 block (0 to 32): /33")]
    [InlineData("2001:db8::/129", "not a prefix length of an IPv6 block")]
    [InlineData("[2001:db8::1", "not closed")]
    [InlineData("[1.2.3.4]:80", "brackets are for IPv6")]
    [InlineData("exa mple.com", "not a host name")]
    [InlineData("ex*ample.com", "a wildcard is '*.' before a domain")]
    [InlineData("*example.com", "a wildcard is '*.' before a domain")]
    [InlineData("-bad.example.com", "not a host name")]
    public void Malformed_rules_say_what_is_wrong(string text, string reason)
    {
        Assert.False(EgressRule.TryParse(text, out _, out string? error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void A_wildcard_matches_subdomains_only()
    {
        var r = EgressRule.Parse("*.example.com");
        Assert.True(r.MatchesName("a.example.com"));
        Assert.True(r.MatchesName("a.b.example.com"));
        Assert.False(r.MatchesName("example.com"));
        Assert.False(r.MatchesName("badexample.com"));
        Assert.False(r.MatchesName("example.com.evil"));
    }

    [Fact]
    public void Address_rules_match_both_notations_of_an_IPv4_address()
    {
        var r = EgressRule.Parse("10.0.0.0/8");
        Assert.True(r.MatchesAddress(IPAddress.Parse("10.200.3.4")));
        Assert.True(r.MatchesAddress(IPAddress.Parse("::ffff:10.200.3.4")));
        Assert.False(r.MatchesAddress(IPAddress.Parse("11.0.0.1")));
        Assert.False(EgressRule.Parse("::/0").MatchesAddress(IPAddress.Parse("10.0.0.1")));
    }

    [Fact]
    public void A_rule_file_takes_comments_and_mini_tapbox_lists()
    {
        var rules = EgressRuleFile.Parse(["# mine", "", "  example.com  ", "8.8.8.8", "www.google.com # search", "10.0.0.0/8", "*.pkg.dev:443"], "rules.txt");
        Assert.Equal(["example.com", "8.8.8.8", "www.google.com", "10.0.0.0/8", "*.pkg.dev:443"], rules.Select(r => r.Text));
    }

    [Fact]
    public void A_bad_line_names_the_file_the_line_and_the_rule()
    {
        var e = Assert.Throws<EgressRuleException>(() => EgressRuleFile.Parse(["example.com", "# ok", "10.0.0.0/40"], "/etc/rules.txt"));
        Assert.Equal("/etc/rules.txt:3: 10.0.0.0/40: not a prefix length of an IPv4 block (0 to 32): /40", e.Message);
    }

    [Theory]
    [InlineData("8080:80", 8080, 80, NetworkProtocol.Tcp)]
    [InlineData("5353:53/udp", 5353, 53, NetworkProtocol.Udp)]
    [InlineData("1:65535/tcp", 1, 65535, NetworkProtocol.Tcp)]
    public void Publications_parse(string text, int host, int inside, NetworkProtocol protocol) =>
        Assert.Equal(new PortPublication((ushort)host, (ushort)inside, protocol), PortPublication.Parse(text));

    [Theory]
    [InlineData("8080")]
    [InlineData("0:80")]
    [InlineData("80:80/sctp")]
    [InlineData(":80")]
    public void Bad_publications_are_refused(string text) => Assert.Throws<FormatException>(() => PortPublication.Parse(text));

    [Theory]
    [InlineData("127.0.0.2", "127.0.0.2", 53)]
    [InlineData("127.0.0.2:5353", "127.0.0.2", 5353)]
    [InlineData("[::1]:5353", "::1", 5353)]
    [InlineData("::1", "::1", 53)]
    public void Upstreams_parse(string text, string address, int port)
    {
        Assert.True(Endpoints.TryParse(text, 53, out var ep, out _));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), ep);
    }
}
