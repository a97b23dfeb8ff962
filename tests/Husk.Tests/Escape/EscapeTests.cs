using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using Husk.Policy;

namespace Husk.Tests.Escape;

/// <summary>
/// Known ways out of a sandbox, each tried inside a default <c>husk run</c> (escape_kit.py), which
/// must fail. This class runs them unprivileged; <see cref="EscapeTestsAsRoot"/> runs the same as root.
/// </summary>
public class EscapeTests
{
    protected virtual bool AsRoot => false;

    private static readonly Lazy<Attempt> Unprivileged = new(() => Attempt.Run(asRoot: false));
    private static readonly Lazy<Attempt> Root = new(() => Attempt.Run(asRoot: true));

    private Attempt Results()
    {
        if (AsRoot != TestEnvironment.IsRoot)
            Assert.Skip(AsRoot ? "the root variant runs as root (tests/run's second phase)" : "the unprivileged variant runs as an unprivileged user");
        return (AsRoot ? Root : Unprivileged).Value;
    }

    /// <summary>
    /// The technique was refused, and only with errors the policy gives for it (<paramref name="policy"/>:
    /// errno names; none for a technique that looks rather than calls). A probe that broke is an error, not a block.
    /// </summary>
    private void Blocked(string technique, params string[] policy)
    {
        var attempt = Results();
        Assert.True(attempt.Outcomes.TryGetValue(technique, out var result), $"the kit did not try {technique}: {attempt.Raw}");
        AssertBlocked(technique, result!, policy);
    }

    private static void AssertBlocked(string technique, ProbeResult result, string[] policy)
    {
        Assert.True(result.Outcome == "blocked", $"{technique}: {result.Outcome}: {result.Note}");
        string[] unexpected = [.. result.Errnos.Except(policy)];
        Assert.True(unexpected.Length == 0, $"{technique}: refused with {string.Join(", ", unexpected)}, which the policy does not give ({string.Join(", ", policy)}): {result.Note}");
    }

    // The seccomp profile answers EPERM; what it lets through, the namespaces and the filesystem view
    // answer: a host pid is not there (ESRCH), nothing listens in the sandbox's network
    // (ECONNREFUSED), host files belong to ids the sandbox does not have (EACCES), /sys is read-only
    // (EROFS), hidden files are not there (ENOENT).
    [Fact] public void Ptrace_of_a_host_process_fails() => Blocked("ptrace", "ESRCH", "EPERM");
    [Fact] public void Host_processes_are_not_in_proc() => Blocked("host_proc");
    [Fact] public void Host_processes_cannot_be_signalled()
    {
        Blocked("kill_host", "ESRCH");
        Assert.False(Results().HostProcessDied, "the host's process died");
    }
    [Fact] public void Mount_and_remount_fail() => Blocked("mount", "EPERM");
    [Fact] public void Chroot_pivot_root_and_file_handle_tricks_fail() => Blocked("chroot", "EPERM");
    [Fact] public void Nested_user_namespaces_are_refused() => Blocked("nested_userns", "EPERM");
    [Fact] public void Io_uring_is_refused() => Blocked("io_uring", "EPERM");
    [Fact] public void Keyrings_are_refused() => Blocked("keyctl", "EPERM");
    [Fact] public void Bpf_is_refused() => Blocked("bpf", "EPERM");
    [Fact] public void Perf_event_open_is_refused() => Blocked("perf_event_open", "EPERM");
    [Fact] public void Proc_sys_and_sysfs_writes_fail() => Blocked("proc_sys", "EACCES", "EROFS", "ENOENT");
    [Fact] public void Leaked_caller_descriptors_do_not_reach_the_payload() => Blocked("leaked_fds");
    [Fact] public void Host_abstract_unix_sockets_are_unreachable() => Blocked("abstract_socket", "ECONNREFUSED");
    [Fact] public void Host_loopback_ports_are_unreachable() => Blocked("loopback", "ECONNREFUSED");
    [Fact] public void Device_nodes_cannot_be_made() => Blocked("mknod", "EPERM");
    [Fact] public void Hidden_secrets_in_the_home_directory_cannot_be_read() => Blocked("secrets", "ENOENT", "EACCES");

