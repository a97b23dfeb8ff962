using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;

namespace Husk.Tests.Network;

/// <summary>
/// The egress allowlist, end to end and without root: the sandbox's names are answered by the
/// supervisor from a DNS server of the test's own (--dns-upstream), its connections reach
/// servers of the test's own on loopback, and nothing else leaves: literal addresses the tests
/// try are refused inside the sandbox's namespace before anything is sent.
/// </summary>
public sealed class AllowlistTests : IDisposable
{
    private static readonly IPAddress DnsAt = IPAddress.Parse("127.0.0.2"), WebAt = IPAddress.Parse("127.0.0.3");
    private readonly TestHttp _web = new(WebAt, "web");
    private readonly TestHttp _web2 = new(WebAt, "web2");
    private readonly TestHttp _v6 = new(IPAddress.IPv6Loopback, "v6");
    private readonly TestUdpEcho _echo = new(WebAt);
    private readonly TestUdpEcho _echo2 = new(WebAt);
    private readonly TestUdpEcho _echo3 = new(IPAddress.Parse("127.0.0.5"));
    private readonly TestDns _dns;
    private readonly string _dir = TestEnvironment.ScratchDirectory("allowlist");

    public AllowlistTests()
    {
        _dns = new TestDns(DnsAt, new()
        {
            ["web.test"] = [WebAt],
            ["api.web.test"] = [WebAt],
            ["other.test"] = [WebAt],
            ["v6.test"] = [IPAddress.IPv6Loopback],
            ["udp.test"] = [WebAt],
            ["tcponly.test"] = [WebAt],
        });
    }

    public void Dispose()
    {
        _web.Dispose();
        _web2.Dispose();
        _v6.Dispose();
        _echo.Dispose();
        _echo2.Dispose();
        _echo3.Dispose();
        _dns.Dispose();
    }

    /// <summary>Skips unless this machine has what the allowlist needs (nft and ip, as Debian installs them).</summary>
    internal static void RequireAllowlistTools()
    {
        if (global::Husk.Network.HostPrograms.Find("nft") is null || global::Husk.Network.HostPrograms.Find("ip") is null)
            Assert.Skip("the allowlist needs nft (nftables) and ip (iproute2): .ci/run installs them");
    }

    private (int Code, string Stdout, string Stderr) Husk(IEnumerable<string> options, params string[] command) =>
        TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--dns-upstream", $"{_dns.Endpoint}", .. options, "--", .. command], cwd: _dir);

    private const string Client = """
        import errno, json, socket, subprocess, sys
        def fetch(host, port, family=0):
            try:
                fam, _, _, _, addr = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)[0]
                s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(10); s.connect(addr)
                s.sendall(b"GET / HTTP/1.0\r\n\r\n"); data = b""
                while True:
                    d = s.recv(65536)
                    if not d: break
                    data += d
                return data.decode().split("\r\n\r\n", 1)[-1] if data else "closed"
            except socket.gaierror: return "nxdomain"
            except OSError as e: return errno.errorcode.get(e.errno, str(e))
        def udp(addr, port):
            try:
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", (addr, port)); return "sent"
            except OSError as e: return errno.errorcode.get(e.errno, str(e))
        def raw(family, kind, proto):
            try:
                socket.socket(family, kind, proto); return "open"
            except OSError as e: return errno.errorcode.get(e.errno, str(e))
        def run(*argv):
            return subprocess.run(argv, capture_output=True).returncode
        a = sys.argv
        print(json.dumps({
            "name": fetch("web.test", int(a[1])),
            "wildcard": fetch("api.web.test", int(a[1])),
            "port": fetch("web.test", int(a[2])),
            "unknown": fetch("other.test", int(a[1])),
            "literal": fetch("203.0.113.7", 80),
            "v6": fetch("v6.test", int(a[3]), socket.AF_INET6),
            "udp": udp("203.0.113.7", 9999),
            "raw": raw(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
            "packet": raw(socket.AF_PACKET, socket.SOCK_RAW, 0),
            "flush": run("nft", "flush", "ruleset"),
            "route": run("ip", "route", "flush", "table", "local"),
            "after": fetch("203.0.113.7", 80),
        }))
        """;

