using System.Runtime.InteropServices;
using System.Text.Json;
using Husk.Policy;

namespace Husk.Tests.Policy;

/// <summary>Filters compiled by Husk, installed by the engine, and system calls made under them by the probe.</summary>
public partial class SeccompRunTests
{
    internal static int Nr(string name) => SyscallTable.Native.Number(name)!.Value;

    /// <summary>Runs "husk-probe syscall NR ARGS" under the given policies; returns how it ended and what it printed.</summary>
    internal static (SandboxExit Exit, long Ret, int Errno) Call(SandboxSpec spec, string name, params string[] args)
    {
        var (exit, output) = TestEnvironment.Run(spec with { Command = [TestEnvironment.Probe, "syscall", Nr(name).ToString(), .. args] });
        if (exit.ExitCode != 0)
            return (exit, 0, 0);
        var json = JsonDocument.Parse(output).RootElement;
        return (exit, json.GetProperty("ret").GetInt64(), json.GetProperty("errno").GetInt32());
    }

    internal static SandboxSpec With(params SeccompPolicy[] policies) =>
        TestEnvironment.Spec() with { Seccomp = SeccompSpec.Raw([.. policies.Select(p => SeccompCompiler.Compile(p))]) };

    private static SeccompPolicy AllowBut(string name, SeccompAction action, params ArgumentCondition[] conditions) => new()
    {
        DefaultAction = SeccompAction.Allow,
        Rules = [new SeccompRule(name, action) { Conditions = [.. conditions] }],
    };

    [Fact]
    public void Errno_fails_the_call_and_errno_0_makes_it_a_successful_no_op()
    {
        var (exit, ret, errno) = Call(With(AllowBut("getppid", SeccompAction.Fail(Errno.ESRCH))), "getppid");
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal((-1, 3), (ret, errno));
        // fchownat to an id the sandbox does not map (EINVAL): a no-op that succeeds (mkosi's --suppress-chown).
        string[] chown = ["-100", "s:/tmp", "12345", "12345", "0"];
        Assert.Equal((-1L, 22), Call(TestEnvironment.Spec(), "fchownat", chown) is var r1 ? (r1.Ret, r1.Errno) : default);
        Assert.Equal((0L, 0), Call(With(AllowBut("fchownat", SeccompAction.Fail(0))), "fchownat", chown) is var r2 ? (r2.Ret, r2.Errno) : default);
    }

    [Fact]
    public void Kill_and_trap_end_the_process_with_sigsys_and_log_lets_the_call_run()
    {
        Assert.Equal(31, Call(With(AllowBut("getppid", SeccompAction.KillProcess)), "getppid").Exit.Signal);
        Assert.Equal(31, Call(With(AllowBut("getppid", SeccompAction.Trap)), "getppid").Exit.Signal);
        var (exit, ret, errno) = Call(With(AllowBut("getppid", SeccompAction.Log)), "getppid");
        Assert.Equal(0, exit.ExitCode);
        Assert.True(ret > 0 && errno == 0);
    }

    [Fact]
    public void Argument_comparisons_decide_on_the_real_kernel()
    {
        // Refuse dup3 onto descriptors 100 to 199 only.
        var spec = With(AllowBut("dup3", SeccompAction.Fail(Errno.EMFILE), ArgumentCondition.Range(1, 100, 199, is32Bit: true)));
        Assert.Equal((99L, 0), Call(spec, "dup3", "1", "99", "0") is var a ? (a.Ret, a.Errno) : default);
        Assert.Equal((-1L, 24), Call(spec, "dup3", "1", "100", "0") is var b ? (b.Ret, b.Errno) : default);
        Assert.Equal((-1L, 24), Call(spec, "dup3", "1", "199", "0") is var c ? (c.Ret, c.Errno) : default);
        Assert.Equal((200L, 0), Call(spec, "dup3", "1", "200", "0") is var d ? (d.Ret, d.Errno) : default);
        // The kernel reads an int: bits above 32 cannot slip past a 32-bit comparison.
        Assert.Equal((-1L, 24), Call(spec, "dup3", "1", "0x100000064", "0") is var e ? (e.Ret, e.Errno) : default);
        // Masked equality: O_CLOEXEC (0x80000) in dup3's flags refused.
        var masked = With(AllowBut("dup3", SeccompAction.Fail(Errno.EACCES), ArgumentCondition.Masked(2, 0x80000, 0x80000)));
        Assert.Equal((-1L, 13), Call(masked, "dup3", "1", "50", "0x80000") is var f ? (f.Ret, f.Errno) : default);
        Assert.Equal((50L, 0), Call(masked, "dup3", "1", "50", "0") is var g ? (g.Ret, g.Errno) : default);
    }

