using System.Text.Json;

namespace Husk.Tests;

/// <summary>husk run's limits, verdict line, exit status and reports, driven as a user would.</summary>
public class RunLimitsCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("husk-limits-").FullName;

    public void Dispose() => TestEnvironment.DeleteTree(_dir);

    private string In(string name) => Path.Combine(_dir, name);

    /// <summary>husk run through sh, so descriptors can be redirected (--report-fd, --json-status-fd).</summary>
    private static (int Code, string Stdout, string Stderr) Sh(string script) =>
        TestEnvironment.Exec("/bin/sh", ["-c", script], env: new Dictionary<string, string> { ["HUSK"] = TestEnvironment.Husk, ["PROBE"] = TestEnvironment.Probe });

    [Fact]
    public void Time_limit_exits_as_killed_with_a_verdict_line_and_reports()
    {
        var r = TestEnvironment.Exec(TestEnvironment.Husk,
            ["run", "--time-limit", "300ms", "--wall-time", "10s", "--report", In("report.json"), "--meta", In("meta"), "--", TestEnvironment.Probe, "judge", "loop"]);
        Assert.Equal(137, r.Code);
        string[] lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines, l => l.StartsWith("husk: verdict TimeLimit: CPU time ", StringComparison.Ordinal));
        var report = JsonDocument.Parse(File.ReadAllText(In("report.json"))).RootElement;
        Assert.Equal("TimeLimit", report.GetProperty("verdict").GetString());
        Assert.Equal("TL", report.GetProperty("libsandbox").GetString());
        Assert.Equal(9, report.GetProperty("signal").GetInt32());
        Assert.True(report.GetProperty("cpu_time_s").GetDouble() >= 0.3);
        Assert.True(report.GetProperty("killed").GetBoolean());
        Assert.Equal(0.3, report.GetProperty("limits").GetProperty("cpu_time_s").GetDouble(), 6);
        foreach (string key in new[] { "exit_code", "wall_time_s", "peak_memory_bytes", "output_bytes", "backend" })
            Assert.True(report.TryGetProperty(key, out _), key);
        var meta = File.ReadAllLines(In("meta")).Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal("TO", meta["status"]);
        Assert.Equal("9", meta["exitsig"]);
        Assert.Equal("1", meta["killed"]);
        foreach (string key in new[] { "time", "time-wall", "max-rss", "message" })
            Assert.True(meta.ContainsKey(key), key);
    }

    [Fact]
    public void A_successful_run_prints_no_verdict_and_reports_to_a_descriptor()
    {
        var r = Sh($"$HUSK run --memory 256M --report-fd 3 --json-status-fd 4 -- $PROBE judge write 1000 3>{In("r")} 4>{In("s")}");
        Assert.Equal(0, r.Code);
        Assert.Equal(1000, r.Stdout.Length);
        Assert.DoesNotContain("verdict", r.Stderr);
        var report = JsonDocument.Parse(File.ReadAllText(In("r"))).RootElement;
        Assert.Equal("OK", report.GetProperty("verdict").GetString());
        Assert.Equal(1000, report.GetProperty("stdout_bytes").GetInt64());
        Assert.Equal(1000, report.GetProperty("output_bytes").GetInt64());
        string[] status = File.ReadAllText(In("s")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("{ \"exit-code\": 0 }", status[^1]);
    }

    [Fact]
    public void Output_limit_cuts_standard_output()
    {
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--output-limit", "64K", "--", TestEnvironment.Probe, "judge", "output-flood"]);
        Assert.Equal(137, r.Code);
        Assert.Equal(64 * 1024, r.Stdout.Length);
        Assert.Contains("husk: verdict OutputLimit", r.Stderr);
    }

    [Fact]
    public void A_non_zero_exit_is_a_runtime_error_with_its_status()
    {
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--time-limit", "5s", "--meta", In("meta"), "--", "/bin/sh", "-c", "exit 7"]);
        Assert.Equal(7, r.Code);
        Assert.Contains("husk: verdict RuntimeError: exited with status 7", r.Stderr);
        Assert.Contains("status:RE", File.ReadAllText(In("meta")));
        Assert.Contains("exitcode:7", File.ReadAllText(In("meta")));
    }

    [Theory]
    [InlineData("--memory", "12X", "expected a size such as 512M, 1.5G or 2GB")]
    [InlineData("--time-limit", "soon", "expected a duration such as 1.5s or 250ms")]
    [InlineData("--pids", "0", "expected a positive whole number")]
    [InlineData("--cpus", "0", "expected a number of CPUs such as 0.5")]
    public void Bad_limit_values_are_usage_errors(string option, string value, string message)
    {
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", option, value, "--", "/bin/true"]);
        Assert.Equal(2, r.Code);
        Assert.Contains($"husk run: {option}: {value}: {message}", r.Stderr);
    }

    [Fact]
    public void Cpus_without_a_cgroup_is_a_setup_error()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("root has cgroup v1");
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--cpus", "0.5", "--", "/bin/true"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("--cpus needs a cgroup", r.Stderr);
    }
}