    [Fact]
    public void Allowed_names_pass_and_everything_else_is_refused_inside_the_namespace()
    {
        RequireAllowlistTools();
        string log = Path.Combine(_dir, "net.jsonl");
        var run = Husk(["--allow-host", $"web.test:{_web.Port}", "--allow-host", "*.web.test", "--allow-host", $"127.0.0.0/8:{_web.Port}",
                "--allow-host", "v6.test", "--net-log", log, "--net-summary"],
            "python3", "-c", Client, $"{_web.Port}", $"{_web2.Port}", $"{_v6.Port}");
        Assert.True(run.Code == 0, run.Stderr);
        var r = JsonDocument.Parse(run.Stdout).RootElement;
        string Get(string key) => r.GetProperty(key).ToString();
        Assert.Equal("web", Get("name"));               // an exact name, on the host's loopback (the name opens it)
        Assert.Equal("web", Get("wildcard"));           // *.web.test, with the loopback block allowed for that port
        Assert.NotEqual("web2", Get("port"));           // web.test on a port no rule names
        Assert.Equal("nxdomain", Get("unknown"));       // a name no rule allows
        Assert.Equal("ECONNREFUSED", Get("literal"));   // an address no rule names: refused in the namespace
        Assert.Equal("v6", Get("v6"));                  // over IPv6 (an AAAA of ::1)
        Assert.Equal("EPERM", Get("udp"));              // UDP other than DNS
        Assert.Equal("EPERM", Get("raw"));
        Assert.Equal("EPERM", Get("packet"));
        Assert.NotEqual("0", Get("flush"));             // the payload cannot change the rules
        Assert.NotEqual("0", Get("route"));
        Assert.Equal("ECONNREFUSED", Get("after"));
        // A name that is not allowed never reaches a real resolver.
        Assert.DoesNotContain("other.test", _dns.Asked);
        Assert.Contains("web.test", _dns.Asked);
        Assert.Equal(0, _web2.Served);

        var events = File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Contains(events, e => e.GetProperty("protocol").GetString() == "tcp" && e.GetProperty("name").GetString() == "web.test"
                                     && e.GetProperty("verdict").GetString() == "allowed" && e.GetProperty("bytes_received").GetInt64() > 0 && e.GetProperty("port").GetInt32() == _web.Port);
        Assert.Contains(events, e => e.GetProperty("protocol").GetString() == "dns" && e.GetProperty("name").GetString() == "other.test" && e.GetProperty("verdict").GetString() == "refused");
        Assert.Contains(events, e => e.GetProperty("protocol").GetString() == "tcp" && e.GetProperty("port").GetInt32() == _web2.Port && e.GetProperty("verdict").GetString() == "refused");
        Assert.Contains("Network Summary:\n", run.Stderr);
        Assert.Contains($" > [allowed] web.test (127.0.0.3):{_web.Port} tcp", run.Stderr);
        Assert.Contains(" > [refused] other.test (DNS): no rule allows this name", run.Stderr);
    }

