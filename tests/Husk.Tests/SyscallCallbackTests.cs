using System.Collections.Concurrent;
using Husk.Policy;

namespace Husk.Tests;

/// <summary>The syscall policy callback (seccomp user notification): allow, deny with an errno, kill.</summary>
public class SyscallCallbackTests
{
    private static async Task<(SandboxResult Result, string Name)> Run(string mode, string? arg, string syscall, Func<SyscallRequest, SyscallDecision> decide)
    {
        string name = "hj" + Guid.NewGuid().ToString("N")[..10];
        string[] command = arg is null ? [TestEnvironment.Probe, "judge", mode, "--name", name] : [TestEnvironment.Probe, "judge", mode, arg, "--name", name];
        var spec = TestEnvironment.Spec(command) with
        {
            Limits = JudgeBattery.Bounded,
            StandardOutput = StdioMode.Pipe,
            StandardError = StdioMode.Pipe,
            Identity = new Identity { Uid = 1000, Gid = 1000 },
            SyscallCallback = new SyscallCallback([syscall], decide),
        };
        return (await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken), name);
    }

    [Fact]
    public async Task Kill_is_a_restricted_function_and_ends_the_tree()
    {
        var seen = new ConcurrentBag<SyscallRequest>();
        var (result, name) = await Run("setuid", null, "setuid", r => { seen.Add(r); return SyscallDecision.Kill; });
        Assert.True(result.Verdict == Verdict.RestrictedFunction, $"{result.Verdict}: {result.Message}");
        Assert.Equal("RF", result.LibsandboxCode);
        Assert.Contains("setuid", result.Message);
        // glibc's setuid makes every thread of the process call it: one or more, all setuid(0).
        Assert.NotEmpty(seen);
        Assert.All(seen, r => Assert.True(r.Name == "setuid" && r.Arguments[0] == 0, $"{r.Name}({r.Arguments[0]})"));
        Assert.Empty(JudgeBattery.Survivors(name));
    }

    [Fact]
    public async Task Deny_fails_the_call_with_the_errno_and_the_payload_goes_on()
    {
        var seen = new ConcurrentBag<SyscallRequest>();
        var (result, _) = await Run("socket", "127.0.0.1:9", "socket", r => { seen.Add(r); return SyscallDecision.Deny(Errno.EACCES); });
        Assert.Equal(Verdict.RuntimeError, result.Verdict);
        Assert.Equal(1, result.Exit!.ExitCode); // the probe saw socket() fail and exited 1
        Assert.Contains(seen, r => r.Name == "socket" && r.Arguments[0] == 2); // AF_INET
    }

    [Fact]
    public async Task Allow_lets_the_call_run()
    {
        int calls = 0;
        var (result, _) = await Run("exit", "0", "exit_group", _ => { Interlocked.Increment(ref calls); return SyscallDecision.Allow; });
        Assert.True(result.Verdict == Verdict.OK, result.Message);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task The_payloads_own_exec_passes_and_the_next_one_is_judged()
    {
        var execs = new ConcurrentBag<string>();
        var spec = TestEnvironment.Spec("/bin/sh", "-c", "/bin/true; exit 0") with
        {
            Limits = JudgeBattery.Bounded,
            SyscallCallback = new SyscallCallback(["execve", "execveat"], r => { execs.Add(r.Name); return SyscallDecision.Kill; }),
        };
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken);
        Assert.True(result.Verdict == Verdict.RestrictedFunction, $"{result.Verdict}: {result.Message}");
        Assert.Single(execs);
    }

    [Fact]
    public void Unknown_names_are_refused()
    {
        var spec = TestEnvironment.Spec("/bin/true") with { SyscallCallback = new SyscallCallback(["no_such_call"], _ => SyscallDecision.Allow) };
        Assert.Contains(spec.Validate(), p => p.Contains("no_such_call"));
    }

    [Fact]
    public async Task Every_system_call_can_go_to_the_callback()
    {
        // Before, the stage's own calls after the filter was in (handing the listener over,
        // closing it) were stopped with nobody serving the listener: the start hung.
        var names = new ConcurrentBag<string>();
        var spec = TestEnvironment.Spec("/bin/true") with
        {
            Limits = JudgeBattery.Bounded,
            SyscallCallback = new SyscallCallback([.. SyscallTable.Native.Names], r => { names.Add(r.Name); return SyscallDecision.Allow; }),
        };
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.True(result.Verdict == Verdict.OK, result.Message);
        Assert.Contains("exit_group", names);
        Assert.DoesNotContain("execve", names); // the payload's own exec is the stage's
        Assert.DoesNotContain(SyscallCallback.StageCall, names);
        Assert.Contains((TestEnvironment.Spec("/bin/true") with { SyscallCallback = new SyscallCallback(["sendmsg"], _ => SyscallDecision.Allow) }).Validate(),
            p => p.Contains("cannot decide sendmsg"));
    }

    [Fact]
    public async Task A_command_found_in_a_later_directory_of_PATH_starts_when_exec_is_decided()
    {
        // The stage tries each directory of PATH: every exec before the payload runs is its own.
        // Before, the second try waited for a callback that was only armed once the payload ran.
        var spec = TestEnvironment.Spec("true") with
        {
            Environment = ["PATH=/nonexistent-husk-dir:/usr/bin:/bin"],
            Limits = JudgeBattery.Bounded,
            SyscallCallback = new SyscallCallback(["execve", "execveat"], _ => SyscallDecision.Kill),
        };
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.True(result.Verdict == Verdict.OK, $"{result.Verdict}: {result.Message}");
    }

    [Fact]
    public void A_sandbox_disposed_of_is_gone_to_a_late_kill()
    {
        // pysandbox's memory watcher kills and the owner disposes while a stopped call is still
        // with the policy; the policy's Kill then went through the disposed pidfd, threw on the
        // policy thread and took the whole host process (Python) down.
        var process = Sandbox.Start(TestEnvironment.Spec("/bin/sleep", "30") with { Limits = JudgeBattery.Bounded });
        process.Dispose();
        Assert.False(process.Signal(9));
        process.Kill();
    }
}
