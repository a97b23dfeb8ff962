using System.Runtime.InteropServices;
using System.Text.Json;
using Husk.Launch;

namespace Husk.Tests;

/// <summary>Real sandboxes through the library, looked at from inside with the probe.</summary>
public class EngineTests
{
    [Fact]
    public void Payload_runs_in_new_namespaces_with_no_privileges()
    {
        var host = JsonDocument.Parse(TestEnvironment.Exec(TestEnvironment.Probe, []).Stdout).RootElement;
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec());
        foreach (string ns in new[] { "user", "mnt", "pid", "ipc", "uts", "net", "cgroup" })
            Assert.NotEqual(host.GetProperty("ns").GetProperty(ns).GetString(), probe.GetProperty("ns").GetProperty(ns).GetString());
        Assert.Equal(host.GetProperty("ns").GetProperty("time").GetString(), probe.GetProperty("ns").GetProperty("time").GetString());
        var status = probe.GetProperty("status");
        foreach (string set in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" })
            Assert.Equal("0000000000000000", status.GetProperty(set).GetString());
        Assert.Equal("1", status.GetProperty("NoNewPrivs").GetString());
        Assert.Equal("husk-test", probe.GetProperty("hostname").GetString());
        Assert.Equal(2, probe.GetProperty("pid").GetInt32()); // husk-init is pid 1
    }

