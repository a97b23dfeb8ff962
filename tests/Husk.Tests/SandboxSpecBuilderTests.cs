using System.Text;
using System.Text.Json;

namespace Husk.Tests;

/// <summary>The library's builder and RunAsync, as a program using the NuGet package would.</summary>
public class SandboxSpecBuilderTests
{
    [Fact]
    public async Task Builder_options_reach_the_payload()
    {
        var spec = new SandboxSpecBuilder(TestEnvironment.Probe, "--read", "/data/in", "--write", "/data/in")
            .Tmpfs("/data", size: 1 << 20).Write("/data/in", "hello").Chmod(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, "/data/in")
            .Hostname("judge").Chdir("/data").SetEnv("HUSK_X", "1").UnsetEnv("HOME")
            .TimeLimit("5s").Memory("256M").Pids(16).OutputLimit("1M").OpenFiles(64).Stack("8M")
            .PipeOutput()
            .Build();
        Assert.Equal(TimeSpan.FromSeconds(5), spec.Limits.CpuTime);
        Assert.Equal(256L << 20, spec.Limits.MemoryBytes);
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken);
        Assert.True(result.Verdict == Verdict.OK, result.Message);
        var probe = JsonDocument.Parse(Encoding.UTF8.GetString(result.StandardOutput!)).RootElement;
        Assert.Equal("judge", probe.GetProperty("hostname").GetString());
        Assert.Equal("/data", probe.GetProperty("cwd").GetString());
        Assert.Equal("1", probe.GetProperty("env").GetProperty("HUSK_X").GetString());
        Assert.False(probe.GetProperty("env").TryGetProperty("HOME", out _));
        Assert.True(probe.GetProperty("access").GetProperty("read:/data/in").GetBoolean());
        Assert.False(probe.GetProperty("access").GetProperty("write:/data/in").GetBoolean());
        Assert.Equal(result.StandardOutput!.Length, result.Usage.StdoutBytes);
    }

    [Fact]
    public async Task Builder_gives_husk_runs_policy_walls_and_their_options()
    {
        static async Task<string> Run(SandboxSpecBuilder b) =>
            Encoding.UTF8.GetString((await Sandbox.RunAsync(b.PipeOutput().Build(), TestContext.Current.CancellationToken)).StandardOutput!);
        const string script = "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status | tr -d '\\t'; unshare -U true 2>/dev/null && echo userns || echo no-userns; " +
            "mkdir /tmp/d 2>/dev/null && echo mkdir || echo no-mkdir; cp /bin/true /tmp/t && /tmp/t 2>/dev/null && echo exec || echo noexec";
        // The defaults: the default seccomp profile, no_new_privs, no capabilities, no nested user namespaces.
        Assert.Equal("CapEff:0000000000000000\nNoNewPrivs:1\nSeccomp:2\nno-userns\nmkdir\nexec\n", await Run(new SandboxSpecBuilder("/bin/sh", "-c", script)));
        // Options: a denied call, a kept capability, Landlock strict (nothing executes where the sandbox writes).
        var tightened = new SandboxSpecBuilder("/bin/sh", "-c", script).DenySyscall("mkdir").DenySyscall("mkdirat").CapAdd("CAP_NET_RAW").Landlock("strict");
        Assert.Equal("CapEff:0000000000002000\nNoNewPrivs:1\nSeccomp:2\nno-userns\nno-mkdir\nnoexec\n", await Run(tightened));
        // No filter at all, Landlock off.
        Assert.Contains("Seccomp:0", await Run(new SandboxSpecBuilder("/bin/sh", "-c", script).SeccompUnconfined().Landlock("off")));
        var e = Assert.Throws<SandboxSpecException>(() => new SandboxSpecBuilder("/bin/true").DenySyscall("frobnicate").CapAdd("cap_flying").Landlock("maybe").SeccompProfile("lenient").Build());
        Assert.Contains("unknown system call: frobnicate", e.Message);
        Assert.Contains("unknown capability: cap_flying", e.Message);
        Assert.Contains("Landlock mode maybe", e.Message);
        Assert.Contains("no built-in seccomp profile named lenient", e.Message);
    }

    [Fact]
    public async Task An_empty_root_is_writable()
    {
        var spec = new SandboxSpecBuilder("/bin/sh", "-c", "echo x > /f && cat /f").EmptyRoot()
            .ReadOnlyBind("/usr", "/usr").Symlink("usr/bin", "/bin").Symlink("usr/lib", "/lib").Symlink("usr/lib64", "/lib64")
            .PipeOutput().Build();
        var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken);
        Assert.True(result.Verdict == Verdict.OK, result.Message + Encoding.UTF8.GetString(result.StandardError!));
        Assert.Equal("x\n", Encoding.UTF8.GetString(result.StandardOutput!));
    }

    [Fact]
    public async Task Tty_gives_the_payload_a_terminal_of_its_own()
    {
        var spec = new SandboxSpecBuilder("/bin/sh", "-c", "tty; stty size").Tty(30, 100).WallTime("10s").Build();
        using var process = Sandbox.Start(spec);
        var output = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await process.Terminal!.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
                output.Write(buffer, 0, n);
        }
        catch (IOException)
        {
            // EIO: the last holder of the terminal's other side has gone.
        }
        var result = await process.WaitAsync(TestContext.Current.CancellationToken);
        string text = Encoding.UTF8.GetString(output.ToArray());
        Assert.True(result.Verdict == Verdict.OK, result.Message);
        Assert.Contains("/dev/pts/0", text);
        Assert.Contains("30 100", text);
    }

    [Fact]
    public async Task Home_secrets_are_hidden_unless_shown_and_hide_hides_more()
    {
        string home = TestEnvironment.HomeWithSecrets();
        try
        {
            string script = $"cat {home}/.ssh/id_ed25519 {home}/.netrc {home}/notes.txt 2>/dev/null";
            async Task<string> Run(SandboxSpecBuilder b) =>
                Encoding.UTF8.GetString((await Sandbox.RunAsync(b.SecretsUnder(home).PipeOutput().Build(), TestContext.Current.CancellationToken)).StandardOutput!);
            Assert.Equal("public\n", await Run(new SandboxSpecBuilder("/bin/sh", "-c", script)));
            Assert.Equal("SECRET KEY\nmachine example password hunter2\npublic\n", await Run(new SandboxSpecBuilder("/bin/sh", "-c", script).ShowSecrets()));
            Assert.Equal("", await Run(new SandboxSpecBuilder("/bin/sh", "-c", script).Hide(Path.Combine(home, "notes.txt"))));
            Assert.Contains("nothing to hide", Assert.Throws<SandboxSpecException>(() => new SandboxSpecBuilder("/bin/true").Hide(Path.Combine(home, "nope")).Build()).Message);
        }
        finally
        {
            TestEnvironment.DeleteTree(home);
        }
    }

    [Fact]
    public void Every_problem_is_listed_at_once()
    {
        var e = Assert.Throws<SandboxSpecException>(() => new SandboxSpecBuilder("/bin/true").TimeLimit("soon").Memory("lots").Pids(0).Build());
        Assert.Contains("time limit soon", e.Message);
        Assert.Contains("memory lots", e.Message);
        Assert.Contains("process limit", e.Message);
    }

    [Fact]
    public async Task Start_gives_streams_and_a_verdict()
    {
        var spec = new SandboxSpecBuilder("/bin/sh", "-c", "read line; echo got $line; echo err >&2; exit 3")
            .StandardInput(StdioMode.Pipe).PipeOutput().WallTime("10s").Build();
        using var process = Sandbox.Start(spec);
        await process.StandardInput!.WriteAsync("x\n"u8.ToArray(), TestContext.Current.CancellationToken);
        process.StandardInput.Dispose();
        string stdout = await new StreamReader(process.StandardOutput!).ReadToEndAsync(TestContext.Current.CancellationToken);
        string stderr = await new StreamReader(process.StandardError!).ReadToEndAsync(TestContext.Current.CancellationToken);
        var result = await process.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal("got x\n", stdout);
        Assert.Equal("err\n", stderr);
        Assert.Equal(Verdict.RuntimeError, result.Verdict);
        Assert.Equal(3, result.Exit!.ExitCode);
        Assert.Equal(6, result.Usage.StdoutBytes);
        Assert.Equal(4, result.Usage.StderrBytes);
    }

    [Fact]
    public async Task Many_sandboxes_at_once_from_many_threads()
    {
        var spec = new SandboxSpecBuilder(TestEnvironment.Probe, "judge", "exit", "0").TimeLimit("5s").Memory("128M").Pids(8).PipeOutput().Build();
        var runs = Enumerable.Range(0, 24).Select(_ => Task.Run(() => Sandbox.RunAsync(spec, TestContext.Current.CancellationToken))).ToArray();
        var results = await Task.WhenAll(runs);
        Assert.All(results, r => Assert.True(r.Verdict == Verdict.OK, r.Message));
    }
}
