using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Husk.Interop;
using Husk.Launch;

namespace Husk.Tests;

/// <summary>The engine's less common features, each through a real sandbox.</summary>
public class FeatureTests
{
    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Argv0_is_what_the_payload_sees()
    {
        var (exit, output) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", "echo $0") with { Argv0 = "custom-name" });
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("custom-name", output.Trim());
    }

    [Fact]
    public void Files_can_come_from_a_descriptor_and_bind_by_descriptor_checks_the_file()
    {
        string dir = TestEnvironment.ScratchDirectory("fdops");
        try
        {
            File.WriteAllText(Path.Combine(dir, "marker"), "bound by fd\n");
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED);
            File.SetUnixFileMode(Path.Combine(dir, "marker"), (UnixFileMode)0x1A4);
            var (r, w) = Interop.Interop.Pipe();
            using var dirFd = Interop.Interop.Open(dir, Interop.Interop.O_PATH | Interop.Interop.O_DIRECTORY);
            using (r)
            {
                using (w)
                    Interop.Interop.WriteAll(w.Fd, "from a pipe\n"u8);
                var spec = TestEnvironment.Spec("/bin/sh", "-c", "cat /tmp/piped /tmp/fd/marker") with
                {
                    Mounts = [.. TestEnvironment.Spec().Mounts, new WriteFile("/tmp/piped") { Fd = Descriptors.Borrow(r.Fd) }, new BindFdMount(Descriptors.Borrow(dirFd.Fd), "/tmp/fd") { ReadOnly = true }],
                };
                var (exit, output) = TestEnvironment.Run(spec);
                Assert.Equal(0, exit.ExitCode);
                Assert.Equal(["from a pipe", "bound by fd"], Lines(output));
            }
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public async Task A_file_cut_at_the_output_limit_in_a_persistent_overlay_is_an_output_limit_through_the_library()
    {
        string dir = TestEnvironment.ScratchDirectory("cutlib");
        try
        {
            foreach (string d in new[] { "lower", "upper", "work" })
                Directory.CreateDirectory(Path.Combine(dir, d));
            // The program ignores SIGXFSZ, gets EFBIG, and exits 0 all the same.
            var spec = TestEnvironment.Spec("/bin/sh", "-c", "trap '' XFSZ; head -c 200000 /dev/zero > /tmp/o/f; exit 0") with
            {
                Mounts =
                [
                    .. TestEnvironment.Spec().Mounts,
                    new OverlayMount("/tmp/o", [Path.Combine(dir, "lower")])
                    {
                        Kind = OverlayKind.Persistent, Upper = Path.Combine(dir, "upper"), Work = Path.Combine(dir, "work"),
                    },
                ],
                Limits = new ResourceLimits { OutputBytes = 64 << 10 },
                StandardError = StdioMode.Pipe,
            };
            var result = await Sandbox.RunAsync(spec, TestContext.Current.CancellationToken);
            Assert.Equal(0, result.Exit!.ExitCode);
            Assert.True(result.Verdict == Verdict.OutputLimit, $"{result.Verdict}: {result.Message}");
            Assert.Equal("a file went past the size limit of 64 KiB: /tmp/o/f", result.Message);
            Assert.Equal((64 << 10) + 1, new FileInfo(Path.Combine(dir, "upper", "f")).Length);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Overlays_stack_layers_keep_writes_where_asked_and_leave_lowers_alone()
    {
        string dir = TestEnvironment.ScratchDirectory("overlay");
        try
        {
            foreach (string d in new[] { "lower1", "lower2", "upper", "work" })
                Directory.CreateDirectory(Path.Combine(dir, d));
            File.WriteAllText(Path.Combine(dir, "lower1", "a"), "bottom\n");
            File.WriteAllText(Path.Combine(dir, "lower2", "a"), "top\n");
            File.WriteAllText(Path.Combine(dir, "lower1", "b"), "only below\n");
            var baseMounts = TestEnvironment.Spec().Mounts;
            var spec = TestEnvironment.Spec("/bin/sh", "-c",
                "cat /tmp/o/a /tmp/o/b; echo new > /tmp/o/c; echo tmp > /tmp/t/c; cat /tmp/t/a; echo x > /tmp/r/a 2>/dev/null || echo ro-refused; cat /tmp/r/b") with
            {
                Mounts =
                [
                    .. baseMounts,
                    new OverlayMount("/tmp/o", [Path.Combine(dir, "lower1"), Path.Combine(dir, "lower2")])
                    {
                        Kind = OverlayKind.Persistent, Upper = Path.Combine(dir, "upper"), Work = Path.Combine(dir, "work"),
                    },
                    new OverlayMount("/tmp/t", [Path.Combine(dir, "lower2")]) { Kind = OverlayKind.Temporary },
                    new OverlayMount("/tmp/r", [Path.Combine(dir, "lower1"), Path.Combine(dir, "lower2")]) { Kind = OverlayKind.ReadOnly },
                ],
            };
            var (exit, output) = TestEnvironment.Run(spec);
            Assert.Equal(0, exit.ExitCode);
            Assert.Equal(["top", "only below", "top", "ro-refused", "only below"], Lines(output));
            Assert.Equal("new\n", File.ReadAllText(Path.Combine(dir, "upper", "c")));
            Assert.False(File.Exists(Path.Combine(dir, "lower2", "c")));
            Assert.Equal(["a"], Directory.GetFiles(Path.Combine(dir, "lower2")).Select(Path.GetFileName));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Overlay_directories_that_overlap_give_a_clear_error()
    {
        string dir = TestEnvironment.ScratchDirectory("overlap");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "lower"));
            Directory.CreateDirectory(Path.Combine(dir, "work"));
            var spec = TestEnvironment.Spec("/bin/true") with
            {
                Mounts =
                [
                    .. TestEnvironment.Spec().Mounts,
                    new OverlayMount("/tmp/o", [Path.Combine(dir, "lower")])
                    {
                        // The upper is the lower itself: the kernel refuses overlapping layers.
                        Kind = OverlayKind.Persistent, Upper = Path.Combine(dir, "lower"), Work = Path.Combine(dir, "work"),
                    },
                ],
            };
            var e = Assert.Throws<SandboxSetupException>(() => Sandbox.Start(spec));
            Assert.Equal("mount overlay on /tmp/o: Too many levels of symbolic links (overlay directories may not overlap)", e.Message);
            Assert.IsType<OverlayMount>(e.Origin);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Lock_files_are_held_by_the_sandbox_while_it_runs()
    {
        string dir = TestEnvironment.ScratchDirectory("lock");
        try
        {
            string lockFile = Path.Combine(dir, "lock");
            File.WriteAllText(lockFile, "");
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
            File.SetUnixFileMode(lockFile, (UnixFileMode)0x1B6);
            var (r, w) = Interop.Interop.Pipe();
            using (r)
            {
                var spec = TestEnvironment.Spec("/bin/sh", "-c", "echo ready; exec sleep 30") with
                {
                    LockFiles = [lockFile],
                    Fds = [new FdMapping(Descriptors.Borrow(w.Fd), 1)],
                };
                SandboxProcess p;
                using (w)
                    p = Sandbox.Start(spec);
                // fcntl locks (not flock) conflict with the open-file-description lock husk-init holds.
                string tryLock = $"import fcntl, sys\nf = open('{lockFile}', 'r+')\ntry:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(42)\n";
                using (p)
                using (var reader = new StreamReader(new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(r.Release(), true), FileAccess.Read)))
                {
                    Assert.Equal("ready", reader.ReadLine());
                    Assert.Equal(42, TestEnvironment.Exec("python3", ["-c", tryLock]).Code);
                    p.Kill();
                    p.WaitForExit();
                }
                // husk-init may still be exiting: the lock goes with it.
                int code = 42;
                for (int i = 0; i < 50 && code != 0; i++)
                {
                    code = TestEnvironment.Exec("python3", ["-c", tryLock]).Code;
                    if (code != 0)
                        Thread.Sleep(50);
                }
                Assert.Equal(0, code);
            }
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public async Task Block_fd_holds_the_payload_until_the_caller_writes()
    {
        var (blockRead, blockWrite) = Interop.Interop.Pipe();
        var (outRead, outWrite) = Interop.Interop.Pipe();
        using (blockRead)
        using (blockWrite)
        using (outRead)
        {
            var spec = TestEnvironment.Spec("/bin/sh", "-c", "echo ran") with
            {
                BlockFd = Descriptors.Borrow(blockRead.Fd),
                Fds = [new FdMapping(Descriptors.Borrow(outWrite.Fd), 1)],
            };
            var start = Task.Run(() => Sandbox.Start(spec), TestContext.Current.CancellationToken);
            using (outWrite)
            {
                // While blocked, nothing runs: the payload has not been executed yet.
                var first = await Task.WhenAny(start, Task.Delay(500, TestContext.Current.CancellationToken));
                Assert.NotSame(start, first);
                Interop.Interop.WriteAll(blockWrite.Fd, "x"u8);
                using var p = await start;
                Assert.Equal(0, (await p.WaitForExitAsync(TestContext.Current.CancellationToken)).ExitCode);
            }
            using var reader = new StreamReader(new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(outRead.Release(), true), FileAccess.Read));
            Assert.Equal("ran", await reader.ReadLineAsync(TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public void Namespaces_of_a_running_sandbox_can_be_joined_by_fd()
    {
        var (r, w) = Interop.Interop.Pipe();
        using (r)
        {
            var first = TestEnvironment.Spec("/bin/sh", "-c", "echo ready; exec sleep 30") with { Fds = [new FdMapping(Descriptors.Borrow(w.Fd), 1)] };
            SandboxProcess outer;
            using (w)
                outer = Sandbox.Start(first);
            using (outer)
            using (var reader = new StreamReader(new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(r.Release(), true), FileAccess.Read)))
            {
                Assert.Equal("ready", reader.ReadLine());
                using var userns = Interop.Interop.Open($"/proc/{outer.Pid}/ns/user", Interop.Interop.O_RDONLY);
                using var pidns = Interop.Interop.Open($"/proc/{outer.Pid}/ns/pid", Interop.Interop.O_RDONLY);
                var joined = TestEnvironment.Spec() with
                {
                    Namespaces = NamespaceKinds.Mount | NamespaceKinds.Uts | NamespaceKinds.Ipc,
                    UserNamespaceFd = Descriptors.Borrow(userns.Fd),
                    PidNamespaceFd = Descriptors.Borrow(pidns.Fd),
                };
                var probe = TestEnvironment.RunProbe(joined);
                string Ns(string kind, int pid) => new FileInfo($"/proc/{pid}/ns/{kind}").LinkTarget!;
                Assert.Equal(Ns("user", outer.Pid), probe.GetProperty("ns").GetProperty("user").GetString());
                Assert.Equal(Ns("pid", outer.Pid), probe.GetProperty("ns").GetProperty("pid").GetString());
                outer.Kill();
            }
        }
    }

    [Fact]
    public void Sandbox_dies_with_its_supervisor()
    {
        using var husk = Process.Start(new ProcessStartInfo(TestEnvironment.Husk)
        {
            ArgumentList = { "run", "--", "/bin/sh", "-c", "echo $$ > /dev/null; exec sleep 60" },
            RedirectStandardOutput = true,
        })!;
        // Find the sandbox's processes: the supervisor's children.
        int[] children = [];
        for (int i = 0; i < 100 && children.Length == 0; i++)
        {
            Thread.Sleep(50);
            children = ChildrenOf(husk.Id);
        }
        Assert.NotEmpty(children);
        var tree = children.SelectMany(c => ChildrenOf(c).Prepend(c)).ToArray();
        husk.Kill(); // SIGKILL: no chance to clean up
        husk.WaitForExit();
        for (int i = 0; i < 100 && tree.Any(Alive); i++)
            Thread.Sleep(50);
        Assert.DoesNotContain(tree, Alive);
    }

    private static bool Alive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static int[] ChildrenOf(int pid)
    {
        try
        {
            return [.. Directory.GetDirectories($"/proc/{pid}/task")
                .SelectMany(t => File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Select(int.Parse)];
        }
        catch (IOException)
        {
            return [];
        }
    }

    [Fact]
    public void A_masked_proc_gives_a_clear_error_naming_the_container_case()
    {
        // Husk inside Husk, where the outer sandbox masks part of /proc as container runtimes do:
        // the kernel then refuses a new procfs, and the message says why and what to do. (The outer
        // sandbox allows nested user namespaces, which husk run refuses by default, and the inner one does
        // not limit them: that limit is written through the masked /proc/sys.)
        var r = TestEnvironment.Exec(TestEnvironment.Husk,
        [
            "run", "--allow-userns", "--tmpfs", "/proc/sys", "--", TestEnvironment.Husk, "run", "--allow-userns", "--", "/bin/true",
        ]);
        Assert.Equal(1, r.Code);
        Assert.Contains("husk: mount proc on /proc: Operation not permitted (the host's /proc is partly masked, as in most containers", r.Stderr);
    }

    [Fact]
    public void Subordinate_range_maps_are_planned_around_the_callers_id()
    {
        Assert.Equal("1000 1000 1 0 100000 1000 1001 101000 64536", SpawnPlanner.RangeMap(1000, 1000, (100000, 65536)));
        Assert.Equal("0 1000 1 1 100000 65536", SpawnPlanner.RangeMap(0, 1000, (100000, 65536)));
        Assert.Equal((200000u, 65536u), SubordinateIds.Parse(["# comment", "alice:100000:65536", "1001:200000:65536"], "bob", 1001));
        Assert.Null(SubordinateIds.Parse(["alice:100000:65536"], "bob", 1001));
    }

    [Fact]
    public void Subordinate_range_gives_a_whole_range_when_etc_subuid_grants_one()
    {
        var range = SubordinateIds.Find("/etc/subuid", Environment.UserName, TestEnvironment.Uid);
        if (TestEnvironment.IsRoot || range is null || !File.Exists("/usr/bin/newuidmap"))
            Assert.Skip("needs an unprivileged user with an /etc/subuid range and newuidmap (Debian's uidmap)");
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Identity = new Identity { Mapping = IdMapping.SubordinateRange } });
        string[] lines = probe.GetProperty("uid_map").GetString()!.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 2);
        Assert.Equal(TestEnvironment.Uid, probe.GetProperty("uid").GetUInt32());
    }
}
