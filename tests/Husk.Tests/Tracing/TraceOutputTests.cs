using System.Text.Json;
using Husk.Policy;
using Husk.Tests.Policy;
using Husk.Tracing;

namespace Husk.Tests.Tracing;

/// <summary>Trace lines (text, JSON, mbox's), strace -c's table, and the trace's seccomp filter.</summary>
public class TraceOutputTests
{
    private static readonly DateTimeOffset At = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static SyscallEvent Open(long? ret, Errno? error) => new()
    {
        Kind = TraceEventKind.Syscall,
        Pid = 2,
        HostPid = 4321,
        Number = 257,
        Name = "openat",
        Arguments = [new(unchecked((ulong)-100), "AT_FDCWD"), new(0x1000, "\"/etc/hosts\"") { Value = "/etc/hosts" }, new(0, "O_RDONLY")],
        ReturnValue = ret,
        Error = error,
        Time = At,
        Duration = TimeSpan.FromTicks(123),
    };

    [Fact]
    public void Text_lines_are_strace_lines_with_the_pid_and_duration()
    {
        Assert.Equal("[pid 2] openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY) = 3 <0.000012>\n", TraceFormatter.Line(Open(3, null), TraceFormat.Text));
        Assert.Equal("[pid 2] openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY) = -1 ENOENT (No such file or directory) <0.000012>\n",
            TraceFormatter.Line(Open(-1, Errno.ENOENT), TraceFormat.Text));
        var signal = new SyscallEvent { Kind = TraceEventKind.Signal, Pid = 3, HostPid = 9, Number = 17, Name = "SIGCHLD", Arguments = [new(0, "{si_signo=SIGCHLD}")], Time = At };
        Assert.Equal("[pid 3] --- SIGCHLD {si_signo=SIGCHLD} ---\n", TraceFormatter.Line(signal, TraceFormat.Text));
        var exit = new SyscallEvent { Kind = TraceEventKind.Exited, Pid = 3, HostPid = 9, Number = 0, Name = "exited", Time = At };
        Assert.Equal("[pid 3] +++ exited with 0 +++\n", TraceFormatter.Line(exit, TraceFormat.Text));
        var killed = exit with { Kind = TraceEventKind.Killed, Number = 9, Name = "SIGKILL" };
        Assert.Equal("[pid 3] +++ killed by SIGKILL +++\n", TraceFormatter.Line(killed, TraceFormat.Text));
        var unfinished = Open(null, null) with { Name = "exit_group", Arguments = [new(0, "0")] };
        Assert.Equal("exit_group(0) = ? <0.000012>", unfinished.ToString());
    }

    [Fact]
    public void Json_lines_carry_the_same_fields()
    {
        string line = TraceFormatter.Line(Open(-1, Errno.ENOENT), TraceFormat.Json);
        Assert.EndsWith("\n", line);
        var e = JsonDocument.Parse(line).RootElement;
        Assert.Equal(2, e.GetProperty("pid").GetInt32());
        Assert.Equal(4321, e.GetProperty("host_pid").GetInt32());
        Assert.Equal("openat", e.GetProperty("syscall").GetString());
        Assert.Equal(257, e.GetProperty("nr").GetInt32());
        Assert.Equal("\"/etc/hosts\"", e.GetProperty("args")[1].GetString());
        Assert.Equal("/etc/hosts", e.GetProperty("values")[1].GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("values")[0].ValueKind);
        Assert.Equal(-1, e.GetProperty("ret").GetInt64());
        Assert.Equal("ENOENT", e.GetProperty("errno").GetString());
        Assert.Equal("No such file or directory", e.GetProperty("error").GetString());
        Assert.Equal(0.000012, e.GetProperty("duration").GetDouble());
        Assert.Equal(At, e.GetProperty("time").GetDateTimeOffset());
    }

    [Fact]
    public void Mbox_lines_show_the_call_and_then_its_return()
    {
        Assert.Equal("> [    2] openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY\n< ) = 3\n", TraceFormatter.Line(Open(3, null), TraceFormat.Mbox));
        var brk = Open(4096, null) with { Name = "brk", Arguments = [new(0, "NULL")] };
        // A short entry line: the return is padded to column 40 as mbox's tabto does.
        string text = TraceFormatter.Line(brk, TraceFormat.Mbox);
        Assert.Equal("> [    2] brk(NULL\n< ) " + new string(' ', 40 - ("> [    2] brk(NULL".Length + 1 + 4)) + "= 0x1000\n", text);
    }

