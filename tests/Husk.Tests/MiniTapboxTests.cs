using System.Net;
using Husk.Cli.Personalities.MiniSandbox;
using Husk.Tests.Network;

namespace Husk.Tests;

/// <summary>
/// mini-tapbox (mini-sandbox's firewall build, minitap's firewall.go at 68c2571) on Husk's egress
/// allowlist: which -F lines become which rules, what turns the filter on, its limits and words;
/// and through the hard link as an unprivileged user, that a listed name reaches a server of the
/// test's own on loopback and an unlisted one does not.
/// </summary>
public sealed class MiniTapboxTests : IDisposable
{
    private readonly string _dir = TestEnvironment.ScratchDirectory("minitap");

    public void Dispose() => TestEnvironment.DeleteTree(_dir);

    private string RulesFile(string text)
    {
        string file = Path.Combine(_dir, $"rules{Directory.GetFiles(_dir).Length}");
        File.WriteAllText(file, text);
        return file;
    }

    private MiniSandboxArguments Parse(string rules, params string[] options) =>
        MiniSandboxArguments.Parse(["-F", RulesFile(rules), .. options, "--", "true"], tapbox: true, new MiniSandboxHost());

    [Fact]
    public void Addresses_names_and_subnets_become_allowlist_rules_and_subnets_work()
    {
        var net = MiniTapboxRules.Network(Parse("8.8.8.8\n  www.Example.com \n10.1.2.3/16\n*.bad\n").Allowed);
        Assert.True(net.Filter);
        Assert.Equal(EgressAction.Refuse, net.DefaultAction);
        Assert.Equal(3, net.Rules.Length);
        Assert.Equal((EgressRuleKind.Address, IPAddress.Parse("8.8.8.8"), 32), (net.Rules[0].Kind, net.Rules[0].Address, net.Rules[0].PrefixLength));
        // minitap matched names exactly: no subdomains.
        Assert.Equal((EgressRuleKind.Name, "www.example.com"), (net.Rules[1].Kind, net.Rules[1].Name));
        Assert.True(net.Rules[1].MatchesName("www.example.com"));
        Assert.False(net.Rules[1].MatchesName("api.www.example.com"));
        // The subnet is the block it names (minitap took it for a name and never matched it).
        Assert.Equal((EgressRuleKind.Address, IPAddress.Parse("10.1.0.0"), 16), (net.Rules[2].Kind, net.Rules[2].Address, net.Rules[2].PrefixLength));
        Assert.True(net.Rules[2].MatchesAddress(IPAddress.Parse("10.1.200.7")));
        Assert.False(net.Rules[2].MatchesAddress(IPAddress.Parse("10.2.0.1")));
        Assert.Equal(["*.bad"], Parse("*.bad\n").Unrecognized);
    }

    [Theory]
    [InlineData("999.1.1.1")]     // its ipv4 pattern, but no address for Go's net.ParseIP: looked up as a name, in vain
    [InlineData("010.1.1.1")]     // Go refuses leading zeros (.NET would read octal)
    [InlineData("10.0.0.0/40")]   // its subnet pattern, no block
    [InlineData("1.2.3")]         // its domain pattern, no name a resolver answers
    [InlineData("-leading.example")]
    public void Lines_minitap_could_never_match_allow_nothing_but_turn_the_filter_on(string line)
    {
        var a = Parse(line + "\n");
        Assert.Equal([line], a.Allowed);
        var net = MiniTapboxRules.Network(a.Allowed);
        Assert.True(net.Filter);
        Assert.Empty(net.Rules);
        Assert.Equal(EgressAction.Refuse, net.DefaultAction);
    }

    [Fact]
    public void No_rule_lets_everything_through_as_minitap_does_and_the_namespace_is_its_own()
    {
        // An empty file, or one of unrecognised lines only: minitap's rule count stays 0.
        foreach (string text in (string[])["", "# comment\n\n"])
        {
            var a = Parse(text, "-n");
            var net = MiniTapboxRules.Network(a.Allowed);
            Assert.True(net.Filter);
            Assert.Empty(net.Rules);
            Assert.Equal(EgressAction.Allow, net.DefaultAction);
        }
        var host = new MiniSandboxHost();
        var spec = MiniSandboxPersonality.ToSpec(MiniSandboxArguments.Parse(["-n", "--", "true"], tapbox: true, host), host);
        Assert.True(spec.Namespaces.HasFlag(NamespaceKinds.Net));
        Assert.True(spec.BringUpLoopback);   // -n leaves the loopback down in mini-sandbox; mini-tapbox's network is minitap's
        Assert.Equal((true, EgressAction.Allow), (spec.Network.Filter, spec.Network.DefaultAction));
        var plain = MiniSandboxPersonality.ToSpec(MiniSandboxArguments.Parse(["-n", "--", "true"], tapbox: false, host), host);
        Assert.False(plain.Network.Filter);
    }

