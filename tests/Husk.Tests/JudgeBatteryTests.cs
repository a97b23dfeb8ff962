using System.Diagnostics;

namespace Husk.Tests;

/// <summary>
/// Programs a judge must survive, each run through the library with limits and held to the
/// verdict a judge expects; afterwards nothing of the sandbox may be left running. Every bomb is
/// bounded by the limits (processes, memory, output, time), so a failing test cannot take the
/// machine down. Run unprivileged (the rlimit backend) and, in <see cref="JudgeBatteryRootTests"/>, as
/// root (cgroup v1 on a hybrid host).
/// </summary>
public abstract class JudgeBattery
{
    /// <summary>Every battery run has these, so no bomb can grow without bound.</summary>
    internal static ResourceLimits Bounded => new()
    {
        CpuTime = TimeSpan.FromSeconds(1),
        WallTime = TimeSpan.FromSeconds(10),
        MemoryBytes = 128 << 20,
        Processes = 32,
        OutputBytes = 1 << 20,
        StackBytes = 8 << 20,
    };

    /// <summary>The probe's judge mode in a sandbox with <paramref name="limits"/>; also returns the name its processes had.</summary>
    /// <param name="limits">The limits.</param>
    /// <param name="mode">The probe's judge mode.</param>
    /// <param name="arg">Its argument.</param>
    /// <param name="identity">Who the payload is, when not the caller.</param>
    /// <param name="run">How the sandbox is run: cold (<see cref="Sandbox.RunAsync"/>) by default.</param>
    internal static async Task<(SandboxResult Result, string Name)> Judge(ResourceLimits limits, string mode, string? arg = null, Identity? identity = null,
        Func<SandboxSpec, CancellationToken, Task<SandboxResult>>? run = null)
    {
        string name = "hj" + Guid.NewGuid().ToString("N")[..10];
        string[] command = arg is null ? [TestEnvironment.Probe, "judge", mode, "--name", name] : [TestEnvironment.Probe, "judge", mode, arg, "--name", name];
        var spec = TestEnvironment.Spec(command) with
        {
            Limits = limits,
            StandardOutput = StdioMode.Pipe,
            StandardError = StdioMode.Pipe,
        };
        if (identity is not null)
            spec = spec with { Identity = identity };
        var result = await (run ?? Sandbox.RunAsync)(spec, TestContext.Current.CancellationToken);
        return (result, name);
    }

    /// <summary>Processes whose name is <paramref name="name"/> (the probe's --name, inherited by its children).</summary>
    internal static List<int> Survivors(string name)
    {
        var found = new List<int>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(dir), out int pid) && File.ReadAllText(Path.Combine(dir, "comm")).Trim() == name)
                    found.Add(pid);
            }
            catch (IOException)
            {
            }
        }
        return found;
    }

    /// <summary>Runs a sandbox to its end: cold here, from a pool in <see cref="JudgePoolBatteryTests"/>.</summary>
    protected virtual Task<SandboxResult> Run(SandboxSpec spec, CancellationToken cancellationToken) => Sandbox.RunAsync(spec, cancellationToken);

    /// <summary>Skips a test the caller cannot run.</summary>
    protected virtual void Require()
    {
    }

    public static TheoryData<string, string?, string, int?> Battery => new()
    {
        // mode, argument, verdict, signal (null: any, or none)
        { "fork-bomb", null, "TimeLimit", 9 },
        { "thread-bomb", null, "TimeLimit", 9 },
        { "memory-bomb", null, "MemoryLimit", 9 },
        { "mmap-bomb", null, "MemoryLimit", 9 },
        { "recurse", null, "RuntimeError", 11 },
        { "output-flood", null, "OutputLimit", 9 },
        { "file-flood", "/tmp/flood", "OutputLimit", 25 },
        { "loop", null, "TimeLimit", 9 },
        { "sleep", null, "WallTimeLimit", 9 },
        { "pause", null, "WallTimeLimit", 9 },
        { "self-kill", null, "RuntimeError", 9 },
        { "orphan", null, "OK", null },
        // A daemon off the sandbox's stdio, whose exit takes a while (48 MiB to free): gone when the result is.
        { "daemon", null, "OK", null },
        { "read", "/etc/shadow", "RuntimeError", null },
        { "socket", "1.1.1.1:53", "RuntimeError", null },
        { "exit", "3", "RuntimeError", null },
    };

    [Theory]
    [MemberData(nameof(Battery))]
    public async Task Judge_gets_the_right_verdict_and_nothing_survives(string mode, string? arg, string verdict, int? signal)
    {
        Require();
        // Waits end by wall time quickly; the rest are bounded by the other limits.
        var limits = mode is "sleep" or "pause" ? Bounded with { WallTime = TimeSpan.FromMilliseconds(500) } : Bounded;
        var (result, name) = await Judge(limits, mode, arg, run: Run);
        Assert.True(verdict == result.Verdict.ToString(), $"{mode}: {result.Verdict}: {result.Message} ({result.Backend})");
        // Over the CPU limit the supervisor kills (SIGKILL); when its sampling comes late (a bomb
        // busy on every core of a loaded machine), RLIMIT_CPU, one second above the limit, is the
        // backstop (SIGXCPU): the same verdict either way.
        if (signal is 9 && verdict is "TimeLimit")
            Assert.Contains(result.Exit!.Signal, new int?[] { 9, 24 });
        else if (signal is not null)
            Assert.Equal(signal, result.Exit!.Signal);
        Assert.Equal(result.Exit!.ShellStatus, result.Exit.Signal is { } s ? 128 + s : result.Exit.ExitCode);
        Assert.Empty(Survivors(name));
        if (verdict is "TimeLimit")
            Assert.True(result.Usage.CpuTime >= limits.CpuTime, $"{mode}: CPU time {result.Usage.CpuTime}");
        if (verdict is "WallTimeLimit")
            Assert.True(result.Usage.WallTime >= limits.WallTime && result.Usage.WallTime < limits.WallTime + TimeSpan.FromSeconds(3), $"wall {result.Usage.WallTime}");
    }

    [Fact]
    public async Task Output_beyond_the_limit_is_not_passed_on()
    {
        Require();
        var (result, _) = await Judge(Bounded with { OutputBytes = 100_000 }, "output-flood", run: Run);
        Assert.Equal(Verdict.OutputLimit, result.Verdict);
        Assert.Equal(100_000, result.StandardOutput!.Length);
        Assert.True(result.Usage.StdoutBytes >= 100_000);
    }

    [Fact]
    public async Task Setuid_fails_inside()
    {
        Require();
        var (result, _) = await Judge(Bounded, "setuid", identity: new Identity { Uid = 1000, Gid = 1000 }, run: Run);
        Assert.Equal(Verdict.RuntimeError, result.Verdict);
        Assert.Equal(1, result.Exit!.ExitCode);
        Assert.Equal("AT", result.LibsandboxCode);
    }

    [Fact]
    public async Task Kill_all_reaches_nothing_outside()
    {
        Require();
        // A process of the same user outside the sandbox: kill(-1) inside must not reach it.
        using var sentinel = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            var (result, _) = await Judge(Bounded, "kill-all", run: Run);
            Assert.Equal(Verdict.OK, result.Verdict);
            Assert.False(sentinel.HasExited);
        }
        finally
        {
            sentinel.Kill();
        }
    }

    [Fact]
    public async Task Cancellation_kills_the_whole_tree()
    {
        Require();
        string name = "hj" + Guid.NewGuid().ToString("N")[..10];
        var spec = TestEnvironment.Spec(TestEnvironment.Probe, "judge", "fork-bomb", "--name", name) with
        {
            Limits = Bounded with { CpuTime = TimeSpan.FromSeconds(30), WallTime = TimeSpan.FromSeconds(30) },
        };
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        var started = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Run(spec, cts.Token));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10));
        // The kill is asynchronous: give the kernel a moment to finish the exits.
        for (int i = 0; i < 100 && Survivors(name).Count > 0; i++)
            await Task.Delay(20, TestContext.Current.CancellationToken);
        Assert.Empty(Survivors(name));
    }
}

