using System.Text.Json;
using Husk.Policy;
using Husk.Tracing;

namespace Husk.Tests.Tracing;

/// <summary>trace_subject.c, compiled once for the class.</summary>
public sealed class TraceSubject : IDisposable
{
    public TraceSubject()
    {
        Directory = TestEnvironment.ScratchDirectory("trace");
        Path = System.IO.Path.Combine(Directory, "trace_subject");
        string source = System.IO.Path.Combine(AppContext.BaseDirectory, "Tracing", "trace_subject.c");
        var (code, _, err) = TestEnvironment.Exec("gcc", ["-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", Path, source]);
        Assert.True(code == 0, err);
    }

    public string Directory { get; }

    public string Path { get; }

    public void Dispose() => TestEnvironment.DeleteTree(Directory);
}

/// <summary>
/// Real traced sandboxes, unprivileged: a program with known system calls checked call by call and
/// against strace -f -c, the library's events and counts, ptrace refused, limits and a fork bomb.
/// </summary>
public class TraceRunTests(TraceSubject subject) : IClassFixture<TraceSubject>
{
    private const int N = 7, M = 4;

    private static (int Code, string Stdout, string Stderr) Husk(params string[] args) => TestEnvironment.Exec(TestEnvironment.Husk, args);

    private static List<JsonElement> JsonLines(string text) =>
        [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public void The_known_program_is_traced_call_by_call()
    {
        string output = System.IO.Path.Combine(subject.Directory, "calls.json");
        var r = Husk("run", "--fs", "ro", "--trace", "--trace-format", "json", "--trace-output", output, "--", subject.Path, $"{N}", $"{M}");
        Assert.True(r.Code == 0, r.Stderr);
        var events = JsonLines(File.ReadAllText(output));
        bool Is(JsonElement e, string name) => e.TryGetProperty("syscall", out var s) && s.GetString() == name;

        var first = events[0];
        Assert.True(Is(first, "execve"), first.ToString());
        Assert.Equal(0, first.GetProperty("ret").GetInt64());
        int main = first.GetProperty("pid").GetInt32();
        Assert.Contains(subject.Path, first.GetProperty("values")[0].GetString());

        // N getppid calls, each answered with husk-init's pid (1).
        var getppid = events.Where(e => Is(e, "getppid")).ToList();
        Assert.Equal(N, getppid.Count);
        Assert.All(getppid, e => Assert.Equal(1, e.GetProperty("ret").GetInt64()));
        Assert.All(getppid, e => Assert.Equal(main, e.GetProperty("pid").GetInt32()));

        // M opens that fail with ENOENT, each naming its path.
        var failed = events.Where(e => Is(e, "openat") && e.GetProperty("values")[1].GetString()!.StartsWith("/nonexistent-husk-trace/", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(0, M).Select(i => $"/nonexistent-husk-trace/{i}"), failed.Select(e => e.GetProperty("values")[1].GetString()));
        Assert.All(failed, e =>
        {
            Assert.Equal(-1, e.GetProperty("ret").GetInt64());
            Assert.Equal("ENOENT", e.GetProperty("errno").GetString());
            Assert.Equal("O_RDONLY", e.GetProperty("args")[2].GetString());
        });

        // The thread: a clone with CLONE_THREAD whose new thread calls gettid and exits.
        var clones = events.Where(e => Is(e, "clone")).ToList();
        var threadClone = Assert.Single(clones, e => e.GetProperty("args")[0].GetString()!.Contains("CLONE_THREAD", StringComparison.Ordinal));
        int thread = (int)threadClone.GetProperty("ret").GetInt64();
        var gettid = Assert.Single(events, e => Is(e, "gettid"));
        Assert.Equal(thread, gettid.GetProperty("pid").GetInt32());
        Assert.Equal(thread, gettid.GetProperty("ret").GetInt64());
        Assert.Contains(events, e => e.TryGetProperty("exited", out var x) && x.GetInt32() == 0 && e.GetProperty("pid").GetInt32() == thread);

        // The fork: its child executes the program again and exits with 3, which wait4 reports.
        var forkClone = Assert.Single(clones, e => e.GetProperty("args")[0].GetString()!.EndsWith("SIGCHLD", StringComparison.Ordinal));
        int child = (int)forkClone.GetProperty("ret").GetInt64();
        var childExec = Assert.Single(events, e => Is(e, "execve") && e.GetProperty("pid").GetInt32() == child);
        Assert.Equal(0, childExec.GetProperty("ret").GetInt64());
        Assert.Contains("\"exec-child\"", childExec.GetProperty("args")[1].GetString());
        Assert.Contains(events, e => e.TryGetProperty("exited", out var x) && x.GetInt32() == 3 && e.GetProperty("pid").GetInt32() == child);
        var wait = Assert.Single(events, e => Is(e, "wait4"));
        Assert.Equal(child, wait.GetProperty("ret").GetInt64());
        Assert.Equal("[{WIFEXITED(s) && WEXITSTATUS(s) == 3}]", wait.GetProperty("args")[1].GetString());
        Assert.Contains(events, e => e.TryGetProperty("signal", out var s) && s.GetString() == "SIGCHLD" && e.GetProperty("pid").GetInt32() == main);

        // The signal it sends itself, seen as it is delivered, and the end.
        var kill = Assert.Single(events, e => Is(e, "kill"));
        Assert.Equal([main.ToString(System.Globalization.CultureInfo.InvariantCulture), "SIGUSR1"], kill.GetProperty("args").EnumerateArray().Select(a => a.GetString()));
        Assert.Contains(events, e => e.TryGetProperty("signal", out var s) && s.GetString() == "SIGUSR1" && e.GetProperty("info").GetString()!.Contains("SI_USER", StringComparison.Ordinal));
        var exitGroup = events.Last(e => Is(e, "exit_group"));
        Assert.Equal(JsonValueKind.Null, exitGroup.GetProperty("ret").ValueKind);
        var last = events[^1];
        Assert.Equal(0, last.GetProperty("exited").GetInt32());
        Assert.Equal(main, last.GetProperty("pid").GetInt32());
        Assert.All(events.Where(e => e.TryGetProperty("duration", out _)), e => Assert.True(e.GetProperty("duration").GetDouble() >= 0));
    }

    [Fact]
    public void Counts_agree_with_strace_f_c()
    {
        string strace = new[] { "/usr/bin/strace", "/bin/strace" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("strace is not installed (Debian package strace; .ci/run installs it)");
        string table = System.IO.Path.Combine(subject.Directory, "strace.txt");
        var s = TestEnvironment.Exec(strace, ["-f", "-c", "-o", table, subject.Path, $"{N}", $"{M}"]);
        Assert.True(s.Code == 0, s.Stderr);
        var theirs = File.ReadAllLines(table)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length is 5 or 6 && double.TryParse(f[0], System.Globalization.CultureInfo.InvariantCulture, out _) && f[^1] != "total")
            .ToDictionary(f => f[^1], f => (Calls: long.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture), Errors: f.Length == 6 ? long.Parse(f[4], System.Globalization.CultureInfo.InvariantCulture) : 0));

        var r = Husk("run", "--fs", "ro", "--count", "--count-format", "json", "--", subject.Path, $"{N}", $"{M}");
        Assert.True(r.Code == 0, r.Stderr);
        string json = r.Stderr.Split('\n').Single(l => l.StartsWith("{\"syscalls\"", StringComparison.Ordinal));
        var ours = JsonDocument.Parse(json).RootElement.GetProperty("syscalls").EnumerateArray()
            .ToDictionary(e => e.GetProperty("syscall").GetString()!, e => (Calls: e.GetProperty("calls").GetInt64(), Errors: e.GetProperty("errors").GetInt64()));

        Assert.Equal((N, 0L), ours["getppid"]);
        Assert.Equal(M, ours["openat"].Errors);
        // The default profile answers clone3 with ENOSYS (it cannot read clone3's flags), which no
        // tracer sees: libc then makes the thread with clone. futex depends on timing (the join).
        string[] apart = ["clone", "clone3", "futex"];
        long Clones(Dictionary<string, (long Calls, long Errors)> d) => apart[..2].Sum(n => d.TryGetValue(n, out var c) ? c.Calls : 0);
        Assert.Equal(Clones(theirs), Clones(ours));
        foreach (string name in theirs.Keys.Union(ours.Keys).Except(apart))
        {
            var t = theirs.GetValueOrDefault(name);
            var o = ours.GetValueOrDefault(name);
            Assert.True(t == o, $"{name}: strace {t.Calls} calls, {t.Errors} errors; husk {o.Calls} calls, {o.Errors} errors");
        }
    }

    [Fact]
    public async Task The_library_streams_events_and_counts_them()
    {
        var spec = new SandboxSpecBuilder(subject.Path, $"{N}", $"{M}").Trace("getppid,openat,%process").CountSyscalls().Build();
        using var process = Sandbox.Start(spec);
        var events = new List<SyscallEvent>();
        await foreach (var e in process.Events)
            events.Add(e);
        var result = await process.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, result.Exit!.ExitCode);
        Assert.Equal(N, events.Count(e => e.Kind == TraceEventKind.Syscall && e.Name == "getppid"));
        var failed = events.Where(e => e.Name == "openat" && e.Error == Errno.ENOENT).ToList();
        Assert.Equal(M, failed.Count);
        Assert.All(failed, e => Assert.StartsWith("/nonexistent-husk-trace/", e.Arguments[1].Value));
        Assert.All(failed, e => Assert.Equal(-1, e.ReturnValue));
        Assert.Contains(events, e => e.Kind == TraceEventKind.Signal && e.Name == "SIGUSR1");
        Assert.Equal(TraceEventKind.Exited, events[^1].Kind);
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Time <= p.Second.Time || p.First.Pid != p.Second.Pid));
        var counts = result.SyscallCounts.ToDictionary(c => c.Name);
        Assert.Equal(N, counts["getppid"].Calls);
        Assert.Equal(M, counts["openat"].Errors);
        Assert.DoesNotContain("read", counts.Keys); // not in the set: not interposed
    }

    [Fact]
    public async Task A_slow_reader_slows_the_program_instead_of_filling_memory()
    {
        var spec = new SandboxSpecBuilder(subject.Path, "200", "0").Build() with
        {
            Trace = new TraceSpec { Syscalls = SyscallSet.Parse("getppid"), Events = true, EventCapacity = 4 },
        };
        using var process = Sandbox.Start(spec);
        var reader = process.Events.GetAsyncEnumerator(TestContext.Current.CancellationToken);
        Assert.True(await reader.MoveNextAsync());
        // Not synchronisation: the time an unbounded buffer would need to let the program run ahead.
        await Task.Delay(300, TestContext.Current.CancellationToken);
        var resumed = DateTimeOffset.Now;
        var calls = new List<SyscallEvent>();
        while (await reader.MoveNextAsync())
        {
            if (reader.Current.Name == "getppid")
                calls.Add(reader.Current);
        }
        await reader.DisposeAsync();
        Assert.Equal(199, calls.Count);
        // Held by the full buffer: beyond its 4 events, the one the tracer waits to hand over and
        // the call stopped at its entry, no call began before the reader went on.
        Assert.All(calls.Skip(4 + 2), e => Assert.True(e.Time >= resumed, $"a call began at {e.Time:O}, before the reader went on at {resumed:O}"));
        Assert.Equal(0, (await process.WaitAsync(TestContext.Current.CancellationToken)).Exit!.ExitCode);
    }

    [Fact]
    public void A_traced_program_gets_EPERM_from_ptrace()
    {
        var r = Husk("run", "--fs", "ro", "--trace=%process", "--trace-output", "/dev/null", "--", subject.Path, "ptrace");
        Assert.True(r.Code == 0, r.Stdout + r.Stderr);
        Assert.Contains("attach -1 Operation not permitted, traceme -1 Operation not permitted", r.Stdout);
    }

    [Fact]
    public void Tracing_keeps_a_time_limits_verdict()
    {
        var r = Husk("run", "--fs", "ro", "--trace", "--trace-output", "/dev/null", "--time-limit", "1s", "--", "sh", "-c", "i=0; while :; do i=$((i+1)); done");
        Assert.Contains(r.Code, new[] { 128 + 9, 128 + 24 });
        Assert.Contains("husk: verdict TimeLimit", r.Stderr);
    }

    [Fact]
    public void A_traced_fork_bomb_under_a_pids_limit_ends_with_its_verdict()
    {
        string trace = System.IO.Path.Combine(subject.Directory, "bomb.trace");
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--pids", "16", "--wall-time", "2s", "--trace=%process", "--trace-output", trace, "--", subject.Path, "fork-bomb"], timeoutMs: 30_000);
        Assert.Equal(128 + 9, r.Code);
        Assert.Contains("husk: verdict WallTimeLimit", r.Stderr);
        string text = File.ReadAllText(trace);
        Assert.Contains("clone(", text);
        Assert.Contains("+++ killed by SIGKILL +++", text);
    }

    [Fact]
    public async Task A_policy_callback_still_decides_and_its_calls_do_not_reach_the_tracer()
    {
        var spec = new SandboxSpecBuilder("/bin/sh", "-c", "mkdir /tmp/refused 2>/dev/null; echo $?; cat /proc/self/status > /dev/null")
            .OnSyscall(["mkdir", "mkdirat"], _ => SyscallDecision.Deny(Errno.EACCES))
            .Trace("mkdir,mkdirat,openat")
            .StandardOutput(StdioMode.Pipe)
            .Build();
        using var process = Sandbox.Start(spec);
        var output = process.StandardOutput!;
        var events = new List<SyscallEvent>();
        await foreach (var e in process.Events)
            events.Add(e);
        string text = await new StreamReader(output).ReadToEndAsync(TestContext.Current.CancellationToken);
        var result = await process.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, result.Exit!.ExitCode);
        Assert.Equal("1\n", text); // the callback refused mkdir
        Assert.Contains(events, e => e.Name == "openat" && e.Arguments[1].Value == "/proc/self/status" && e.ReturnValue >= 0);
        // User notification outranks RET_TRACE: the callback's calls are its own, not the trace's.
        Assert.DoesNotContain(events, e => e.Name is "mkdir" or "mkdirat");
    }

    [Fact]
    public async Task A_traced_callback_sees_each_return_and_the_signals_with_their_codes()
    {
        var seen = new System.Collections.Concurrent.ConcurrentQueue<SyscallRequest>();
        var spec = new SandboxSpecBuilder(subject.Path, $"{N}", $"{M}")
            .OnSyscallTraced(["getppid", "openat"], r =>
            {
                seen.Enqueue(r);
                return SyscallDecision.Allow;
            })
            .Build();
        using var process = Sandbox.Start(spec);
        var result = await process.WaitAsync(TestContext.Current.CancellationToken);
        Assert.True(result.Exit!.ExitCode == 0, result.Message);
        var getppid = seen.Where(r => r.Name == "getppid").ToList();
        Assert.Equal(N, getppid.Count(r => r.Stop == SyscallStop.Entry));
        // Each return, with its value: husk-init's pid.
        var returns = getppid.Where(r => r.Stop == SyscallStop.Exit).ToList();
        Assert.Equal(N, returns.Count);
        Assert.All(returns, r => Assert.Equal(1, r.ReturnValue));
        Assert.Equal(M, seen.Count(r => r.Name == "openat" && r.Stop == SyscallStop.Exit && r.ReturnValue == -(long)Errno.ENOENT));
        // kill(getpid(), SIGUSR1): SI_USER.
        var usr1 = Assert.Single(seen, r => r.Stop == SyscallStop.Signal && r.Name == "SIGUSR1");
        Assert.Equal((10, 0), (usr1.Number, usr1.SignalCode));
    }

    [Fact]
    public async Task A_traced_callback_s_kill_stops_the_call_and_gives_the_signal_codes_of_a_crash()
    {
        string dir = System.IO.Path.Combine(subject.Directory, "refused-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = new SandboxSpecBuilder("/bin/sh", "-c", $"mkdir {dir}")
            .OnSyscallTraced(["mkdir", "mkdirat"], r => r.Stop == SyscallStop.Entry ? SyscallDecision.Kill : SyscallDecision.Allow)
            .Bind(subject.Directory, subject.Directory)
            .Build();
        using (var process = Sandbox.Start(spec))
        {
            var result = await process.WaitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(Verdict.RestrictedFunction, result.Verdict);
        }
        // The call never ran (the tree dies after it, so what the shell does meanwhile is not checked).
        Assert.False(Directory.Exists(dir));

        // A null dereference: SIGSEGV with SEGV_MAPERR (1); and, without a pid namespace, the
        // payload is the supervisor's own child, which the tracer reaps for it.
        var codes = new System.Collections.Concurrent.ConcurrentQueue<(int, int?)>();
        var crash = new SandboxSpecBuilder("python3", "-c", "import ctypes; ctypes.string_at(0)")
            .Share(NamespaceKinds.Pid)
            .OnSyscallTraced(["getpid"], r =>
            {
                if (r.Stop == SyscallStop.Signal)
                    codes.Enqueue((r.Number, r.SignalCode));
                return SyscallDecision.Allow;
            })
            .Build();
        using var crashed = Sandbox.Start(crash);
        var end = await crashed.WaitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(11, end.Exit!.Signal);
        Assert.Contains((11, (int?)1), codes);
    }

    [Fact]
    public void A_trace_without_a_pid_namespace_still_gives_the_payload_s_status()
    {
        // The payload is then husk's own child, which the tracer's wait reaps: its status came
        // back through the tracer (before, husk failed with "waitid: No child processes").
        string output = System.IO.Path.Combine(subject.Directory, "sharepid.txt");
        var r = Husk("run", "--fs", "ro", "--share-pid", "--trace=exit_group", "--trace-output", output, "--", "/bin/sh", "-c", "exit 3");
        Assert.True(r.Code == 3, r.Stderr);
        Assert.Contains("exit_group(3)", File.ReadAllText(output));
    }

    [Fact]
    public void Bad_sets_and_options_are_one_line_each()
    {
        foreach (var (args, said) in new (string[], string)[]
        {
            (["--trace=opne"], "husk run: --trace: unknown system call: opne"),
            (["--trace=openat,%files"], "husk run: --trace: unknown class: %files"),
            (["--trace-output", "/dev/null"], "husk run: --trace-output needs --trace"),
            (["--trace", "--trace-format", "xml"], "husk run: --trace-format: unknown format xml: use text or json"),
            (["--count-format", "json"], "husk run: --count-format needs --count"),
        })
        {
            var r = Husk(["run", .. args, "--", "/bin/true"]);
            Assert.Equal(2, r.Code);
            string line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith(said, line);
        }
    }

    [Fact]
    public void A_32_bit_program_is_said_to_be_untraced()
    {
        string tiny = System.IO.Path.Combine(subject.Directory, "tiny32");
        File.WriteAllBytes(tiny, TinyI386Exit());
        File.SetUnixFileMode(tiny, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        int bare;
        try
        {
            bare = TestEnvironment.Exec(tiny, []).Code;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            bare = -1; // ENOEXEC: no IA32 emulation (or a guest that turns it off)
        }
        Assert.SkipWhen(bare != 0, "this kernel does not run i386 programs (CONFIG_IA32_EMULATION, ia32_emulation=)");
        var r = Husk("run", "--fs", "ro", "--trace", "--", tiny);
        Assert.Contains("executes a 32-bit (i386) program: its system calls are not traced", r.Stderr);
        // The default profile kills foreign architectures at their first call.
        Assert.Equal(128 + 31, r.Code);
    }

    /// <summary>The smallest i386 ELF that exits with 0: mov eax, 1; xor ebx, ebx; int 0x80.</summary>
    private static byte[] TinyI386Exit()
    {
        const uint Base = 0x08048000;
        byte[] code = [0xb8, 1, 0, 0, 0, 0x31, 0xdb, 0xcd, 0x80];
        var elf = new byte[52 + 32 + code.Length];
        var w = new BinaryWriter(new MemoryStream(elf));
        w.Write([0x7f, (byte)'E', (byte)'L', (byte)'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        w.Write((ushort)2); // ET_EXEC
        w.Write((ushort)3); // EM_386
        w.Write(1u);
        w.Write(Base + 52 + 32); // entry
        w.Write(52u); // phoff
        w.Write(0u); // shoff
        w.Write(0u); // flags
        w.Write((ushort)52); // ehsize
        w.Write((ushort)32); // phentsize
        w.Write((ushort)1); // phnum
        w.Write((ushort)0);
        w.Write((ushort)0);
        w.Write((ushort)0);
        w.Write(1u); // PT_LOAD
        w.Write(0u); // offset
        w.Write(Base); // vaddr
        w.Write(Base); // paddr
        w.Write((uint)elf.Length); // filesz
        w.Write((uint)elf.Length); // memsz
        w.Write(5u); // R+X
        w.Write(0x1000u); // align
        w.Write(code);
        return elf;
    }
}

/// <summary>Tracing as root: the payload is a subordinate range, and the tracer still follows it.</summary>
public class TraceRootTests(TraceSubject subject) : IClassFixture<TraceSubject>
{
    [Fact]
    [Trait("Category", "Root")]
    public void Root_traces_and_counts_the_known_program()
    {
        Assert.SkipUnless(TestEnvironment.IsRoot, "needs root");
        // Root's payload is a subordinate range, which cannot enter root's home: the program goes where it can.
        string dir = Path.Combine("/var/lib/husk-test-scratch", $"trace-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.SetUnixFileMode("/var/lib/husk-test-scratch", (UnixFileMode)0x1ED);
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED);
            string program = Path.Combine(dir, "trace_subject");
            File.Copy(subject.Path, program);
            var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--trace=getppid,openat", "--count", "--", program, "3", "2"]);
            Check(r);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    private static void Check((int Code, string Stdout, string Stderr) r)
    {
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Equal(3, r.Stderr.Split('\n').Count(l => l.Contains("getppid() = 1", StringComparison.Ordinal)));
        Assert.Equal(2, r.Stderr.Split('\n').Count(l => l.Contains("/nonexistent-husk-trace/", StringComparison.Ordinal) && l.Contains("ENOENT", StringComparison.Ordinal)));
        Assert.Matches(@"\n\s*[\d.]+\s+[\d.]+\s+\d+\s+3\s+getppid\n", r.Stderr);
    }
}
