using System.Text;
using System.Text.Json;

namespace Husk.Tests;

/// <summary>
/// Warm sandboxes (<see cref="SandboxPool"/>): runs from a template are as isolated and as walled
/// as cold ones, and nothing of a pool outlives it.
/// </summary>
public class PoolTests
{
    private static SandboxSpec Shell(string script) => TestEnvironment.Spec("/bin/sh", "-c", script) with
    {
        StandardOutput = StdioMode.Pipe,
        StandardError = StdioMode.Pipe,
    };

    private static string Out(SandboxResult result)
    {
        Assert.True(result.StandardOutput is not null, $"{result.Verdict}: {result.Message}");
        return Encoding.UTF8.GetString(result.StandardOutput);
    }

    /// <summary>Runs <paramref name="spec"/> from <paramref name="pool"/>, its stdout a pipe given as fd 1 (as <see cref="TestEnvironment.Run"/> does cold).</summary>
    private static (SandboxExit Exit, string Stdout) RunPooled(SandboxPool pool, SandboxSpec spec)
    {
        var (read, write) = Interop.Interop.Pipe();
        using (read)
        {
            spec = spec with { Fds = [.. spec.Fds, new FdMapping(Descriptors.Borrow(write.Fd), 1)] };
            SandboxProcess process;
            using (write)
                process = pool.Start(spec);
            using (process)
            {
                using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(read.Release(), true), FileAccess.Read);
                string output = new StreamReader(stream, Encoding.UTF8).ReadToEnd();
                return (process.WaitForExit(), output);
            }
        }
    }

    [Fact]
    public async Task A_run_from_a_pool_runs_its_payload_and_its_exit_code_comes_back()
    {
        using var pool = new SandboxPool();
        var result = await pool.RunAsync(Shell("echo hello; exit 3"), TestContext.Current.CancellationToken);
        Assert.Equal("hello\n", Out(result));
        Assert.Equal(3, result.Exit!.ExitCode);
        Assert.Equal(1, pool.TemplateCount);
    }

    /// <summary>
    /// Each run leaves files in its /tmp and in /dev/shm, a SysV message queue and semaphore, and a
    /// process in the background; the next run of the same template sees none of them. (Namespace
    /// numbers cannot tell: the kernel reuses a freed namespace's inode number.)
    /// </summary>
    [Fact]
    public async Task Nothing_of_one_run_is_visible_to_the_next()
    {
        using var pool = new SandboxPool();
        var spec = Shell("""
            echo "files:$(ls -A /tmp /dev/shm | tr -d '\n')"
            echo "sleepers:$(cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$')"
            echo "ipc:$(tail -n +2 /proc/sysvipc/msg | wc -l),$(tail -n +2 /proc/sysvipc/sem | wc -l)"
            touch /tmp/left-behind /dev/shm/left-behind || exit 8
            ipcmk -Q >/dev/null && ipcmk -S 1 >/dev/null || exit 9
            sleep 1000 &
            """) with { Mounts = [.. TestEnvironment.Spec().Mounts, new TmpfsMount("/dev/shm")] };
        var seen = new List<Dictionary<string, string>>();
        for (int i = 0; i < 3; i++)
        {
            var result = await pool.RunAsync(spec, TestContext.Current.CancellationToken);
            Assert.Equal(0, result.Exit!.ExitCode);
            seen.Add(Out(result).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1]));
        }
        foreach (var run in seen)
        {
            Assert.Equal("/dev/shm:/tmp:", run["files"].Replace(" ", ""));
            Assert.Equal("0,0", run["ipc"]);
        }
        // No sleeper of an earlier run (counting every process raced the pipeline's own: 4 or 5).
        Assert.All(seen, run => Assert.Equal("0", run["sleepers"]));
        Assert.Equal(1, pool.TemplateCount);
    }

    /// <summary>
    /// Two runs of one template at the same time: the first waits on its standard input (after
    /// leaving a file in its /tmp) while the second runs to its end; each gets its own output,
    /// and the second does not see the first's file.
    /// </summary>
    [Fact]
    public async Task Two_runs_of_one_pool_at_once_both_complete_with_their_own_output()
    {
        using var pool = new SandboxPool();
        var first = TestEnvironment.Spec("/bin/sh", "-c", "touch /tmp/first; echo ready; read x; echo \"first:$x:$(ls -A /tmp)\"");
        using (var running = TestEnvironment.StartPiped(first, pool.Start))
        {
            Assert.Equal("ready", running.Output.ReadLine());
            var second = await pool.RunAsync(Shell("echo \"second:$(ls -A /tmp)\""), TestContext.Current.CancellationToken);
            Assert.Equal("second:\n", Out(second));
            Assert.Equal(0, second.Exit!.ExitCode);
            running.Write("go\n");
            running.CloseInput();
            Assert.Equal("first:go:first\n", running.Output.ReadToEnd());
            Assert.Equal(0, running.Process.WaitForExit().ExitCode);
        }
        Assert.Equal(1, pool.TemplateCount);
    }

    /// <summary>
    /// Runs started at once from one template: the template clones each from a thread of its own
    /// and answers as each execs, not in the order asked, so each answer must find its asker by
    /// id. Each run's pidfd (what kills it) must be its own: killing one ends that one alone.
    /// </summary>
    [Fact]
    public async Task Runs_started_at_once_each_get_their_own_pidfd()
    {
        using var pool = new SandboxPool();
        const int count = 6;
        var started = await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(() =>
            pool.Start(TestEnvironment.Spec("/bin/sh", "-c", "exec sleep 60") with { StandardOutput = StdioMode.Pipe }))));
        try
        {
            // Every run borrowed the template's memory and made it dumpable while it opened its own
            // /proc files; the last one made it not dumpable again. Not dumpable, its /proc files
            // belong to its user namespace's root, unmapped for an unprivileged caller.
            if (!TestEnvironment.IsRoot)
            {
                Assert.Equal(0, Interop.Interop.TryStat($"/proc/{Parent(started[0].Pid)}/environ", out var st));
                Assert.Equal(0u, st.Uid);
            }
            for (int i = 0; i < count; i++)
            {
                started[i].Kill();
                var ended = started[i].WaitForExitAsync(TestContext.Current.CancellationToken);
                Assert.True(await Task.WhenAny(ended, Task.Delay(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken)) == ended, $"run {i} did not end when killed");
                Assert.Equal(9, (await ended).Signal);
                for (int j = i + 1; j < count; j++)
                    Assert.False(started[j].HasExited, $"killing run {i} ended run {j}");
            }
        }
        finally
        {
            foreach (var p in started)
                p.Dispose();
        }
        Assert.Equal(1, pool.TemplateCount);
    }

    /// <summary>
    /// A root caller's pool: with root's default ids the payload is uid 0 inside and, seen from the
    /// host, a subordinate id (never the host's root), as in a cold run; mapping root's own id
    /// (Single) works too.
    /// </summary>
    [Fact]
    [Trait("Category", "Root")]
    public async Task As_root_a_pool_runs_with_roots_default_ids_and_with_one_id()
    {
        Assert.SkipUnless(TestEnvironment.IsRoot, "needs root");
        using var pool = new SandboxPool();
        var probe = TestEnvironment.Spec("/bin/sh", "-c", "echo \"$(id -u):$(id -g)\"; read x || true");
        using (var run = TestEnvironment.StartPiped(probe, pool.Start))
        {
            Assert.Equal("0:0", run.Output.ReadLine());
            var host = File.ReadLines($"/proc/{run.Process.Pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            Assert.DoesNotContain(host.Split('\t', StringSplitOptions.RemoveEmptyEntries).Skip(1), id => id == "0");
            run.CloseInput();
            Assert.Equal(0, run.Process.WaitForExit().ExitCode);
        }
        var single = Shell("echo \"$(id -u):$(id -g)\"") with { Identity = new Identity { Mapping = IdMapping.Single } };
        var result = await pool.RunAsync(single, TestContext.Current.CancellationToken);
        Assert.Equal(0, result.Exit?.ExitCode);
        Assert.Equal("0:0\n", Out(result));
        Assert.Equal(2, pool.TemplateCount);
    }

    /// <summary>The walls of a realistic spec, as the payload sees them.</summary>
    private static SandboxSpec Walled() => TestEnvironment.Spec() with
    {
        Seccomp = SeccompSpec.Default,
        Landlock = LandlockSpec.Default,
        NestedUserNamespaces = NestedUserNamespaces.Deny,
        Limits = new ResourceLimits
        {
            CpuTime = TimeSpan.FromSeconds(5),
            WallTime = TimeSpan.FromSeconds(30),
            MemoryBytes = 256 << 20,
            Processes = 64,
            OutputBytes = 1 << 20,
            StackBytes = 8 << 20,
        },
    };

    /// <summary>
    /// bwrap's walls, as the benches run them: no limits, no seccomp filter, no Landlock, nested
    /// user namespaces allowed. The template keeps every capability to build runs, and nothing
    /// of the walls but the capability op stands between them and the payload.
    /// </summary>
    private static SandboxSpec Open() => TestEnvironment.Spec() with
    {
        Seccomp = SeccompSpec.None,
        Landlock = LandlockSpec.Off,
        NestedUserNamespaces = NestedUserNamespaces.Allow,
    };

    /// <summary>What of the probe's report is policy: everything but the numbers of namespaces and processes.</summary>
    private static string Policy(JsonElement probe)
    {
        var text = new StringBuilder();
        foreach (string key in new[] { "uid", "euid", "gid", "egid", "umask", "hostname", "cwd", "uid_map", "gid_map", "limits", "fds", "access", "mounts" })
            text.Append(key).Append('=').Append(probe.GetProperty(key).GetRawText()).Append('\n');
        // The probe lists the environment in its runtime's order.
        foreach (var e in probe.GetProperty("env").EnumerateObject().OrderBy(e => e.Name, StringComparer.Ordinal))
            text.Append("env ").Append(e.Name).Append('=').Append(e.Value.GetString()).Append('\n');
        var status = probe.GetProperty("status");
        foreach (string key in new[] { "NoNewPrivs", "Seccomp", "Seccomp_filters", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Groups", "Speculation_Store_Bypass" })
            text.Append(key).Append('=').Append(status.TryGetProperty(key, out var v) ? v.GetString() : "(none)").Append('\n');
        return text.ToString();
    }

    /// <summary>
    /// Every way into a sandbox carries one policy: a cold launch, the library's run, and a
    /// pool's start and run give the payload the same ids, capabilities, no_new_privs, seccomp
    /// filters, Landlock walls, rlimits, mounts, descriptors and environment.
    /// </summary>
    [Theory]
    [InlineData("walled")]
    [InlineData("open")]
    public async Task Every_path_into_a_sandbox_carries_the_same_policy(string walls)
    {
        string[] probe = [TestEnvironment.Probe, "--write", "/tmp", "--write", "/etc/hostname", "--read", "/etc/hostname", "--exec", "/bin/sh", "--write", TestEnvironment.Artifacts];
        var spec = (walls == "walled" ? Walled() : Open()) with { Command = [.. probe] };
        using var pool = new SandboxPool();
        var runSpec = spec with { StandardOutput = StdioMode.Pipe };
        string cold = Policy(TestEnvironment.RunProbe(spec, probe[1..]));
        string library = Policy(JsonDocument.Parse(Out(await Sandbox.RunAsync(runSpec, TestContext.Current.CancellationToken))).RootElement);
        var (exit, output) = RunPooled(pool, spec);
        Assert.Equal(0, exit.ExitCode);
        string pooled = Policy(JsonDocument.Parse(output).RootElement);
        string pooledRun = Policy(JsonDocument.Parse(Out(await pool.RunAsync(runSpec, TestContext.Current.CancellationToken))).RootElement);
        // The walls are really there, so that equal means equally walled.
        Assert.Contains("NoNewPrivs=1", cold);
        foreach (string set in new[] { "CapEff", "CapPrm", "CapInh", "CapAmb" })
            Assert.Contains($"{set}=0000000000000000", cold);
        Assert.Contains("\"write:/tmp\":true", cold);
        if (walls == "walled")
        {
            Assert.Contains("Seccomp=2", cold);
            Assert.Contains($"\"write:{TestEnvironment.Artifacts}\":false", cold);
            Assert.Contains("Max processes", cold);
        }
        else
        {
            // The template keeps every capability for building runs: none may reach the payload.
            Assert.Contains("Seccomp=0", cold);
            Assert.Contains("CapBnd=0000000000000000", cold);
        }
        Assert.Equal(cold, library);
        if (walls == "open" && TestEnvironment.IsRoot)
        {
            // Root's payload is uid 0 of a subordinate range; a pool maps the one id of it the
            // payload is (PoolPlanner.OneOfRange), and each run is in a user namespace of its own
            // mapping it to itself. (Walled, a cold run is in such a nested namespace too.)
            Assert.Contains("uid_map=\"0          0          1\"", pooled);
            cold = WithoutMaps(cold);
            pooled = WithoutMaps(pooled);
            pooledRun = WithoutMaps(pooledRun);
        }
        Assert.Equal(cold, pooled);
        Assert.Equal(cold, pooledRun);

        static string WithoutMaps(string policy) =>
            string.Join('\n', policy.Split('\n').Where(l => !l.StartsWith("uid_map=", StringComparison.Ordinal) && !l.StartsWith("gid_map=", StringComparison.Ordinal)));
    }

    /// <summary>A process's pidfd, opened while it runs, so that its end can be awaited without racing pid reuse.</summary>
    private static Interop.SafePidfd Watch(int pid) => Interop.Interop.PidfdOpen(pid) ?? throw new InvalidOperationException($"process {pid} is already gone");

    /// <summary>Whether the process behind <paramref name="pidfd"/> ends within <paramref name="seconds"/> (a bound, not a delay: it returns as soon as it ends).</summary>
    private static unsafe bool Ends(Interop.SafePidfd pidfd, int seconds)
    {
        var fd = new Interop.Interop.PollFd { Fd = pidfd.Fd, Events = Interop.Interop.POLLIN };
        return Interop.Interop.Poll(&fd, 1, seconds * 1000) == 1;
    }

    /// <summary>The parent of <paramref name="pid"/> (from /proc, in our pid namespace).</summary>
    private static int Parent(int pid) =>
        int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("PPid:", StringComparison.Ordinal))[5..].Trim());

    [Fact]
    public void Disposing_a_pool_ends_its_template_and_every_run()
    {
        var pool = new SandboxPool();
        using var process = pool.Start(TestEnvironment.Spec("/bin/sleep", "1000"));
        using var run = Watch(process.Pid);
        using var template = Watch(Parent(process.Pid));
        Assert.False(Ends(run, 0));
        pool.Dispose();
        Assert.True(Ends(template, 30), "the template outlived its pool");
        Assert.True(Ends(run, 30), "a run outlived its pool");
        Assert.Equal(9, process.WaitForExit().Signal);
        Assert.Throws<ObjectDisposedException>(() => pool.Start(TestEnvironment.Spec("/bin/true")));
    }

    [Fact]
    public void Killing_a_pools_owner_with_SIGKILL_ends_its_template_and_every_run()
    {
        var psi = new System.Diagnostics.ProcessStartInfo(TestEnvironment.Probe, "pool-owner")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using var owner = System.Diagnostics.Process.Start(psi)!;
        try
        {
            int sleeper = int.Parse(owner.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the pool's owner printed nothing"));
            int templatePid = Parent(sleeper);
            Assert.NotEqual(owner.Id, templatePid);
            using var run = Watch(sleeper);
            using var template = Watch(templatePid);
            owner.Kill();
            Assert.True(owner.WaitForExit(30_000));
            Assert.True(Ends(template, 30), "the template outlived its owner");
            Assert.True(Ends(run, 30), "a run outlived its pool's owner");
        }
        finally
        {
            if (!owner.HasExited)
                owner.Kill();
        }
    }
}