    [Fact]
    public void Caller_keeps_its_ids_inside_without_helpers()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("root maps to a subordinate range; covered by Root_payload_is_never_host_root_as_root");
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec());
        Assert.Equal(TestEnvironment.Uid, probe.GetProperty("uid").GetUInt32());
        Assert.Equal($"{TestEnvironment.Uid} {TestEnvironment.Uid} 1", Normalize(probe.GetProperty("uid_map").GetString()));
    }

    [Fact]
    public void Identity_can_be_root_or_any_id_inside()
    {
        var root = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Identity = Identity.Root });
        Assert.Equal(0u, root.GetProperty("uid").GetUInt32());
        Assert.Equal(0u, root.GetProperty("gid").GetUInt32());
        var other = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Identity = new Identity { Uid = 1234, Gid = 4321 } });
        Assert.Equal(1234u, other.GetProperty("uid").GetUInt32());
        Assert.Equal(4321u, other.GetProperty("gid").GetUInt32());
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Root_payload_is_never_host_root_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec());
        Assert.Equal(0u, probe.GetProperty("uid").GetUInt32());
        string[] map = Normalize(probe.GetProperty("uid_map").GetString()).Split(' ');
        Assert.Equal("0", map[0]);
        Assert.NotEqual("0", map[1]); // inside 0 is some subordinate id outside, not the host's root
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Nested_user_namespaces_can_be_disabled_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        // The payload's ids are a subordinate range: the nested namespace's setgroups and maps were
        // written once the id switch had left the process non-dumpable (its /proc files the host root's).
        var (exit, output) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", "unshare -U true 2>/dev/null && echo nested || echo refused") with { NestedUserNamespaces = NestedUserNamespaces.Deny });
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("refused\n", output);
    }

    [Fact]
    public void Filesystem_ops_build_the_root_in_order()
    {
        string dir = Directory.CreateTempSubdirectory("husk-fsops").FullName;
        try
        {
            // World-accessible, so the payload may use it whoever it maps to (root's maps to a subordinate id).
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
            File.WriteAllText(Path.Combine(dir, "hello"), "host file\n");
            File.SetUnixFileMode(Path.Combine(dir, "hello"), (UnixFileMode)0x1A4);
            var spec = TestEnvironment.Spec() with
            {
                Mounts =
                [
                    new BindMount("/usr", "/usr") { ReadOnly = true },
                    new MakeSymlink("usr/bin", "/bin"),
                    new MakeSymlink("usr/lib", "/lib"),
                    new MakeSymlink("usr/lib64", "/lib64"),
                    new ProcMount("/proc"),
                    new DevMount("/dev"),
                    new TmpfsMount("/data") { Size = 1 << 20, Mode = FileModes.Private },
                    new BindMount(dir, "/data/ro") { ReadOnly = true },
                    new BindMount(dir, "/data/rw"),
                    new BindMount("/does/not/exist", "/data/missing") { Optional = true },
                    new MakeDirectory("/a/b/c") { Mode = FileModes.Private },
                    new WriteFile("/etc/greeting") { Data = [.. "hi\n"u8], Mode = (UnixFileMode)(0x180) },
                    new WriteFile("/etc/bound") { Data = [.. "bound\n"u8], Placement = FilePlacement.ReadOnlyBind },
                    new MakeSymlink("/data/ro/hello", "/link"),
                    new TmpfsMount("/hidden"),
                    new TmpfsMount("/hidden"), // a later op covers an earlier one
                    new ChangeMode("/a/b", (UnixFileMode)0x1FF),
                    new BindMount(TestEnvironment.Probe, "/probe"),
                ],
            };
            var (exit, output) = TestEnvironment.Run(spec with
            {
                Command = ["/bin/sh", "-c",
                    "stat -c '%a %n' /data /a/b/c /a/b /etc/greeting /etc/bound; cat /etc/greeting /etc/bound /link; " +
                    "test -e /data/missing || echo no-missing; echo x > /data/rw/new && echo rw-ok; " +
                    "echo x > /data/ro/new 2>/dev/null || echo ro-refused; echo x > /etc/bound 2>/dev/null || echo bound-ro; " +
                    "echo size $(( $(stat -f -c '%b*%S' /data) / 1024 ))"],
            });
            Assert.Equal(0, exit.ExitCode);
            string[] expected =
            [
                "700 /data", "700 /a/b/c", "777 /a/b", "600 /etc/greeting", "666 /etc/bound",
                "hi", "bound", "host file", "no-missing", "rw-ok", "ro-refused", "bound-ro", "size 1024",
            ];
            Assert.Equal(expected, output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(File.Exists(Path.Combine(dir, "new")));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Conflicting_symlink_names_the_target_already_there()
    {
        var spec = TestEnvironment.Spec("/bin/true") with
        {
            Mounts = [new MakeSymlink("/dev/null", "/x/link"), new MakeSymlink("/dev/null", "/x/link"), new MakeSymlink("/dev/full", "/x/link")],
        };
        var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(spec));
        Assert.Equal(Errno.EEXIST, e.Errno);
        Assert.Equal("/dev/null", e.Detail);
        Assert.Same(spec.Mounts[2], e.Origin);
        Assert.Equal("create symlink /x/link: a different symlink already exists there (to /dev/null)", e.Message);
    }

    [Fact]
    public void Clone_failure_says_it_is_one()
    {
        // Not a cgroup directory: clone3 refuses to start the child in it.
        using var notCgroup = Interop.Interop.Open("/", Interop.Interop.O_RDONLY | Interop.Interop.O_CLOEXEC);
        var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(TestEnvironment.Spec("/bin/true"), new LaunchHooks { Cgroup = notCgroup }));
        Assert.Equal(SandboxSetupStage.Clone, e.Stage);
        Assert.Null(e.Origin);
    }

    [Fact]
    public void Null_capabilities_leave_them_to_exec()
    {
        // Root inside a new user namespace: exec keeps the namespace's full set unless the spec says otherwise.
        var kept = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Identity = Identity.Root, Capabilities = null });
        Assert.NotEqual("0000000000000000", kept.GetProperty("status").GetProperty("CapEff").GetString());
        var dropped = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Identity = Identity.Root });
        Assert.Equal("0000000000000000", dropped.GetProperty("status").GetProperty("CapEff").GetString());
    }

    [Fact]
    public void Disabled_user_namespaces_cannot_be_created_inside()
    {
        var (exit, output) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c",
            "unshare -U true 2>/dev/null && echo created || echo refused; echo 5 > /proc/sys/user/max_user_namespaces 2>/dev/null; unshare -U true 2>/dev/null && echo created || echo refused") with
        {
            NestedUserNamespaces = NestedUserNamespaces.Deny,
        });
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal(["refused", "refused"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Lock_files_are_held_while_the_sandbox_runs()
    {
        string dir = Directory.CreateTempSubdirectory("husk-lock").FullName;
        try
        {
            string file = Path.Combine(dir, "lock");
            File.WriteAllText(file, "");
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
            File.SetUnixFileMode(file, (UnixFileMode)0x1B6);
            // A write lock the test cannot take while the sandbox holds its read lock.
            string[] tryLock = ["-c", "import fcntl,sys; f=open(sys.argv[1],'a'); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)", file];
            var spec = TestEnvironment.Spec("/bin/sh", "-c", "ls /proc/self/fd | wc -l; read x || true") with
            {
                LockFiles = [file],
                Mounts = [.. TestEnvironment.Spec().Mounts, new BindMount(dir, dir)],
            };
            using (var run = TestEnvironment.StartPiped(spec, s => Launcher.Start(s)))
            {
                // 0-2 and ls's own directory fd: the payload does not get the lock file's descriptor.
                Assert.Equal("4", run.Output.ReadLine());
                Assert.NotEqual(0, TestEnvironment.Exec("python3", tryLock).Code);
                run.CloseInput();
                Assert.Equal(0, run.Process.WaitForExit().ExitCode);
            }
            // husk-init reports the payload's status first and exits (dropping the lock) just after.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (TestEnvironment.Exec("python3", tryLock).Code != 0)
                Assert.True(DateTime.UtcNow < deadline, "the lock was not released when the sandbox ended");
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Raising_only_ambient_capabilities_leaves_the_rest_alone()
    {
        // Root in its own user namespace has every capability but no inheritable ones, so none can
        // become ambient: they are skipped, and exec gives root its full set as usual.
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec() with
        {
            Identity = Identity.Root,
            Capabilities = new CapabilitySet { Ambient = ulong.MaxValue, OnlyRaiseAmbient = true },
        });
        var status = probe.GetProperty("status");
        Assert.Equal("0000000000000000", status.GetProperty("CapAmb").GetString());
        Assert.NotEqual("0000000000000000", status.GetProperty("CapEff").GetString());
        Assert.Equal(status.GetProperty("CapBnd").GetString(), status.GetProperty("CapEff").GetString());
    }

    [Fact]
    public unsafe void Supervisor_fds_are_closed_before_the_child_waits_for_its_ids()
    {
        var (read, write) = Interop.Interop.Pipe();
        using (read)
        {
            int fd = Interop.Interop.Dup(write.Fd); // inheritable, like a caller's status pipe
            write.Dispose();
            bool eof = false;
            var hooks = new LaunchHooks
            {
                // The supervisor closes its copy; end of file comes only if the child has closed its own.
                BeforeRelease = _ =>
                {
                    Interop.Interop.Close(fd);
                    var pfd = new Interop.Interop.PollFd { Fd = read.Fd, Events = Interop.Interop.POLLIN };
                    byte b;
                    eof = Interop.Interop.Poll(&pfd, 1, 5000) == 1 && Interop.Interop.Read(read.Fd, &b, 1) == 0;
                },
            };
            using var p = Launcher.Start(TestEnvironment.Spec("/bin/true") with { InheritFds = true, SupervisorFds = [Descriptors.Borrow(fd)] }, hooks);
            Assert.True(eof, "the sandbox still held the supervisor's descriptor while waiting");
            Assert.Equal(0, p.WaitForExit().ExitCode);
        }
    }

    [Fact]
    public void A_seccomp_filter_need_only_allow_prctl_for_the_next_one()
    {
        // The first program refuses seccomp(2) with ENOSYS and allows everything else, prctl included.
        int seccompNr = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? 277 : 317;
        byte[] first = Bpf((0x20, 0, 0, 0), (0x15, 0, 1, (uint)seccompNr), (0x06, 0, 0, 0x00050000 | 38), (0x06, 0, 0, 0x7fff0000));
        byte[] second = Bpf((0x06, 0, 0, 0x7fff0000));
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Seccomp = SeccompSpec.Raw([.. first], [.. second]) });
        Assert.Equal("2", probe.GetProperty("status").GetProperty("Seccomp_filters").GetString());
    }

    /// <summary>Classic BPF instructions (code, jt, jf, k), 8 bytes each.</summary>
    private static byte[] Bpf(params (ushort Code, byte Jt, byte Jf, uint K)[] insns)
    {
        var bytes = new byte[insns.Length * 8];
        for (int i = 0; i < insns.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), insns[i].Code);
            bytes[i * 8 + 2] = insns[i].Jt;
            bytes[i * 8 + 3] = insns[i].Jf;
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8 + 4), insns[i].K);
        }
        return bytes;
    }

    [Fact]
    public void Ids_can_be_switched_in_a_joined_user_namespace_that_denies_setgroups()
    {
        // An unprivileged caller's namespace denies setgroups; switching ids there must still work.
        var (read, write) = Interop.Interop.Pipe();
        using (read)
        {
            SandboxProcess first;
            using (write)
                first = Launcher.Start(TestEnvironment.Spec("/bin/sh", "-c", "read x || true") with { Fds = [new FdMapping(Descriptors.Borrow(read.Fd), 0)] });
            using (first)
            {
                using var userns = Interop.Interop.Open($"/proc/{first.Pid}/ns/user", Interop.Interop.O_RDONLY | Interop.Interop.O_CLOEXEC);
                uint uid = TestEnvironment.IsRoot ? 0 : TestEnvironment.Uid, gid = TestEnvironment.IsRoot ? 0 : TestEnvironment.Gid;
                var probe = TestEnvironment.RunProbe(TestEnvironment.Spec() with
                {
                    Namespaces = NamespaceKinds.AllButTime & ~NamespaceKinds.User,
                    UserNamespaceFd = Descriptors.Borrow(userns.Fd),
                    Identity = new Identity { Uid = uid, Gid = gid },
                });
                Assert.Equal(uid, probe.GetProperty("uid").GetUInt32());
                Assert.Equal(gid, probe.GetProperty("gid").GetUInt32());
            }
        }
    }

    [Fact]
    public void A_bind_if_present_is_skipped_where_the_sandbox_does_not_show_its_destination()
    {
        // As husk run keeps its own binary read-only: a binary under /var/tmp is not in the sandbox's fresh /var/tmp.
        var spec = TestEnvironment.Spec("/bin/sh", "-c", "test ! -e /tmp/absent/engine && echo skipped") with
        {
            Mounts = [.. TestEnvironment.Spec().Mounts, new BindMount("/etc/hostname", "/tmp/absent/engine") { ReadOnly = true, Optional = true, IfPresent = true }],
        };
        var (exit, output) = TestEnvironment.Run(spec);
        Assert.Equal((0, "skipped\n"), (exit.ExitCode, output));
    }

    [Fact]
    public void Missing_command_is_an_exec_failure()
    {
        var spec = TestEnvironment.Spec("no-such-command-here") with { Environment = ["PATH=/usr/bin:/bin"] };
        var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(spec));
        Assert.True(e.IsExecFailure);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("execvp no-such-command-here: No such file or directory", e.Message);
    }

    [Fact]
    public void Scripts_without_a_shebang_run_with_bin_sh_as_execvp_does()
    {
        string dir = TestEnvironment.ScratchDirectory("script");
        try
        {
            string script = Path.Combine(dir, "plain");
            File.WriteAllText(script, "echo \"[$0] [$1] [$2]\"\n");
            File.SetUnixFileMode(script, (UnixFileMode)0x1ED);
            var spec = TestEnvironment.Spec(script, "a", "b c") with { Argv0 = "ignored" };
            // An explicit path: /bin/sh gets the file and the arguments after argv[0].
            var (exit, output) = TestEnvironment.Run(spec);
            Assert.Equal((0, $"[{script}] [a] [b c]\n"), (exit.ExitCode, output));
            // Found through PATH, after a directory without it: the shell gets the path it was found at.
            (exit, output) = TestEnvironment.Run(spec with { Command = ["plain", "x"], Environment = [$"PATH=/nonexistent:{dir}:/usr/bin:/bin"] });
            Assert.Equal((0, $"[{dir}/plain] [x] []\n"), (exit.ExitCode, output));
            // Without the fallback (mkosi-sandbox's os.execvp), the kernel's answer stands.
            var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(spec with { ScriptShell = false }));
            Assert.True(e.IsExecFailure);
            Assert.Equal(Errno.ENOEXEC, e.Errno);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_sandbox_holding_the_terminal_is_a_process_group_its_init_leads()
    {
        // Field 5 of stat is the process group as the sandbox's pid namespace sees it: 0 when its
        // leader is outside (the caller's), which a shell inside could never give the terminal back to.
        var spec = TestEnvironment.Spec("/bin/sh", "-c", "cut -d' ' -f5 /proc/self/stat");
        Assert.Equal("0\n", TestEnvironment.Run(spec).Stdout);
        Assert.Equal("1\n", TestEnvironment.Run(spec with { ForegroundTerminal = 0 }).Stdout);
        Assert.Contains((spec with { ForegroundTerminal = 0, NewSession = true }).Validate(), p => p.Contains("foreground"));
    }

    [Fact]
    public void Exit_status_and_signals_pass_through()
    {
        var (exit, _) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", "exit 42"));
        Assert.Equal(42, exit.ExitCode);
        Assert.Null(exit.Signal);
        (exit, _) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", "kill -TERM $$"));
        Assert.Null(exit.ExitCode);
        Assert.Equal(15, exit.Signal);
        Assert.Equal(143, exit.ShellStatus);
        (exit, _) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", "exit 3") with { AsPid1 = true });
        Assert.Equal(3, exit.ExitCode);
    }

    [Fact]
    public void Signals_sent_to_the_sandbox_reach_the_payload()
    {
        var (read, write) = Interop.Interop.Pipe();
        using (read)
        {
            var spec = TestEnvironment.Spec("/bin/sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done") with
            {
                Fds = [new FdMapping(Descriptors.Borrow(write.Fd), 1)],
            };
            SandboxProcess p;
            using (write)
                p = Launcher.Start(spec);
            using (p)
            {
                using var reader = new StreamReader(new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(read.Release(), true), FileAccess.Read));
                Assert.Equal("ready", reader.ReadLine());
                Assert.True(p.Signal(PosixSignal.SIGTERM));
                Assert.Equal("got-term", reader.ReadLine());
                Assert.Equal(7, p.WaitForExit().ExitCode);
            }
        }
    }

    [Fact]
    public void Payload_cannot_read_pid1_memory_or_open_its_executable()
    {
        var (exit, output) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; " +
            "head -c1 /proc/1/mem >/dev/null 2>&1 && echo mem-readable || echo mem-denied; " +
            "cat /proc/1/exe >/dev/null 2>&1 && echo exe-readable || echo exe-denied; " +
            "readlink /proc/1/exe >/dev/null 2>&1 && echo exe-link-visible || echo exe-link-denied; " +
            "grep -c . /proc/1/maps >/dev/null 2>&1 && echo maps-readable || echo maps-denied"));
        Assert.Equal(0, exit.ExitCode);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("husk-init", lines[0]);
        Assert.Equal(["mem-denied", "exe-denied", "exe-link-denied", "maps-denied"], lines[1..]);
    }

    [Fact]
    public void Descriptors_of_the_caller_do_not_leak_unless_passed()
    {
        // An fd the caller left inheritable (no O_CLOEXEC) must not reach the payload.
        int leaked = Interop.Interop.Dup(0);
        try
        {
            Assert.True(leaked > 2);
            var probe = TestEnvironment.RunProbe(TestEnvironment.Spec());
            int[] fds = [.. probe.GetProperty("fds").EnumerateArray().Select(e => e.GetInt32())];
            Assert.DoesNotContain(leaked, fds);
            Assert.Contains(0, fds);
            Assert.Contains(1, fds);
            Assert.Contains(2, fds);
            var passed = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Fds = [new FdMapping(Descriptors.Borrow(leaked), 9)] });
            Assert.Contains(9, passed.GetProperty("fds").EnumerateArray().Select(e => e.GetInt32()));
        }
        finally
        {
            Interop.Interop.Close(leaked);
        }
    }

    [Fact]
    public void Descriptors_mapped_onto_the_channels_number_do_not_hide_setup_errors()
    {
        // Map enough descriptors to 3, 4, ... that one of them lands on the child's channel to
        // the supervisor (the lowest free number when the sandbox starts), then fail the exec.
        int count = Directory.GetFileSystemEntries("/proc/self/fd").Length + 8;
        var opened = new List<int>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                int fd = Interop.Interop.Fcntl(0, Interop.Interop.F_DUPFD_CLOEXEC, 600 + i);
                Assert.True(fd >= 600);
                opened.Add(fd);
            }
            var spec = TestEnvironment.Spec("/proc/version") with { Fds = [.. opened.Select((fd, i) => new FdMapping(Descriptors.Borrow(fd), 3 + i))] };
            var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(spec));
            Assert.True(e.IsExecFailure);
            Assert.Equal(Errno.EACCES, e.Errno);
        }
        finally
        {
            foreach (int fd in opened)
                Interop.Interop.Close(fd);
        }
    }

    [Fact]
    public void Environment_and_working_directory_are_the_specs()
    {
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec() with
        {
            Environment = ["A=1", "PATH=/usr/bin:/bin"],
            WorkingDirectory = "/usr/share",
        });
        var env = probe.GetProperty("env");
        Assert.Equal("1", env.GetProperty("A").GetString());
        Assert.Equal("/usr/share", env.GetProperty("PWD").GetString());
        Assert.Equal("/usr/share", probe.GetProperty("cwd").GetString());
        Assert.False(env.TryGetProperty("HOME", out _));
        // No directory given and the caller's is hidden: fall back to / (no HOME here).
        var fallback = TestEnvironment.RunProbe(TestEnvironment.Spec() with
        {
            Environment = ["PATH=/usr/bin:/bin"],
            Mounts = [new BindMount("/usr", "/usr") { ReadOnly = true }, new MakeSymlink("usr/lib", "/lib"),
                new MakeSymlink("usr/lib64", "/lib64"), new BindMount(TestEnvironment.Probe, TestEnvironment.Probe), new ProcMount("/proc")],
        });
        Assert.Equal("/", fallback.GetProperty("cwd").GetString());
        Assert.Equal("/", fallback.GetProperty("env").GetProperty("PWD").GetString());
    }

    [Fact]
    public void Time_namespace_is_created_only_when_asked()
    {
        var host = JsonDocument.Parse(TestEnvironment.Exec(TestEnvironment.Probe, []).Stdout).RootElement;
        var probe = TestEnvironment.RunProbe(TestEnvironment.Spec() with { Namespaces = NamespaceKinds.AllButTime | NamespaceKinds.Time });
        Assert.NotEqual(host.GetProperty("ns").GetProperty("time").GetString(), probe.GetProperty("ns").GetProperty("time").GetString());
    }

    [Fact]
    public void Loopback_is_up_in_a_new_network_namespace()
    {
        var (exit, output) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", "cat /sys/class/net/lo/operstate /proc/net/dev | grep -c :"));
        Assert.Equal(0, exit.ExitCode);
        var (exit2, flags) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", "grep -c ':' /proc/net/dev; python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); c=socket.create_connection(s.getsockname()); print(\"connected\")'"));
        Assert.Equal(0, exit2.ExitCode);
        Assert.Equal(["1", "connected"], flags.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    internal static string Normalize(string? s) => string.Join(' ', (s ?? "").Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries));
}
