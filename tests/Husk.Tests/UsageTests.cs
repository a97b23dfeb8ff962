using System.Text;
using System.Text.Json;

namespace Husk.Tests;

/// <summary>
/// Usage measured for the whole tree, compared with what programs of known cost measure of
/// themselves (getrusage, VmHWM) and, as root, with the cgroup's own files.
/// </summary>
public class UsageTests
{
    private static async Task<(SandboxResult Result, JsonElement Self)> Measure(ResourceLimits limits, params string[] judge)
    {
        var spec = TestEnvironment.Spec([TestEnvironment.Probe, "judge", .. judge]) with
        {
            Limits = limits,
            StandardOutput = StdioMode.Pipe,
        };
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken);
        Assert.True(result.Verdict == Verdict.OK, $"{result.Verdict}: {result.Message}");
        return (result, JsonDocument.Parse(Encoding.UTF8.GetString(result.StandardOutput!)).RootElement);
    }

    private static TimeSpan Cpu(JsonElement self) => TimeSpan.FromSeconds(self.GetProperty("utime_s").GetDouble() + self.GetProperty("stime_s").GetDouble());

    internal static async Task Cpu_time_is_the_kernels(ResourceLimits limits, string backend)
    {
        var (result, self) = await Measure(limits, "spin", "0.5");
        Assert.Equal(backend, result.Backend);
        var own = Cpu(self);
        Assert.True(own >= TimeSpan.FromSeconds(0.5));
        // The tree is the probe and husk-init, which uses next to nothing.
        Assert.InRange((result.Usage.CpuTime - own).TotalMilliseconds, -1, 30);
        Assert.True(result.Usage.WallTime >= result.Usage.CpuTime * 0.5, $"wall {result.Usage.WallTime}");
    }

    internal static async Task Peak_memory_is_what_was_touched(ResourceLimits limits, string backend)
    {
        var (result, self) = await Measure(limits, "touch", "40");
        Assert.Equal(backend, result.Backend);
        long hwm = self.GetProperty("hwm_bytes").GetInt64();
        Assert.True(hwm >= 40 << 20);
        // Resident memory (or the cgroup's charge): the 40 MiB and the probe itself, little more.
        Assert.InRange(result.Usage.PeakMemoryBytes, 40L << 20, hwm + (24L << 20));
    }

    [Fact]
    public async Task Cpu_time_of_a_known_program()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("as root: UsageRootTests");
        await Cpu_time_is_the_kernels(new ResourceLimits { MeasureUsage = true }, "rlimit");
    }

    [Fact]
    public async Task Peak_memory_of_a_known_program()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("as root: UsageRootTests");
        await Peak_memory_is_what_was_touched(new ResourceLimits { MeasureUsage = true }, "rlimit");
    }

    [Fact]
    public async Task Output_is_counted_by_stream()
    {
        var spec = TestEnvironment.Spec(TestEnvironment.Probe, "judge", "write", "12345") with
        {
            Limits = new ResourceLimits { MeasureUsage = true },
            StandardOutput = StdioMode.Pipe,
            StandardError = StdioMode.Pipe,
        };
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken);
        Assert.Equal(12345, result.Usage.StdoutBytes);
        Assert.Equal(0, result.Usage.StderrBytes);
        Assert.Equal(12345, result.StandardOutput!.Length);
        Assert.NotNull(result.Usage.WrittenBytes);
        Assert.True(result.Usage.WrittenBytes >= 12345, $"written {result.Usage.WrittenBytes}");
    }

    /// <summary>
    /// Output counted when nobody has begun to read it by the end (a reader thread scheduled late,
    /// as under CI's load, or none at all): the count comes from the pipe, and a reader that comes
    /// afterwards still gets every byte, counted once. Past the output limit it gets what was allowed.
    /// </summary>
    [Theory]
    [InlineData(null, 30000, "OK")]
    [InlineData(10000L, 10000, "OutputLimit")]
    public void Output_nobody_read_before_the_end_is_counted_from_the_pipe(long? limit, int passed, string verdict)
    {
        var spec = TestEnvironment.Spec(TestEnvironment.Probe, "judge", "write", "30000") with
        {
            Limits = new ResourceLimits { MeasureUsage = true, OutputBytes = limit },
            StandardOutput = StdioMode.Pipe,
        };
        using var process = Sandbox.Start(spec);
        var result = process.WaitForResult();
        Assert.Equal(verdict, result.Verdict.ToString());
        Assert.Equal(30000, result.Usage.StdoutBytes);
        using var read = new MemoryStream();
        process.StandardOutput!.CopyTo(read);
        Assert.Equal(passed, read.Length);
        Assert.Equal(30000, process.WaitForResult().Usage.StdoutBytes);
    }

    [Fact]
    public async Task Files_written_are_counted()
    {
        var spec = TestEnvironment.Spec("/bin/sh", "-c", "head -c 300000 /dev/zero > /tmp/f") with { Limits = new ResourceLimits { MeasureUsage = true } };
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken);
        Assert.Equal(Verdict.OK, result.Verdict);
        Assert.InRange(result.Usage.WrittenBytes ?? 0, 300_000, 400_000);
    }

    [Fact]
    public async Task Unsupervised_runs_still_report_the_kernels_accounting()
    {
        var result = await Sandbox.RunAsync(TestEnvironment.Spec("/bin/sh", "-c", "exit 4"), TestContext.Current.CancellationToken);
        Assert.Equal(Verdict.RuntimeError, result.Verdict);
        Assert.Equal(4, result.ShellStatus);
        Assert.Equal("none", result.Backend);
    }
}

/// <summary>Usage as root, where cgroup v1 measures it; compared with the cgroup's files too.</summary>
[Trait("Category", "Root")]
public class UsageRootTests
{
    [Fact]
    public async Task Cpu_time_of_a_known_program_in_a_cgroup()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        await UsageTests.Cpu_time_is_the_kernels(new ResourceLimits { MeasureUsage = true }, "cgroup1");
    }

    [Fact]
    public async Task Peak_memory_of_a_known_program_in_a_cgroup()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        await UsageTests.Peak_memory_is_what_was_touched(new ResourceLimits { MeasureUsage = true }, "cgroup1");
    }
}
