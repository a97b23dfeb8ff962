using System.Globalization;
using System.Text.Json;
using static Husk.Interop.Interop;

namespace Husk.Tests.Oci;

/// <summary>
/// Real engines driving husk-runtime (issue 12, item 4): podman as root and rootless, and containerd
/// through ctr, on one busybox-static image imported from a rootfs tarball (containerd gets it as an
/// OCI archive). Each test runs several checks per container to stay quick, and ends by looking for
/// anything left running or mounted. Debian's podman, conmon, containerd and busybox-static are
/// needed (.ci/run installs them); the tests say so and skip where one is missing. Alone:
/// containerd mounts each task's root in the host's mount namespace and removes it at the end, and
/// a root sandbox started meanwhile (another test's) plans that mount as a layer of its view and
/// can find it gone when it attaches it (seen once in CI).
/// </summary>
[Collection(ProcessWideStateCollection.ProcessWideState)]
public class OciEngineTests
{
    private const string Image = "localhost/husk-busybox:latest";

    private static void NeedRootAnd(params string[] tools)
    {
        if (OciBundle.Busybox is null)
            Assert.Skip("needs a static busybox (Debian package busybox-static)");
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root (an engine's storage and cgroups as root; a throwaway user for rootless podman)");
        foreach (string tool in tools)
        {
            if (!EngineScratch.Installed(tool))
                Assert.Skip($"needs {tool} (Debian: {Package(tool)})");
        }
    }

    private static string Package(string tool) => tool switch
    {
        "ctr" or "containerd-shim-runc-v2" => "containerd",
        "newuidmap" => "uidmap",
        "script" or "setpriv" or "unshare" => "util-linux",
        _ => tool,
    };

    /// <summary>The containers.conf snippet of docs/kubernetes.md, with the built runtime's path, plus a log driver podman logs can read without journald.</summary>
    private static string ContainersConf() =>
        DocSnippet("podman containers.conf").Replace("/usr/local/bin/husk-runtime", OciBundle.Runtime, StringComparison.Ordinal)
        + "\n[containers]\nlog_driver = \"k8s-file\"\n";

    /// <summary>The fenced block after <c>&lt;!-- checked: NAME --&gt;</c> in docs/kubernetes.md.</summary>
    internal static string DocSnippet(string name)
    {
        string doc = File.ReadAllText(Path.Combine(TestEnvironment.Repository, "docs", "kubernetes.md"));
        int marker = doc.IndexOf($"<!-- checked: {name} -->", StringComparison.Ordinal);
        Assert.True(marker >= 0, $"docs/kubernetes.md has no block marked \"checked: {name}\"");
        int open = doc.IndexOf('\n', doc.IndexOf("```", marker, StringComparison.Ordinal)) + 1;
        int close = doc.IndexOf("\n```", open, StringComparison.Ordinal);
        return doc[open..(close + 1)];
    }

    /// <summary>
    /// podman's limits for root: its defaults (1048576 files and processes) need CAP_SYS_RESOURCE,
    /// which root lacks in some VMs, so they are kept within the hard limits husk-runtime inherits.
    /// </summary>
    private static string[] RootUlimits()
    {
        long Hard(string name)
        {
            string line = File.ReadAllLines("/proc/self/limits").First(l => l.StartsWith(name, StringComparison.Ordinal));
            string value = line[name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
            return value == "unlimited" ? long.MaxValue : long.Parse(value, CultureInfo.InvariantCulture);
        }
        long files = Math.Min(Hard("Max open files"), 1048576), processes = Math.Min(Hard("Max processes"), 32768);
        return ["--ulimit", $"nofile={files}:{files}", "--ulimit", $"nproc={processes}:{processes}"];
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Podman_as_root_runs_its_containers_with_husk_runtime_named_in_containers_conf()
    {
        NeedRootAnd("podman", "conmon", "script");
        using var scratch = new EngineScratch("pr");
        using var podman = Podman.AsRoot(scratch, ContainersConf());
        // The runtime as the docs' containers.conf names it. Its state is in its default root: podman
        // 4.3 gives --runtime-flag to its own calls but not to the cleanup conmon starts.
        string[] runtime = ["--runtime", "husk"];
        string[] run = [.. runtime, "run", "--network", "none", .. RootUlimits()];
        var cgroupsBefore = PodmanCgroups();
        CheckContainers(podman, scratch.Tarball, runtime, run);

        // runtime_supports_json took effect: podman passed --log-format=json --log, and read the error back.
        podman.Ok([.. runtime, "create", "--network", "none", .. RootUlimits(), "--name", "fails", Image, "/no/such"]);
        var failed = podman.Run([.. runtime, "start", "fails"]);
        Assert.NotEqual(0, failed.Code);
        Assert.Contains("husk: execvp /no/such: No such file or directory", failed.Stderr, StringComparison.Ordinal);
        string id = podman.Ok([.. runtime, "inspect", "--format", "{{.Id}}", "fails"]);
        string ociLog = Path.Combine(podman.Home, "rr", "vfs-containers", id, "userdata", "oci-log");
        var entry = JsonDocument.Parse(File.ReadAllText(ociLog)).RootElement;
        Assert.Equal("error", entry.GetProperty("level").GetString());
        podman.Ok([.. runtime, "rm", "fails"]);

        // Root only: --memory and --pids-limit as the container's cgroup shows them, pause and unpause.
        var limited = podman.Run([.. run, "--rm", "--memory", "64m", "--pids-limit", "32", Image, "sh", "-c",
            "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; " +
            "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"]);
        Assert.True(limited.Code == 0, limited.Stderr);
        Assert.Equal("67108864\n32\n", limited.Stdout);
        podman.Ok([.. run, "-d", "--name", "paused", Image, "sleep", "1000"]);
        podman.Ok([.. runtime, "pause", "paused"]);
        Assert.Equal("paused", podman.Ok([.. runtime, "inspect", "--format", "{{.State.Status}}", "paused"]));
        podman.Ok([.. runtime, "unpause", "paused"]);
        Assert.Equal("running", podman.Ok([.. runtime, "inspect", "--format", "{{.State.Status}}", "paused"]));
        podman.Ok([.. runtime, "rm", "--force", "--time", "0", "paused"]);

        Assert.Equal("", podman.Ok([.. runtime, "ps", "--all", "--quiet"]));
        Assert.Empty(scratch.Leftovers().Concat(scratch.RuntimeStates("/run/husk-runtime")));
        Assert.Equal(cgroupsBefore, PodmanCgroups());
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Podman_rootless_runs_its_containers_with_husk_runtime_as_a_throwaway_user()
    {
        NeedRootAnd("podman", "conmon", "script", "newuidmap", "newgidmap", "setpriv", "unshare");
        using var scratch = new EngineScratch("pu");
        using var podman = Podman.AsThrowawayUser(scratch, ContainersConf());
        // By path: podman then passes no global flags (the basename is not in runtime_supports_json).
        string[] runtime = ["--runtime", OciBundle.Runtime];
        string[] run = [.. runtime, "run", "--network", "none"];
        CheckContainers(podman, scratch.Tarball, runtime, run);
        // The runtime ran as root of podman's user namespace, which maps the user's subordinate ids.
        var ids = podman.Run([.. run, "--rm", Image, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
        Assert.True(ids.Code == 0, ids.Stderr);
        string[] lines = ids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", lines[0]);
        Assert.Contains(lines.Skip(1), l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is [_, "1600000000", "65536"]);

        Assert.Equal("", podman.Ok([.. runtime, "ps", "--all", "--quiet"]));
        podman.Dispose(); // its pause process goes too
        Assert.Empty(scratch.Leftovers().Concat(scratch.RuntimeStates(Path.Combine(podman.Home, "run", "husk-runtime"))));
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Containerd_runs_the_image_as_an_oci_archive_with_husk_runtime_as_its_runc_binary()
    {
        NeedRootAnd("podman", "containerd", "ctr", "containerd-shim-runc-v2", "script");
        using var scratch = new EngineScratch("ctd");
        string archive = Path.Combine(scratch.Directory, "busybox-oci.tar");
        using (var podman = Podman.AsRoot(scratch, ContainersConf()))
        {
            podman.Ok("import", scratch.Tarball, Image);
            podman.Ok("save", "--format", "oci-archive", "--output", archive, Image);
        }

        // The docs' snippet as containerd reads it: the CRI plugin's runtime "husk" on the runc shim.
        string header = $"version = 2\nroot = \"{scratch.Directory}/root\"\nstate = \"{scratch.Directory}/state\"\n" +
            $"[grpc]\n  address = \"{scratch.Directory}/containerd.sock\"\n[ttrpc]\n  address = \"{scratch.Directory}/containerd.sock.ttrpc\"\n";
        string snippet = Path.Combine(scratch.Directory, "snippet.toml");
        File.WriteAllText(snippet, header + DocSnippet("containerd config.toml").Replace("/usr/local/bin/husk-runtime", OciBundle.Runtime, StringComparison.Ordinal));
        var dump = TestEnvironment.Exec("containerd", ["--config", snippet, "config", "dump"]);
        Assert.True(dump.Code == 0, dump.Stderr);
        string husk = dump.Stdout[dump.Stdout.IndexOf("containerd.runtimes.husk]", StringComparison.Ordinal)..];
        Assert.Contains("runtime_type = \"io.containerd.runc.v2\"", husk[..husk.IndexOf("\n\n", StringComparison.Ordinal)], StringComparison.Ordinal);
        Assert.Contains($"BinaryName = \"{OciBundle.Runtime}\"", husk, StringComparison.Ordinal);

        // The daemon itself without the CRI plugin (nothing here talks CRI), its files in the scratch directory.
        string config = Path.Combine(scratch.Directory, "config.toml");
        File.WriteAllText(config, header + "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n");
        using var daemon = new Containerd(scratch, config);
        // A namespace of this test's own: ctr names the container's cgroup /NAMESPACE/ID after it.
        string ns = Path.GetFileName(scratch.Directory);
        using var cgroupParents = new CgroupParents(ns);
        string[] ctr = ["-a", daemon.Socket, "-n", ns];
        string runcRoot = Path.Combine(scratch.Directory, "runc");
        string[] run = ["run", "--runc-binary", OciBundle.Runtime, "--runc-root", runcRoot];
        var imported = TestEnvironment.Exec("ctr", [.. ctr, "images", "import", "--base-name", "localhost/husk-busybox", archive]);
        Assert.True(imported.Code == 0, imported.Stderr);

        var status = TestEnvironment.Exec("ctr", [.. ctr, .. run, "--rm", Image, "c1", "sh", "-c", "echo out; exit 5"]);
        Assert.Equal((5, "out\n"), (status.Code, status.Stdout));

        // The shim reads the error from the runtime's --log (JSON lines; their time as Go parses it).
        var missing = TestEnvironment.Exec("ctr", [.. ctr, .. run, "--rm", Image, "c4", "/no/such"]);
        Assert.NotEqual(0, missing.Code);
        Assert.Contains("OCI runtime create failed: execvp /no/such: No such file or directory", missing.Stderr, StringComparison.Ordinal);

        var tty = TestEnvironment.Exec("script", ["-qec", string.Join(' ', ((string[])["ctr", .. ctr, .. run, "--rm", "-t", Image, "c2", "sh", "-c", "tty; exit 4"]).Select(EngineScratch.Quote)), "/dev/null"]);
        Assert.Equal(4, tty.Code);
        Assert.Contains("/dev/pts/0", tty.Stdout, StringComparison.Ordinal);

        // Detached: exec, ps (ps --format json), pause and resume, kill (TERM, which the trap turns into 9), rm.
        var detached = TestEnvironment.Exec("ctr", [.. ctr, .. run, "-d", Image, "c3", "sh", "-c", "trap 'exit 9' TERM; while :; do sleep 1000 & wait; done"]);
        Assert.True(detached.Code == 0, detached.Stderr);
        var exec = TestEnvironment.Exec("ctr", [.. ctr, "task", "exec", "--exec-id", "e1", "c3", "sh", "-c", "echo in-exec; exit 3"]);
        Assert.Equal((3, "in-exec\n"), (exec.Code, exec.Stdout));
        var ps = TestEnvironment.Exec("ctr", [.. ctr, "task", "ps", "c3"]);
        Assert.True(ps.Code == 0, ps.Stderr);
        Assert.True(ps.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length >= 3, ps.Stdout); // a header, the init and its sleep
        Assert.Equal(0, TestEnvironment.Exec("ctr", [.. ctr, "task", "pause", "c3"]).Code);
        Assert.Equal("PAUSED", TaskStatus(ctr, "c3"));
        Assert.Equal(0, TestEnvironment.Exec("ctr", [.. ctr, "task", "resume", "c3"]).Code);
        Assert.Equal("RUNNING", TaskStatus(ctr, "c3"));
        Assert.Equal(0, TestEnvironment.Exec("ctr", [.. ctr, "task", "kill", "c3"]).Code);
        var stopped = System.Diagnostics.Stopwatch.StartNew();
        while (TaskStatus(ctr, "c3") != "STOPPED")
        {
            Assert.True(stopped.Elapsed < TimeSpan.FromSeconds(20), "c3 did not stop after SIGTERM");
            Thread.Sleep(100);
        }
        var removed = TestEnvironment.Exec("ctr", [.. ctr, "task", "rm", "c3"]);
        Assert.True(removed.Code == 0, removed.Stderr);
        Assert.Contains("exit code 9", removed.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, TestEnvironment.Exec("ctr", [.. ctr, "containers", "rm", "c3"]).Code);

        daemon.Stop();
        Assert.Empty(scratch.Leftovers().Concat(scratch.RuntimeStates(Path.Combine(runcRoot, ns))));
        // delete removes the container's own cgroup; its parent /NAMESPACE stays, as runc leaves it.
        Assert.Empty(cgroupParents.Directories().SelectMany(Directory.GetDirectories));
    }

    /// <summary>The cgroup directories named NAME at the top of every hierarchy, removed (when empty) at the end.</summary>
    private sealed class CgroupParents(string name) : IDisposable
    {
        public IEnumerable<string> Directories() =>
            new[] { "/sys/fs/cgroup" }.Concat(Directory.GetDirectories("/sys/fs/cgroup")).Select(h => Path.Combine(h, name)).Where(Directory.Exists);

        public void Dispose()
        {
            foreach (string dir in Directories().ToList())
            {
                try
                {
                    Directory.Delete(dir);
                }
                catch (IOException)
                {
                    // not empty: the assertion above said so
                }
            }
        }
    }

    /// <summary>A task's status as ctr task ls shows it, or "" when it has none.</summary>
    private static string TaskStatus(string[] ctr, string id) =>
        TestEnvironment.Exec("ctr", [.. ctr, "task", "ls"]).Stdout.Split('\n')
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .FirstOrDefault(f => f.Length == 3 && f[0] == id)?[2] ?? "";

    [Fact]
    public void The_runtime_class_names_the_handler_the_engine_snippets_define()
    {
        if (!File.Exists("/usr/bin/python3") || TestEnvironment.Exec("/usr/bin/python3", ["-c", "import yaml"]).Code != 0)
            Assert.Skip("needs python3 with PyYAML (Debian: python3-yaml) to read the YAML");
        // PyYAML reads the documents (so the YAML is valid) and hands them over as JSON.
        var parsed = TestEnvironment.Exec("/usr/bin/python3", ["-c", "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(sys.stdin))))"],
            stdin: DocSnippet("RuntimeClass"));
        Assert.True(parsed.Code == 0, parsed.Stderr);
        var docs = JsonDocument.Parse(parsed.Stdout).RootElement.EnumerateArray().ToList();
        var runtimeClass = docs.Single(d => d.GetProperty("kind").GetString() == "RuntimeClass");
        var pod = docs.Single(d => d.GetProperty("kind").GetString() == "Pod");
        Assert.Equal("node.k8s.io/v1", runtimeClass.GetProperty("apiVersion").GetString());
        string handler = runtimeClass.GetProperty("handler").GetString()!;
        Assert.Equal(runtimeClass.GetProperty("metadata").GetProperty("name").GetString(), pod.GetProperty("spec").GetProperty("runtimeClassName").GetString());
        Assert.Contains($"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{handler}]", DocSnippet("containerd config.toml"), StringComparison.Ordinal);
        string doc = File.ReadAllText(Path.Combine(TestEnvironment.Repository, "docs", "kubernetes.md"));
        Assert.Contains($"[crio.runtime.runtimes.{handler}]", doc, StringComparison.Ordinal);
    }

    /// <summary>
    /// The checks both podman modes share: output, exit status, stdin, a terminal, a detached
    /// container with exec, logs, signals and stop, kill, rm, and one container with binds, a
    /// read-only root, a dropped capability and a seccomp profile.
    /// </summary>
    private static void CheckContainers(Podman podman, string tarball, string[] runtime, string[] run)
    {
        var imported = podman.Run("import", tarball, Image);
        Assert.True(imported.Code == 0, imported.Stderr);

        var status = podman.Run([.. run, "--rm", Image, "sh", "-c", "echo out; echo err >&2; exit 7"]);
        Assert.Equal(7, status.Code);
        Assert.Equal("out\n", status.Stdout);
        Assert.Contains("err", status.Stderr, StringComparison.Ordinal);

        var stdin = podman.RunWithInput("through stdin\n", [.. run, "--rm", "-i", Image, "cat"]);
        Assert.True(stdin.Code == 0, stdin.Stderr);
        Assert.Equal("through stdin\n", stdin.Stdout);

        var tty = podman.OnTerminal([.. run, "--rm", "-t", Image, "sh", "-c", "tty; exit 3"]);
        Assert.Equal(3, tty.Code);
        Assert.Contains("/dev/pts/0", tty.Output, StringComparison.Ordinal);

        // Detached: USR1 comes back as a line (podman passes signals as numbers), TERM ends it.
        podman.Ok([.. run, "-d", "--name", "detached", Image, "sh", "-c",
            "trap 'echo got-usr1' USR1; trap 'echo stopping; exit 0' TERM; echo started; while :; do sleep 1000 & wait; done"]);
        Assert.True(podman.WaitForLog("detached", "started"), podman.Run("logs", "detached").Stderr);
        var exec = podman.Run([.. runtime, "exec", "detached", "sh", "-c", "echo in-exec; exit 4"]);
        Assert.Equal((4, "in-exec\n"), (exec.Code, exec.Stdout));
        var execStdin = podman.RunWithInput("exec stdin\n", [.. runtime, "exec", "-i", "detached", "cat"]);
        Assert.Equal((0, "exec stdin\n"), (execStdin.Code, execStdin.Stdout));
        var execTty = podman.OnTerminal([.. runtime, "exec", "-t", "detached", "tty"]);
        Assert.Equal(0, execTty.Code);
        Assert.Contains("/dev/pts/", execTty.Output, StringComparison.Ordinal);
        podman.Ok([.. runtime, "kill", "--signal", "USR1", "detached"]);
        Assert.True(podman.WaitForLog("detached", "got-usr1"), podman.Run("logs", "detached").Stdout);
        podman.Ok([.. runtime, "stop", "--time", "20", "detached"]);
        Assert.Contains("stopping", podman.Ok("logs", "detached"), StringComparison.Ordinal);
        Assert.Equal("0", podman.Ok("inspect", "--format", "{{.State.ExitCode}}", "detached"));
        podman.Ok([.. runtime, "rm", "detached"]);

        podman.Ok([.. run, "-d", "--name", "killed", Image, "sleep", "1000"]);
        podman.Ok([.. runtime, "kill", "killed"]);
        Assert.Equal("137", podman.Ok([.. runtime, "wait", "killed"]));
        podman.Ok([.. runtime, "rm", "killed"]);

        // Binds (read-write and read-only), a read-only root (podman adds a tmpfs /tmp), CAP_CHOWN
        // dropped, and a seccomp profile that makes mkdir fail with EPERM.
        string shared = podman.MakeDirectory("shared");
        File.WriteAllText(Path.Combine(shared, "from-host"), "host\n");
        string readOnly = podman.MakeDirectory("read-only");
        string seccomp = Path.Combine(podman.Home, "seccomp.json");
        File.WriteAllText(seccomp, """
            {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
            """);
        var walls = podman.Run([.. run, "--rm", "-v", $"{shared}:/shared", "-v", $"{readOnly}:/ro:ro", "--read-only",
            "--cap-drop", "CAP_CHOWN", "--security-opt", $"seccomp={seccomp}", Image, "sh", "-c",
            "cat /shared/from-host; echo container > /shared/from-container; " +
            "echo x 2>/dev/null > /ro/x || echo ro-bind; touch /x 2>/dev/null || echo ro-root; touch /tmp/y && echo tmp-ok; " +
            "mkdir /tmp/d 2>/dev/null || echo no-mkdir; chown 5 /tmp/y 2>/dev/null || echo no-chown"]);
        Assert.True(walls.Code == 0, walls.Stderr);
        Assert.Equal("host\nro-bind\nro-root\ntmp-ok\nno-mkdir\nno-chown\n", walls.Stdout);
        Assert.Equal("container\n", File.ReadAllText(Path.Combine(shared, "from-container")));
        Assert.Empty(Directory.GetFileSystemEntries(readOnly));
    }

    /// <summary>The container cgroups podman's cgroupfs manager makes (libpod-ID), in every hierarchy.</summary>
    private static string[] PodmanCgroups() =>
    [
        .. new[] { "/sys/fs/cgroup" }.Concat(Directory.GetDirectories("/sys/fs/cgroup"))
            .Select(h => Path.Combine(h, "libpod_parent")).Where(Directory.Exists)
            .SelectMany(p => Directory.GetDirectories(p, "libpod-*")).Order(StringComparer.Ordinal),
    ];
}