    [Fact]
    public void The_engine_binaries_cannot_be_overwritten_from_inside_cve_2019_5736()
    {
        // ENOENT: a process that was gone by the time its /proc/PID/exe was opened.
        Blocked("self_exe", "EACCES", "ETXTBSY", "EROFS", "ENOENT");
        Assert.Equal(Results().HuskHashBefore, Results().HuskHashAfter);
    }

    [Fact]
    public void With_the_host_network_landlock_still_keeps_abstract_sockets_out_of_reach()
    {
        if (LandlockPolicy.KernelAbi < 6)
            Assert.Skip($"needs Landlock ABI 6, this kernel has {LandlockPolicy.KernelAbi}");
        var attempt = Results();
        Assert.True(attempt.SharedNet is not null, $"the kit failed with the host's network: {attempt.SharedNetError}");
        AssertBlocked("abstract_socket (host network)", attempt.SharedNet!, ["EPERM"]);
    }

    [Fact]
    public void A_probe_that_breaks_is_an_error_not_a_block()
    {
        if (AsRoot)
            Assert.Skip("the kit's own check runs once, in the unprivileged variant");
        Results(); // variant check
        if (!File.Exists("/usr/bin/python3"))
            Assert.Skip("the escape kit needs /usr/bin/python3");
        // No facts but the system call numbers (none): each probe fails on a missing key. In a
        // sandbox all the same, in case "only" ever stops working.
        string json = JsonSerializer.Serialize(new Dictionary<string, object> { ["nr"] = new Dictionary<string, int>(), ["only"] = new[] { "ptrace", "bpf" } }, EscapeJson.Default.DictionaryStringObject);
        string dir = Attempt.Directory(asRoot: false, "escape-kit");
        string kit = Path.Combine(dir, "escape_kit.py");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Escape", "escape_kit.py"), kit);
        (int Code, string Stdout, string Stderr) r;
        try
        {
            r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--", "/usr/bin/python3", kit], env: new Dictionary<string, string> { ["HUSK_ESCAPE"] = json });
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
        Assert.True(r.Code == 0, r.Stderr);
        var outcomes = JsonSerializer.Deserialize(r.Stdout, EscapeJson.Default.DictionaryStringProbeResult)!;
        Assert.Equal(["bpf", "ptrace"], outcomes.Keys.Order());
        Assert.All(outcomes.Values, o => Assert.Equal("error", o.Outcome));
        Assert.Contains("KeyError: 'host_pid'", outcomes["ptrace"].Note);
        Assert.Contains("KeyError: 'bpf'", outcomes["bpf"].Note);
    }

    [Fact]
    public void Tiocsti_cannot_inject_into_the_callers_terminal()
    {
        Results(); // variant check
        if (!File.Exists("/usr/bin/tmux") || !File.Exists("/usr/bin/python3"))
            Assert.Skip("needs tmux and python3");
        string dir = Attempt.Directory(AsRoot, "tiocsti");
        try
        {
            // Allowed (no filter, same session), the harness injects: the test can see an escape.
            bool legacy = File.ReadAllText("/proc/sys/dev/tty/legacy_tiocsti").Trim() == "1";
            if (legacy)
                Assert.Equal("got:INJECTED", Tiocsti(dir, "control", "--seccomp", "unconfined", "--no-new-session"));
            Assert.Equal("got:SENTINEL", Tiocsti(dir, "same-session", "--no-new-session"));
            Assert.Equal("got:SENTINEL", Tiocsti(dir, "defaults"));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    /// <summary>
    /// Runs husk in a tmux pane; the payload pushes "INJECTED\n" with TIOCSTI. Once husk has
    /// exited, the test types "SENTINEL\n" into the pane and its shell reads one line: an injected
    /// line comes first, otherwise the sentinel does (no waiting for a read to time out).
    /// </summary>
    private static string Tiocsti(string dir, string name, params string[] options)
    {
        string inject = Path.Combine(dir, "inject.py");
        File.WriteAllText(inject, "import fcntl, termios\nfor c in b'INJECTED\\n':\n    try: fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))\n    except OSError as e: print('refused', e.errno); break\n");
        string output = Path.Combine(dir, name + ".out");
        string id = Guid.NewGuid().ToString("N")[..8];
        string husk = $"{TestEnvironment.Husk} run {string.Join(' ', options)} -- /usr/bin/python3 {inject} >{dir}/{name}.log 2>&1";
        // The pane stays (waiting on a channel nobody signals) until the server is killed, so the
        // test's last wait-for always finds the server.
        string pane = $"{husk}; tmux wait-for -S ready-{id}; read line; echo \"got:$line\" > {output}; tmux wait-for -S done-{id}; exec tmux wait-for never-{id}";
        string socket = "husk-escape-" + id;
        var env = new Dictionary<string, string> { ["TMUX_TMPDIR"] = dir, ["TERM"] = "xterm" };
        (int Code, string Stdout, string Stderr) Tmux(params string[] args) => TestEnvironment.Exec("tmux", ["-L", socket, .. args], env: env, timeoutMs: 30_000);
        var start = Tmux("new-session", "-d", "-s", id, "-x", "80", "-y", "24", "bash", "--norc", "--noprofile", "-c", pane);
        Assert.True(start.Code == 0, start.Stderr);
        try
        {
            var ready = Tmux("wait-for", "ready-" + id);
            Assert.True(ready.Code == 0, ready.Stderr);
            var typed = Tmux("send-keys", "-t", id, "SENTINEL", "Enter");
            Assert.True(typed.Code == 0, typed.Stderr);
            var done = Tmux("wait-for", "done-" + id);
            Assert.True(done.Code == 0 && File.Exists(output), $"the pane did not finish: {done.Stderr} {(File.Exists($"{dir}/{name}.log") ? File.ReadAllText($"{dir}/{name}.log") : "")}");
            return File.ReadAllText(output).Trim();
        }
        finally
        {
            Tmux("kill-server");
        }
    }

    /// <summary>One run of the kit with everything the host side prepares and checks afterwards.</summary>
    internal sealed class Attempt
    {
        public required Dictionary<string, ProbeResult> Outcomes { get; init; }
        public required string Raw { get; init; }
        public required bool HostProcessDied { get; init; }
        public required string HuskHashBefore { get; init; }
        public required string HuskHashAfter { get; init; }
        /// <summary>abstract_socket with --share-net, or null when the kit failed (<see cref="SharedNetError"/>).</summary>
        public required ProbeResult? SharedNet { get; init; }
        public required string SharedNetError { get; init; }

        /// <summary>A directory the sandbox can read: root's home is closed to the sandbox's root, so not there.</summary>
        public static string Directory(bool asRoot, string prefix)
        {
            if (!asRoot)
                return TestEnvironment.ScratchDirectory(prefix);
            string dir = Path.Combine("/var/lib/husk-tests", $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)]);
            System.IO.Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED);
            return dir;
        }

        private static string Hash(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

        public static Attempt Run(bool asRoot)
        {
            if (!File.Exists("/usr/bin/python3"))
                Assert.Skip("the escape kit needs /usr/bin/python3");
            string dir = Directory(asRoot, "escape");
            using var sleeper = Process.Start(new ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
            using var abstractListener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            using var tcp = new TcpListener(IPAddress.Loopback, 0);
            try
            {
                string kit = Path.Combine(dir, "escape_kit.py");
                File.Copy(Path.Combine(AppContext.BaseDirectory, "Escape", "escape_kit.py"), kit);
                string abstractName = "husk-escape-" + Guid.NewGuid().ToString("N")[..12];
                abstractListener.Bind(new UnixDomainSocketEndPoint("\0" + abstractName));
                abstractListener.Listen();
                tcp.Start();
                int port = ((IPEndPoint)tcp.LocalEndpoint).Port;

                // A home with secrets the default profile hides.
                string home = Path.Combine(dir, "home");
                var secrets = new[] { ".ssh/id_ed25519", ".aws/credentials", ".gnupg/private-keys-v1.d/key", ".netrc", ".config/gh/hosts.yml", ".docker/config.json" };
                foreach (string s in secrets)
                {
                    string p = Path.Combine(home, s);
                    System.IO.Directory.CreateDirectory(Path.GetDirectoryName(p)!);
                    File.WriteAllText(p, "SECRET\n");
                }
                foreach (string d in System.IO.Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Prepend(dir))
                    File.SetUnixFileMode(d, System.IO.Directory.Exists(d) ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4);

                var table = SyscallTable.Native;
                var nrs = new[] { "ptrace", "kill", "mount", "chroot", "pivot_root", "open_by_handle_at", "unshare", "io_uring_setup", "keyctl", "add_key", "bpf", "perf_event_open" }
                    .ToDictionary(n => n, n => table.Number(n)!.Value);
                var facts = new Dictionary<string, object>
                {
                    ["nr"] = nrs,
                    ["host_pid"] = sleeper.Id,
                    ["abstract"] = abstractName,
                    ["port"] = port,
                    ["husk"] = TestEnvironment.Husk,
                    ["secrets"] = secrets.Select(s => Path.Combine(home, s)).ToArray(),
                    ["secret_dirs"] = new[] { ".ssh", ".aws", ".gnupg" }.Select(s => Path.Combine(home, s)).ToArray(),
                };
                string json = JsonSerializer.Serialize(facts, EscapeJson.Default.DictionaryStringObject);
                string before = Hash(TestEnvironment.Husk);
                // Descriptors 7 and 9 left open by the caller (no close-on-exec), as a careless parent does.
                string script = $"exec 7</etc/hostname 9>>{dir}/leak; exec {TestEnvironment.Husk} run \"$@\" -- /usr/bin/python3 {kit}";
                var env = new Dictionary<string, string> { ["HOME"] = home, ["HUSK_ESCAPE"] = json };
                var r = TestEnvironment.Exec("/bin/sh", ["-c", script, "sh"], env: env, timeoutMs: 120_000);
                Assert.True(r.Code == 0, $"the kit failed: {r.Stderr}");
                var outcomes = JsonSerializer.Deserialize(r.Stdout, EscapeJson.Default.DictionaryStringProbeResult)!;
                var shared = TestEnvironment.Exec("/bin/sh", ["-c", script, "sh", "--share-net"], env: env, timeoutMs: 120_000);
                var sharedOutcome = shared.Code == 0 ? JsonSerializer.Deserialize(shared.Stdout, EscapeJson.Default.DictionaryStringProbeResult)!.GetValueOrDefault("abstract_socket") : null;
                return new Attempt
                {
                    Outcomes = outcomes,
                    Raw = r.Stdout,
                    HostProcessDied = sleeper.HasExited,
                    HuskHashBefore = before,
                    HuskHashAfter = Hash(TestEnvironment.Husk),
                    SharedNet = sharedOutcome,
                    SharedNetError = shared.Stderr,
                };
            }
            finally
            {
                sleeper.Kill();
                TestEnvironment.DeleteTree(dir);
            }
        }
    }
}

/// <summary>The same attempts with husk run started by root (its payload is root inside, mapped to a subordinate range).</summary>
[Trait("Category", "Root")]
public class EscapeTestsAsRoot : EscapeTests
{
    protected override bool AsRoot => true;
}

/// <summary>What the kit says of one technique.</summary>
internal sealed record ProbeResult(string Outcome, string[] Errnos, string Note);

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, ProbeResult>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, int>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class EscapeJson : System.Text.Json.Serialization.JsonSerializerContext;