    [Fact]
    public void Stacked_filters_apply_the_strictest_action()
    {
        var spec = With(AllowBut("getppid", SeccompAction.Fail(Errno.ESRCH)), AllowBut("getppid", SeccompAction.Fail(Errno.EPERM)), AllowBut("getpid", SeccompAction.Log));
        var (_, ret, errno) = Call(spec, "getppid");
        Assert.Equal(-1, ret);
        Assert.Contains(errno, new[] { 1, 3 });
    }

    [Fact]
    public void The_default_profile_runs_the_probe_and_refuses_what_it_should()
    {
        var spec = With(SeccompProfiles.Default);
        var seen = TestEnvironment.RunProbe(spec);
        Assert.Equal("2", seen.GetProperty("status").GetProperty("Seccomp").GetString());
        Assert.Equal((-1L, 38), Call(spec, "clone3", "buf:88", "88") is var c3 ? (c3.Ret, c3.Errno) : default);
        Assert.Equal((-1L, 1), Call(spec, "unshare", "0x10000000") is var u ? (u.Ret, u.Errno) : default);
        Assert.Equal((-1L, 1), Call(spec, "mount", "s:none", "s:/tmp", "s:tmpfs", "0", "0") is var m ? (m.Ret, m.Errno) : default);
        Assert.Equal((-1L, 1), Call(spec, "personality", "0x40000") is var p ? (p.Ret, p.Errno) : default);
        Assert.Equal(0, Call(spec, "personality", "0xffffffff").Errno);
        Assert.Equal((-1L, 1), Call(spec, "io_uring_setup", "1", "buf:120") is var io ? (io.Ret, io.Errno) : default);
        Assert.Equal((-1L, 1), Call(spec, "bpf", "0", "buf:64", "64") is var b ? (b.Ret, b.Errno) : default);
        Assert.Equal(0, Call(spec, "unshare", "0x400").Errno); // CLONE_FILES is fine
    }

    [Fact]
    public void User_notify_asks_the_supervisor_which_answers_for_the_kernel()
    {
        var spec = With(AllowBut("syncfs", SeccompAction.UserNotify)) with { Seccomp = With(AllowBut("syncfs", SeccompAction.UserNotify)).Seccomp with { UserNotification = true } };
        spec = spec with { Command = [TestEnvironment.Probe, "syscall", Nr("syncfs").ToString(), "1"] };
        var (read, write) = Interop.Interop.Pipe();
        using (read)
        {
            spec = spec with { Fds = [.. spec.Fds, new FdMapping(Descriptors.Borrow(write.Fd), 1)] };
            SandboxProcess process;
            using (write)
                process = Launch.Launcher.Start(spec);
            using (process)
            {
                Assert.NotNull(process.SeccompListener);
                int listener = (int)process.SeccompListener!.DangerousGetHandle();
                var pfd = new PollFd { Fd = listener, Events = 1 };
                Assert.Equal(1, Poll(ref pfd, 1, 30_000));
                var notif = new byte[80];
                Assert.Equal(0, Ioctl(listener, 0xc0502100, notif)); // SECCOMP_IOCTL_NOTIF_RECV
                ulong id = BitConverter.ToUInt64(notif, 0);
                Assert.Equal(Nr("syncfs"), BitConverter.ToInt32(notif, 16));
                Assert.Equal(1UL, BitConverter.ToUInt64(notif, 32)); // args[0]
                var resp = new byte[24];
                BitConverter.TryWriteBytes(resp.AsSpan(0), id);
                BitConverter.TryWriteBytes(resp.AsSpan(8), 4242L);
                Assert.Equal(0, Ioctl(listener, 0xc0182101, resp)); // SECCOMP_IOCTL_NOTIF_SEND
                using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(read.Release(), true), FileAccess.Read);
                string output = new StreamReader(stream).ReadToEnd();
                Assert.Equal(0, process.WaitForExit().ExitCode);
                Assert.Equal(4242, JsonDocument.Parse(output).RootElement.GetProperty("ret").GetInt64());
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(ref PollFd fds, nuint count, int timeout);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, [In, Out] byte[] arg);
}