    [Fact]
    public void More_than_a_hundred_rules_or_one_past_1024_bytes_is_its_network_error()
    {
        Assert.Equal(100, Parse(string.Concat(Enumerable.Range(1, 100).Select(i => $"10.0.0.{i}\n"))).Allowed.Count);
        var many = Assert.Throws<MiniSandboxError>(() => Parse(string.Concat(Enumerable.Range(1, 101).Select(i => $"10.0.0.{i}\n"))));
        Assert.Equal("[MiniSbxAllowIpv4:621]: Cannot allow all domains after specifying one network rule", many.Message);
        var longName = Assert.Throws<MiniSandboxError>(() => Parse(new string('a', 1025) + "\n"));
        Assert.Equal("[MiniSbxAllowDomain:607]: Cannot allow all domains after specifying one network rule", longName.Message);
    }

    private static string MiniTapbox => Path.Combine(TestEnvironment.Artifacts, "bin", "mini-tapbox");

    // Asks the sandbox's resolver (the supervisor, as resolv.conf says) directly: /etc/hosts would
    // answer "localhost" with the sandbox's own loopback.
    private const string Client = """
        import socket, struct, sys
        def resolve(name):
            q = struct.pack(">6H", 7, 0x100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">2H", 1, 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.sendto(q, ("127.0.0.1", 53)); r = s.recv(4096)
            i = len(q)
            for _ in range(struct.unpack(">H", r[6:8])[0]):
                while r[i] and r[i] < 0xC0: i += r[i] + 1
                i += 2 if r[i] else 1
                typ, _, _, n = struct.unpack(">HHIH", r[i:i + 10]); i += 10
                if typ == 1 and n == 4: return socket.inet_ntoa(r[i:i + 4])
                i += n
            return None
        def fetch(name, port):
            addr = resolve(name)
            if addr is None: return "nxdomain"
            try:
                s = socket.create_connection((addr, port), 10); s.sendall(b"GET / HTTP/1.0\r\n\r\n"); data = b""
                while True:
                    d = s.recv(65536)
                    if not d: break
                    data += d
                return data.decode().split("\r\n\r\n", 1)[-1] or "closed"
            except OSError as e: return type(e).__name__
        print(fetch(sys.argv[1], int(sys.argv[2])))
        """;

    [Fact]
    public void A_listed_name_reaches_its_server_and_an_unlisted_one_does_not()
    {
        AllowlistTests.RequireAllowlistTools();
        using var web = new TestHttp(IPAddress.Loopback, "reached");
        // "localhost" is the one name every host resolves (from /etc/hosts) without a network.
        var allowed = TestEnvironment.Exec(MiniTapbox, ["-F", RulesFile("localhost\n"), "--", "python3", "-c", Client, "localhost", $"{web.Port}"], cwd: _dir);
        Assert.True(allowed.Code == 0, allowed.Stderr + allowed.Stdout);
        Assert.Equal("reached\n", allowed.Stdout);
        Assert.Equal(1, web.Served);
        // Listed by its block but not by name: minitap answered no question for a name it does not
        // list; and -x's layout, with the payload's status passed on.
        var refused = TestEnvironment.Exec(MiniTapbox, ["-x", "-F", RulesFile("127.0.0.0/8\nelsewhere.example\n"), "--", "/bin/sh", "-c", $"python3 -c '{Client.Replace("'", "'\\''")}' localhost {web.Port}; exit 5"],
            env: new Dictionary<string, string> { ["HOME"] = _dir }, cwd: _dir);
        Assert.True(refused.Code == 5, refused.Stderr + refused.Stdout);
        Assert.Equal("nxdomain\n", refused.Stdout);
        Assert.Equal(1, web.Served);
    }
}
