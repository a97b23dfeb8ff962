using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Husk.Tests.Network;

/// <summary>
/// --net nat without root (pasta, else slirp4netns): the host's loopback stays out of reach unless
/// asked, published ports come in, and killing husk leaves no helper behind. Traffic goes only
/// to the test's own servers on the host's loopback.
/// </summary>
public sealed class NatTests : IDisposable
{
    private readonly TestHttp _host = new(IPAddress.Loopback, "host");
    private readonly string _dir = TestEnvironment.ScratchDirectory("nat");

    public void Dispose() => _host.Dispose();

    /// <summary>Skips unless pasta or slirp4netns can run here for this user.</summary>
    private static void RequireNat()
    {
        if (global::Husk.Network.HostPrograms.Find("pasta") is null && global::Husk.Network.HostPrograms.Find("slirp4netns") is null)
            Assert.Skip("--net nat needs pasta (passt) or slirp4netns: .ci/run installs passt");
        if (Interop.Interop.Access("/dev/net/tun", 6) != 0)
            Assert.Skip("/dev/net/tun is not open to this user (Debian's udev makes it 0666; .ci/run does)");
    }

    private (int Code, string Stdout, string Stderr) Husk(IEnumerable<string> options, string script) =>
        TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--net", "nat", .. options, "--", "bash", "-c", script], cwd: _dir);

    /// <summary>Fetches the test server's port at <paramref name="address"/> (a shell word), refused or not within 5 s.</summary>
    private string Fetch(string address) => $$"""
        a={{address}}
        timeout 5 bash -c "exec 3<>/dev/tcp/$a/{{_host.Port}} && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3 | tail -1" 2>/dev/null || echo refused
        """;

    [Fact]
    public void The_hosts_loopback_is_out_of_reach_unless_asked()
    {
        RequireNat();
        // pasta's default (-T auto) would forward this to the host's loopback: Husk's does not.
        var closed = Husk([], Fetch("127.0.0.1"));
        Assert.True(closed.Code == 0, closed.Stderr);
        Assert.Equal("refused", closed.Stdout.Trim());
        Assert.Equal(0, _host.Served);
        // Asked for, the host's loopback is at the gateway's address (without it, that address is
        // the real gateway, which this test does not send to).
        var open = Husk(["--allow-host-loopback"], Fetch("$(ip route show default | awk '{print $3; exit}')"));
        Assert.True(open.Code == 0, open.Stderr);
        Assert.Equal("host", open.Stdout.Trim());
        Assert.Equal(1, _host.Served);
    }

    [Fact]
    public async Task A_published_port_reaches_a_server_in_the_sandbox_and_gets_all_it_sent_before_it_ended()
    {
        RequireNat();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        // The server fills every buffer between it and the client (which reads nothing yet), says
        // how much it sent, and ends: pasta still holds part of that, and must pass it on.
        const string server = """
            import select, socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 8080)); s.listen()
            print("ready", flush=True)
            c, _ = s.accept(); c.setblocking(False)
            sent = 0
            while select.select([], [c], [], 0.5)[1]:
                try: sent += c.send(b"x" * 65536)
                except BlockingIOError: pass
            print(sent, flush=True)
            """;
        var psi = new ProcessStartInfo(TestEnvironment.Husk) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir };
        foreach (string a in new[] { "run", "--fs", "ro", "--net", "nat", "--publish", $"{port}:8080", "--", "python3", "-c", server })
            psi.ArgumentList.Add(a);
        using var husk = Process.Start(psi)!;
        var stderr = husk.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        Assert.Equal("ready", husk.StandardOutput.ReadLine());
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        long sent = long.Parse(husk.StandardOutput.ReadLine() ?? "-1", System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(sent > 0); // (husk's stderr is read only once it has exited: waiting for it here would wait for husk)
        // Only once the sandbox has ended does the client read (before, husk stopped pasta then, and the rest was lost).
        var sandbox = ProcessTree.Descendants(husk.Id).Where(p => ProcessTree.Comm(p) == "python3").Select(Interop.Interop.PidfdOpen).OfType<Interop.SafePidfd>().ToList();
        foreach (var fd in sandbox)
        {
            using (fd)
                Assert.True(ProcessTree.WaitGone(fd, 30_000), "the sandbox did not end");
        }
        long got = 0;
        var buffer = new byte[1 << 16];
        var stream = client.GetStream();
        for (int n; (n = stream.Read(buffer)) > 0;)
            got += n;
        Assert.True(husk.WaitForExit(30_000));
        Assert.True(husk.ExitCode == 0, await stderr);
        Assert.Equal(sent, got);
    }

    /// <summary>
    /// Runs <paramref name="script"/> as root of a user and network namespace of the test's own
    /// (the "host" husk sees), which can make a second namespace behind a veth (the "outside").
    /// </summary>
    private (int Code, string Stdout, string Stderr) InTestNamespace(string script, params string[] args) =>
        TestEnvironment.Exec("unshare", ["--user", "--map-root-user", "--net", "--", "bash", "-c", script, "bash", .. args], cwd: _dir);