    [Fact]
    public void A_static_binary_io_uring_and_a_child_in_its_own_session_are_filtered_alike()
    {
        RequireAllowlistTools();
        string client = NetTestBinary();
        // io_uring is allowed here (no seccomp), so that only the network namespace stands in its way.
        string script = $"""
            a=$(getent hosts web.test | cut -d' ' -f1)
            {client} connect "$a" {_web.Port}; {client} connect 203.0.113.7 80
            {client} uring "$a" {_web.Port}; {client} uring 203.0.113.7 80
            {client} setsid "$a" {_web.Port}; {client} setsid 203.0.113.7 80
            """;
        var run = Husk(["--allow-host", "web.test", "--seccomp", "unconfined"], "/bin/sh", "-c", script);
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal(["ok:web", "ECONNREFUSED", "ok:web", "ECONNREFUSED", "ok:web", "ECONNREFUSED"], run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(3, _web.Served);
    }

    [Fact]
    public void Literal_addresses_and_blocks_need_an_address_rule()
    {
        RequireAllowlistTools();
        // A destination that is not loopback inside the sandbox: one of this host's own addresses.
        var own = NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(u => u.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        if (own is null)
            Assert.Skip("this host has no IPv4 address besides loopback");
        using var server = new TestHttp(IPAddress.Any, "literal");
        string fetch = $"exec 3<>/dev/tcp/{own}/{server.Port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3 | tail -1; echo";
        var byAddress = Husk(["--allow-host", $"{own}:{server.Port}"], "bash", "-c", fetch);
        Assert.Equal("literal", byAddress.Stdout.Trim());
        var byBlock = Husk(["--allow-host", $"{own}/32", "--allow-host", "web.test"], "bash", "-c", fetch);
        Assert.Equal("literal", byBlock.Stdout.Trim());
        // Allowed names resolving to it do not open the address itself.
        var byName = Husk(["--allow-host", "web.test"], "bash", "-c", fetch + " 2>&1");
        Assert.DoesNotContain("literal", byName.Stdout);
        Assert.Equal(2, server.Served);
    }

    private const string UdpClient = """
        import errno, json, socket, sys
        def resolve(host, port):
            return socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
        def send(host, port):
            try:
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", resolve(host, port)); return "sent"
            except socket.gaierror: return "nxdomain"
            except OSError as e: return errno.errorcode.get(e.errno, str(e))
        def exchange(host, port, connected=True):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
                if connected: s.connect(resolve(host, port)); s.send(b"ping")
                else: s.sendto(b"ping", resolve(host, port))
                data, peer = s.recvfrom(100)
                return data.decode() if connected or peer == resolve(host, port) else "from " + str(peer)
            except socket.timeout: return "timeout"
            except OSError as e: return errno.errorcode.get(e.errno, str(e))
        a = sys.argv
        # The refused ones first: the relay reads datagrams in order, so each is decided before the echo below comes back.
        r = {"port": send("udp.test", int(a[2])), "tcp_only": send("tcponly.test", int(a[1])), "literal": send("203.0.113.7", 9999)}
        r["allowed"] = exchange("udp.test", int(a[1]))
        r["unconnected"] = exchange("udp.test", int(a[1]), connected=False)
        r["loopback"] = exchange("127.0.0.5", int(a[3]))
        print(json.dumps(r))
        """;

    [Fact]
    public void UDP_goes_through_when_a_rule_allows_it_and_is_refused_otherwise()
    {
        RequireAllowlistTools();
        string log = Path.Combine(_dir, "udp.jsonl");
        var run = Husk(["--allow-host", $"udp.test:{_echo.Port}/udp", "--allow-host", $"tcponly.test:{_echo.Port}/tcp", "--allow-host", $"127.0.0.5:{_echo3.Port}/udp",
                "--net-log", log, "--net-summary"],
            "python3", "-c", UdpClient, $"{_echo.Port}", $"{_echo2.Port}", $"{_echo3.Port}");
        Assert.True(run.Code == 0, run.Stderr);
        var r = JsonDocument.Parse(run.Stdout).RootElement;
        string Get(string key) => r.GetProperty(key).ToString();
        Assert.Equal("echo:ping", Get("allowed"));       // a name rule for UDP: relayed, and the reply comes from where it was sent
        Assert.Equal("echo:ping", Get("unconnected"));
        Assert.Equal("echo:ping", Get("loopback"));      // a literal address of the host's loopback, by an address rule
        Assert.Equal("EPERM", Get("literal"));           // no rule names it: dropped in the namespace
        Assert.Equal((2, 0, 1), (_echo.Served, _echo2.Served, _echo3.Served)); // none for udp.test on a port no rule names

        var events = File.ReadAllLines(log).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("protocol").GetString() == "udp").ToList();
        string? Str(JsonElement e, string key) => e.GetProperty(key).ValueKind == JsonValueKind.Null ? null : e.GetProperty(key).ToString();
        var allowed = events.Where(e => Str(e, "verdict") == "allowed").ToList();
        Assert.True(allowed.Count == 3, string.Join('\n', events));
        Assert.All(allowed, e => Assert.Equal((4L, 9L), (e.GetProperty("bytes_sent").GetInt64(), e.GetProperty("bytes_received").GetInt64())));
        Assert.Equal(2, allowed.Count(e => Str(e, "name") == "udp.test" && Str(e, "address") == "127.0.0.3" && e.GetProperty("port").GetInt32() == _echo.Port));
        Assert.Single(allowed, e => Str(e, "name") is null && Str(e, "address") == "127.0.0.5" && e.GetProperty("port").GetInt32() == _echo3.Port);
        Assert.Contains(events, e => Str(e, "verdict") == "refused" && Str(e, "name") == "udp.test" && e.GetProperty("port").GetInt32() == _echo2.Port);
        Assert.Contains(events, e => Str(e, "verdict") == "refused" && Str(e, "name") == "tcponly.test" && Str(e, "reason") == $"no rule allows tcponly.test on UDP port {_echo.Port}");
        Assert.Contains($" > [allowed] udp.test (127.0.0.3):{_echo.Port} udp, 4 bytes sent, 9 received", run.Stderr);
    }

    [Fact]
    public void An_address_rule_in_the_loopback_reaches_the_hosts_and_the_rest_of_the_loopback_stays_the_sandboxs()
    {
        RequireAllowlistTools();
        const string client = """
            import errno, json, socket, sys
            def fetch(host, port):
                try:
                    s = socket.create_connection((host, port), timeout=10); s.sendall(b"GET / HTTP/1.0\r\n\r\n"); data = b""
                    while True:
                        d = s.recv(65536)
                        if not d: break
                        data += d
                    return data.decode().split("\r\n\r\n", 1)[-1] if data else "closed"
                except OSError as e: return errno.errorcode.get(e.errno, str(e))
            own = socket.socket(); own.bind(("127.0.0.3", 0)); own.listen()
            c = socket.create_connection(own.getsockname(), timeout=10); mine, _ = own.accept(); mine.sendall(b"own")
            print(json.dumps({"host": fetch("127.0.0.3", int(sys.argv[1])), "unnamed": fetch("127.0.0.3", int(sys.argv[2])), "own": c.recv(10).decode()}))
            """;
        var run = Husk(["--allow-host", $"127.0.0.3:{_web.Port}", "--net-summary"], "python3", "-c", client, $"{_web.Port}", $"{_web2.Port}");
        Assert.True(run.Code == 0, run.Stderr);
        var r = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.Equal("web", r.GetProperty("host").GetString());             // the host's server on its loopback
        Assert.Equal("ECONNREFUSED", r.GetProperty("unnamed").GetString()); // the sandbox's own loopback: nothing listens there
        Assert.Equal("own", r.GetProperty("own").GetString());              // a server of the sandbox's own on its loopback
        Assert.Equal((1, 0), (_web.Served, _web2.Served));
        Assert.Contains($" > [allowed] 127.0.0.3:{_web.Port} tcp", run.Stderr);
    }

    /// <summary>tests/Husk.Tests/Network/nettest.c built static (gcc -static), once per run.</summary>
    internal static string NetTestBinary()
    {
        string dir = TestEnvironment.ScratchDirectory("nettest");
        string output = Path.Combine(dir, "nettest");
        string source = Path.Combine(AppContext.BaseDirectory, "Network", "nettest.c");
        var gcc = TestEnvironment.Exec("gcc", ["-static", "-O2", "-o", output, source]);
        if (gcc.Code != 0)
            Assert.Skip($"gcc -static failed (static libc missing?): {gcc.Stderr.Trim()}");
        return output;
    }
}
