using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Husk.Tests.Network;

/// <summary>
/// --net bridge as root: sandboxes get addresses of their own on husk0 and reach each other, a
/// published port comes in, and nothing stays behind: after the last sandbox, and after a husk
/// killed with SIGKILL (cleaned at the next start). Traffic stays between the sandboxes and the host.
/// </summary>
[Trait("Category", "Root")]
[Collection(ProcessWideStateCollection.ProcessWideState)]
public sealed class BridgeTests
{
    private readonly string _dir = TestEnvironment.ScratchDirectory("bridge");

    private static void RequireBridge()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        if (global::Husk.Network.HostPrograms.Find("nft") is null || global::Husk.Network.HostPrograms.Find("ip") is null)
            Assert.Skip("--net bridge needs nft (nftables) and ip (iproute2)");
    }

    private Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo(TestEnvironment.Husk) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir };
        foreach (string a in (string[])["run", "--fs", "ro", "--net", "bridge", .. args])
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static string Leftovers()
    {
        var found = new List<string>();
        if (Directory.Exists("/sys/class/net/husk0"))
            found.Add("husk0");
        found.AddRange(Directory.EnumerateDirectories("/sys/class/net").Select(Path.GetFileName).Where(n => n!.StartsWith("hv", StringComparison.Ordinal) || n.StartsWith("hp", StringComparison.Ordinal))!);
        if (Directory.Exists(global::Husk.Network.Bridge.LeaseDirectory))
            found.AddRange(Directory.EnumerateFiles(global::Husk.Network.Bridge.LeaseDirectory, "lease-*").Select(Path.GetFileName)!);
        var tables = TestEnvironment.Exec("nft", ["list", "tables"]).Stdout;
        found.AddRange(tables.Split('\n').Where(l => l.Contains("husk", StringComparison.Ordinal)).Select(l => l.Trim()));
        return string.Join(", ", found);
    }

    [Fact]
    public void Concurrent_sandboxes_get_their_own_addresses_reach_each_other_and_leave_nothing_as_root()
    {
        RequireBridge();
        const string server = """
            import socket
            s = socket.socket(); s.bind(("0.0.0.0", 7000)); s.listen()
            import subprocess
            ip = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True, text=True).stdout.split()[3].split("/")[0]
            print(ip, flush=True)
            c, peer = s.accept(); c.sendall(("hello " + peer[0]).encode()); c.close()
            """;
        using var a = Start("--", "python3", "-c", server);
        string addressA = a.StandardOutput.ReadLine()!;
        const string client = """
            import socket, subprocess, sys
            ip = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True, text=True).stdout.split()[3].split("/")[0]
            s = socket.create_connection((sys.argv[1], 7000), timeout=10)
            print(ip, s.recv(100).decode())
            """;
        using var b = Start("--", "python3", "-c", client, addressA);
        string line = b.StandardOutput.ReadToEnd().Trim();
        Assert.True(b.WaitForExit(30_000) && a.WaitForExit(30_000));
        Assert.True(b.ExitCode == 0 && a.ExitCode == 0, b.StandardError.ReadToEnd() + a.StandardError.ReadToEnd());
        string addressB = line.Split(' ')[0];
        Assert.StartsWith("10.77.", addressA);
        Assert.StartsWith("10.77.", addressB);
        Assert.NotEqual(addressA, addressB);
        Assert.Equal($"{addressB} hello {addressB}", line); // no NAT between sandboxes on the bridge
        Assert.Equal("", Leftovers());
    }

    [Fact]
    public async Task A_published_port_comes_in_also_from_the_hosts_loopback_and_a_killed_husks_leftovers_go_at_the_next_start_as_root()
    {
        RequireBridge();
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        const string server = """
            import socket
            s = socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen()
            print("ready", flush=True)
            for _ in range(2):
                c, _ = s.accept(); c.sendall(b"inside"); c.close()
            import time; time.sleep(600)
            """;
        using var husk = Start("--publish", $"{port}:8080", "--", "python3", "-c", server);
        Assert.Equal("ready", husk.StandardOutput.ReadLine());
        // The host's address on the bridge, and the host's loopback (as users of docker -p expect).
        foreach (var from in new[] { IPAddress.Parse("10.77.0.1"), IPAddress.Loopback })
        {
            using var c = new TcpClient();
            // Not reachable, the SYN is dropped: fail in seconds rather than at the kernel's two minutes.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(20));
            try
            {
                await c.ConnectAsync(from, port, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                husk.Kill();
                Assert.Fail($"the published port is not reachable from {from}");
            }
            Assert.Equal("inside", new StreamReader(c.GetStream(), Encoding.ASCII).ReadToEnd());
        }
        var sandbox = ProcessTree.Descendants(husk.Id).Select(Interop.Interop.PidfdOpen).OfType<Interop.SafePidfd>().ToList();
        Assert.NotEmpty(sandbox);
        husk.Kill(); // SIGKILL: husk's own clean-up never runs
        husk.WaitForExit();
        foreach (var fd in sandbox)
        {
            using (fd)
                Assert.True(ProcessTree.WaitGone(fd, 10_000), "the sandbox outlived husk");
        }
        Assert.NotEqual("", Leftovers()); // the lease, its table and the bridge, until the next start
        var next = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--net", "bridge", "--", "true"], cwd: _dir);
        Assert.True(next.Code == 0, next.Stderr);
        Assert.Equal("", Leftovers());
    }

    [Fact]
    public void A_sandbox_that_fails_to_start_leaves_nothing_on_the_bridge_as_root()
    {
        RequireBridge();
        var run = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--net", "bridge", "--", "/nonexistent/program"], cwd: _dir);
        Assert.NotEqual(0, run.Code);
        Assert.Contains("/nonexistent/program", run.Stderr);
        Assert.Equal("", Leftovers());
    }

    [Fact]
    public void A_library_launch_that_fails_before_its_clone_gives_its_bridge_lease_back_as_root()
    {
        RequireBridge();
        // The trace's output cannot be made: the launch fails after the lease was taken, in a process
        // that lives on (a library's host), where a lease held is a veth and the bridge kept for good.
        var spec = TestEnvironment.Spec("/bin/true") with
        {
            Namespaces = NamespaceKinds.AllButTime,
            Network = new NetworkSpec { Mode = NetworkMode.Bridge },
            Trace = new TraceSpec { OutputFile = Path.Combine(_dir, "missing", "trace") },
        };
        var e = Assert.Throws<SandboxSetupException>(() => Sandbox.Start(spec).Dispose());
        Assert.Contains("trace output", e.Message);
        Assert.Equal("", Leftovers());
    }
}