/// <summary>The battery as the unprivileged caller: rlimits and the supervisor's sampling of /proc.</summary>
public sealed class JudgeBatteryTests : JudgeBattery
{
    [Fact]
    public async Task Unprivileged_backend_is_rlimits()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("root gets a cgroup");
        var (result, _) = await Judge(Bounded, "exit", "0", run: Run);
        Assert.Equal("rlimit", result.Backend);
        Assert.Equal(Verdict.OK, result.Verdict);
    }
}

/// <summary>The battery as root: cgroup v1 here (memory, cpu, cpuacct, pids), or v2 where it has the controllers.</summary>
[Trait("Category", "Root")]
public sealed class JudgeBatteryRootTests : JudgeBattery
{
    protected override void Require()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
    }

    [Fact]
    public async Task Root_backend_is_a_cgroup()
    {
        Require();
        var (result, _) = await Judge(Bounded, "exit", "0", run: Run);
        Assert.StartsWith("cgroup", result.Backend);
    }
}

/// <summary>One pool for a test class: disposed with it.</summary>
public sealed class PoolFixture : IDisposable
{
    public SandboxPool Pool { get; } = new();

    public void Dispose() => Pool.Dispose();
}

/// <summary>The battery through a <see cref="SandboxPool"/>, unprivileged: limits, verdicts, usage and cancellation as for cold runs.</summary>
public sealed class JudgePoolBatteryTests(PoolFixture fixture) : JudgeBattery, IClassFixture<PoolFixture>
{
    protected override Task<SandboxResult> Run(SandboxSpec spec, CancellationToken cancellationToken) => fixture.Pool.RunAsync(spec, cancellationToken);
}

/// <summary>
/// The battery through a <see cref="SandboxPool"/> as root (root's default ids, narrowed to the one
/// id its payload is): limits in a cgroup, verdicts, usage and cancellation as for cold runs.
/// </summary>
[Trait("Category", "Root")]
public sealed class JudgePoolRootTests(PoolFixture fixture) : JudgeBattery, IClassFixture<PoolFixture>
{
    protected override void Require()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
    }

    protected override Task<SandboxResult> Run(SandboxSpec spec, CancellationToken cancellationToken) => fixture.Pool.RunAsync(spec, cancellationToken);

    [Fact]
    public async Task Root_pool_runs_in_a_cgroup_of_its_own()
    {
        Require();
        var (result, _) = await Judge(Bounded, "exit", "0", run: Run);
        Assert.Equal(Verdict.OK, result.Verdict);
        Assert.StartsWith("cgroup", result.Backend);
    }
}