    [Fact]
    public void The_count_table_is_strace_cs()
    {
        var counts = new[]
        {
            new SyscallCount("wait4", 61, 1, 0, TimeSpan.FromTicks(5730), TimeSpan.Zero),
            new SyscallCount("openat", 257, 7, 3, TimeSpan.FromTicks(1890), TimeSpan.Zero),
            new SyscallCount("getppid", 110, 5, 0, TimeSpan.Zero, TimeSpan.Zero),
        };
        string expected =
            "% time     seconds  usecs/call     calls    errors syscall\n" +
            "------ ----------- ----------- --------- --------- ----------------\n" +
            " 75.20    0.000573         573         1           wait4\n" +
            " 24.80    0.000189          27         7         3 openat\n" +
            "  0.00    0.000000           0         5           getppid\n" +
            "------ ----------- ----------- --------- --------- ----------------\n" +
            "100.00    0.000762          58        13         3 total\n";
        Assert.Equal(expected, SyscallCountTable.Text(counts));
        var json = JsonDocument.Parse(SyscallCountTable.Json(counts)).RootElement;
        Assert.Equal("openat", json.GetProperty("syscalls")[1].GetProperty("syscall").GetString());
        Assert.Equal(3, json.GetProperty("syscalls")[1].GetProperty("errors").GetInt64());
        Assert.Equal(13, json.GetProperty("total").GetProperty("calls").GetInt64());
    }

    [Fact]
    public void The_counter_sorts_by_time_then_number()
    {
        var counter = new SyscallCounter();
        counter.Add(39, false, TimeSpan.Zero, TimeSpan.Zero);
        counter.Add(110, false, TimeSpan.Zero, TimeSpan.Zero);
        counter.Add(257, true, TimeSpan.FromMicroseconds(5), TimeSpan.FromMicroseconds(9));
        counter.Add(257, false, TimeSpan.FromMicroseconds(5), TimeSpan.FromMicroseconds(9));
        var rows = counter.Snapshot();
        Assert.Equal(["openat", "getpid", "getppid"], rows.Select(r => r.Name));
        Assert.Equal(2, rows[0].Calls);
        Assert.Equal(1, rows[0].Errors);
        Assert.Equal(5, rows[0].MicrosecondsPerCall);
        Assert.Equal(TimeSpan.FromMicroseconds(18), rows[0].WallTime);
    }

    private const uint Allow = 0x7fff0000;
    private const uint Trace = 0x7ff00000 | TraceFilter.Marker;

    [Theory]
    [InlineData(SeccompArchitecture.X86_64)]
    [InlineData(SeccompArchitecture.Aarch64)]
    public void The_filter_stops_only_the_set_and_refuses_ptrace(SeccompArchitecture arch)
    {
        var table = SyscallTable.For(arch);
        var prog = SeccompCompiler.Compile(TraceFilter.Policy(SyscallSet.Parse("openat,getppid,ptrace")), arch);
        uint Run(string name) => BpfInterpreter.Run(prog.AsSpan(), arch.AuditArch(), (uint)table.Number(name)!.Value);
        Assert.Equal(Trace, Run("openat"));
        Assert.Equal(Trace, Run("getppid"));
        Assert.Equal(Allow, Run("read"));
        Assert.Equal(Allow, Run("close"));
        Assert.Equal(0x00050000u | 1, Run("ptrace"));
        // Other architectures are the other filters' business.
        Assert.Equal(Allow, BpfInterpreter.Run(prog.AsSpan(), 0x40000003, 5));
    }

    [Fact]
    public void The_filter_of_every_call_stops_every_number_but_ptrace()
    {
        var arch = SeccompArchitectures.Native;
        var prog = SeccompCompiler.Compile(TraceFilter.Policy(SyscallSet.All), arch).AsSpan();
        var table = SyscallTable.For(arch);
        foreach (string name in table.Names.Where(n => n != "ptrace"))
            Assert.Equal(Trace, BpfInterpreter.Run(prog, arch.AuditArch(), (uint)table.Number(name)!.Value));
        Assert.Equal(Trace, BpfInterpreter.Run(prog, arch.AuditArch(), (uint)table.MaxNumber + 50));
        Assert.Equal(0x00050000u | 1, BpfInterpreter.Run(prog, arch.AuditArch(), (uint)table.Number("ptrace")!.Value));
    }
}
