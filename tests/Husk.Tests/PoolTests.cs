using System.Text.Json;

namespace Husk.Tests;

/// <summary>Warm sandboxes (<see cref="SandboxPool"/>): runs from a template, as isolated and as walled as cold ones.</summary>
public class PoolTests
{
    private static SandboxSpec Shell(string script) => TestEnvironment.Spec("/bin/sh", "-c", script) with
    {
        StandardOutput = StdioMode.Pipe,
        StandardError = StdioMode.Pipe,
    };

    [Fact]
    public async Task A_run_from_a_pool_runs_its_payload()
    {
        using var pool = new SandboxPool();
        var result = await pool.RunAsync(Shell("echo hello; exit 3"), TestContext.Current.CancellationToken);
        Assert.True(result.StandardOutput is not null, $"{result.Verdict}: {result.Message}");
        Assert.Equal("hello\n", System.Text.Encoding.UTF8.GetString(result.StandardOutput!));
        Assert.Equal(3, result.Exit!.ExitCode);
        Assert.Equal(1, pool.TemplateCount);
    }
}