    /// <summary>
    /// The script of the outside tests: a veth to a second namespace made just now (the
    /// "outside"), the host's one route out through it, a server beyond the gateway (on the
    /// outside's loopback) that answers once, and husk as an ordinary user again (a nested user
    /// namespace: as root it would map subordinate ids), whose payload connects to the server.
    /// $2 is the family's word for ip (-4 or -6), $3..$5 the host's address, the gateway and the
    /// server; with $6 = drop the outside drops every other SYN to the server, the first included.
    /// </summary>
    private const string OutsideScript = """
        set -eu
        husk=$1 family=$2 host=$3 gateway=$4 server=$5 drop=${6:-}
        trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
        mkfifo outside.ready server.ready
        ip link set lo up
        unshare --net sh -c 'echo up > outside.ready; exec sleep 600' >/dev/null 2>&1 &
        outside=$!
        read -r _ < outside.ready
        ip link add h0 type veth peer name o0 netns "$outside"
        ip "$family" addr add "$host" dev h0 $([ "$family" = -6 ] && echo nodad)
        ip link set h0 up
        ip "$family" route add default via "$gateway" dev h0
        nsenter -t "$outside" -n sh -c "ip link set lo up && ip addr add $server dev lo && ip $family addr add $gateway/${host#*/} dev o0 $([ "$family" = -6 ] && echo nodad) && ip link set o0 up"
        if [ "$drop" = drop ]; then
            printf '%s\n' 'table inet t { chain c { type filter hook input priority 0; tcp dport 8080 tcp flags & (syn | ack) == syn numgen inc mod 2 == 0 drop; }; }' | nsenter -t "$outside" -n nft -f -
        fi
        nsenter -t "$outside" -n python3 -c '
        import socket, sys
        s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET); s.bind((sys.argv[1], 8080)); s.listen()
        open("server.ready", "w").write("up\n")
        c, peer = s.accept(); c.sendall(("outside, from " + peer[0]).encode()); c.close()' "$server" >/dev/null 2>&1 &
        read -r _ < server.ready
        unshare --user --map-user=1000 --map-group=1000 -- "$husk" run --fs ro --net nat -- python3 -c '
        import socket, sys
        print(socket.create_connection((sys.argv[1], 8080), timeout=10).recv(100).decode())' "$server"
        """;

    /// <summary>Runs <see cref="OutsideScript"/>; skips where the test cannot make its namespaces.</summary>
    private (int Code, string Stdout, string Stderr) Outside(bool v6, bool dropFirstSyn)
    {
        RequireNat();
        if (v6 && !File.Exists("/proc/net/if_inet6"))
            Assert.Skip("this kernel has no IPv6");
        if (dropFirstSyn && global::Husk.Network.HostPrograms.Find("nft") is null)
            Assert.Skip("dropping the outside's first SYN needs nft (nftables): .ci/run installs it");
        string[] args = v6 ? ["-6", "fd00:77::1/64", "fd00:77::2", "fd00:88::1"] : ["-4", "10.77.0.1/24", "10.77.0.2", "10.88.0.1"];
        return InTestNamespace(OutsideScript, [TestEnvironment.Husk, .. args, dropFirstSyn ? "drop" : ""]);
    }

    /// <summary>
    /// IPv6 through pasta (regression: the sandbox's kernel sends from :: while its link-local
    /// address is tentative, Debian's pasta then took :: for the sandbox's address and sent the
    /// answer there; here the gateway's neighbour takes the host a second to resolve on the new
    /// veth, so the answer always came after such a packet and the connection timed out).
    /// </summary>
    [Fact]
    public void IPv6_reaches_the_outside_through_nat()
    {
        var run = Outside(v6: true, dropFirstSyn: false);
        Assert.True(run.Code == 0, run.Stderr);
        // The outside saw the host's address: pasta connected for the sandbox, over IPv6.
        Assert.Equal("outside, from fd00:77::1", run.Stdout.Trim());
    }

    /// <summary>
    /// Regression: Debian's pasta reset a connection whose SYN the sandbox sent again (after 1 s)
    /// while its own connect() was pending, so a destination whose handshake took a second or
    /// more (here the outside drops the first SYN) was never reached, IPv4 or IPv6.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_connection_whose_first_SYN_is_lost_beyond_the_host_still_gets_through_nat(bool v6)
    {
        var run = Outside(v6, dropFirstSyn: true);
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal(v6 ? "outside, from fd00:77::1" : "outside, from 10.77.0.1", run.Stdout.Trim());
    }

    [Fact]
    public void Killing_husk_takes_its_nat_helper_with_it()
    {
        RequireNat();
        var psi = new ProcessStartInfo(TestEnvironment.Husk) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir };
        foreach (string a in new[] { "run", "--fs", "ro", "--net", "nat", "--", "sh", "-c", "echo up; exec sleep 600" })
            psi.ArgumentList.Add(a);
        using var husk = Process.Start(psi)!;
        Assert.Equal("up", husk.StandardOutput.ReadLine());
        var helpers = ProcessTree.Descendants(husk.Id).Where(p => ProcessTree.Comm(p) is { } c && (c.StartsWith("passt", StringComparison.Ordinal) || c.StartsWith("pasta", StringComparison.Ordinal) || c == "slirp4netns")).ToList();
        Assert.NotEmpty(helpers);
        var pidfds = helpers.Select(p => Interop.Interop.PidfdOpen(p)).OfType<Interop.SafePidfd>().ToList();
        husk.Kill(); // SIGKILL: no clean-up code of husk runs
        husk.WaitForExit();
        foreach (var fd in pidfds)
        {
            using (fd)
                Assert.True(ProcessTree.WaitGone(fd, 10_000), "the NAT helper outlived husk");
        }
    }

    [Fact]
    public void The_bridge_without_root_says_it_needs_root_and_leaves_nothing()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("as root the bridge is made (BridgeTests)");
        var run = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--net", "bridge", "--", "true"], cwd: _dir);
        Assert.Equal((1, "husk: --net bridge needs root (it creates the husk0 bridge and veth pairs): use --net nat without root\n"), (run.Code, run.Stderr));
    }
}
