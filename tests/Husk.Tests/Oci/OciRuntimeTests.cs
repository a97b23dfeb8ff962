using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Husk.Cli.Personalities.Oci;
using static Husk.Interop.Interop;

namespace Husk.Tests.Oci;

/// <summary>
/// husk-runtime's protocols with real containers, unprivileged (runc's rootless template: a user
/// namespace mapping the caller to root): create leaves the init waiting on the FIFO, start lets it
/// go, the pid file and the console socket are runc's, errors carry runc's wording to --log.
/// </summary>
public class OciRuntimeTests
{
    private static void NeedBusybox()
    {
        if (OciBundle.Busybox is null)
            Assert.Skip("needs a static busybox (Debian package busybox-static)");
    }

    /// <summary>Waits for a process that is not ours to exit (its pidfd turns readable); false on timeout.</summary>
    private static unsafe bool WaitForExit(int pid, int timeoutMs = 10_000)
    {
        using var pidfd = PidfdOpen(pid);
        if (pidfd is null)
            return true;
        var fd = new PollFd { Fd = pidfd.Fd, Events = POLLIN };
        return Poll(&fd, 1, timeoutMs) == 1;
    }

    private static string Status(OciBundle b, string id)
    {
        var r = b.Run("state", id);
        Assert.Equal(0, r.Code);
        return JsonDocument.Parse(r.Stdout).RootElement.GetProperty("status").GetString()!;
    }

    [Fact]
    public void Create_leaves_the_init_waiting_on_the_fifo_until_start()
    {
        NeedBusybox();
        using var b = new OciBundle(OciBundle.Args("sh", "-c", "echo started > /ran; id -u >> /ran"));
        string pidFile = Path.Combine(b.Directory, "init.pid");
        var created = b.Run("create", "--bundle", b.Directory, "--pid-file", pidFile, "c1");
        Assert.True(created.Code == 0, created.Stderr);
        // runc's pid file: the number alone, no newline.
        byte[] raw = File.ReadAllBytes(pidFile);
        Assert.DoesNotContain((byte)'\n', raw);
        int pid = int.Parse(Encoding.ASCII.GetString(raw), System.Globalization.CultureInfo.InvariantCulture);
        var state = JsonDocument.Parse(b.Run("state", "c1").Stdout).RootElement;
        Assert.Equal("created", state.GetProperty("status").GetString());
        Assert.Equal(pid, state.GetProperty("pid").GetInt32());
        Assert.Equal(b.Directory, state.GetProperty("bundle").GetString());
        Assert.True(File.Exists(Path.Combine(b.Root, "c1", "exec.fifo")));
        // The init waits (its process is there) and has not run the payload.
        Assert.True(Directory.Exists($"/proc/{pid}"));
        Assert.False(File.Exists(b.Rootfs("/ran")));
        Assert.Equal("container with id exists: c1", b.Run("create", "--bundle", b.Directory, "c1").Stderr.Trim());

        var started = b.Run("start", "c1");
        Assert.True(started.Code == 0, started.Stderr);
        Assert.True(WaitForExit(pid));
        Assert.Equal("started\n0\n", File.ReadAllText(b.Rootfs("/ran")));
        Assert.Equal("stopped", Status(b, "c1"));
        Assert.Equal("cannot start a container that has stopped", b.Run("start", "c1").Stderr.Trim());
        Assert.Equal("container not running", b.Run("kill", "c1", "KILL").Stderr.Trim());
        Assert.Equal(0, b.Run("delete", "c1").Code);
        Assert.False(Directory.Exists(Path.Combine(b.Root, "c1")));
        var gone = b.Run("state", "c1");
        Assert.Equal(1, gone.Code);
        Assert.Equal("container \"c1\" does not exist", gone.Stderr.Trim());
    }

    [Fact]
    public void Kill_takes_names_and_numbers_and_delete_refuses_what_is_not_stopped()
    {
        NeedBusybox();
        using var b = new OciBundle(OciBundle.Args("sleep", "100"));
        Assert.Equal(0, b.Run("run", "--detach", "c2").Code);
        Assert.Equal("running", Status(b, "c2"));
        int pid = JsonDocument.Parse(b.Run("state", "c2").Stdout).RootElement.GetProperty("pid").GetInt32();
        var refused = b.Run("delete", "c2");
        Assert.Equal(1, refused.Code);
        Assert.Equal("cannot delete container c2 that is not stopped: running", refused.Stderr.Trim());
        // podman passes numbers, runtime-tools names (SIGTERM means nothing to an init without a handler).
        Assert.Equal(0, b.Run("kill", "c2", "9").Code);
        Assert.True(WaitForExit(pid));
        Assert.Equal("stopped", Status(b, "c2"));
        Assert.Equal(0, b.Run("delete", "c2").Code);

        Assert.Equal(0, b.Run("run", "-d", "c3").Code);
        int pid3 = JsonDocument.Parse(b.Run("state", "c3").Stdout).RootElement.GetProperty("pid").GetInt32();
        Assert.Equal(0, b.Run("kill", "c3", "SIGSTOP").Code);
        Assert.Equal(0, b.Run("kill", "c3", "CONT").Code);
        Assert.False(WaitForExit(pid3, 0));
        Assert.Equal(0, b.Run("delete", "--force", "c3").Code);
        Assert.Equal(1, b.Run("state", "c3").Code);
        Assert.Equal(0, b.Run("delete", "--force", "no-such").Code);
    }

    [Fact]
    public void Run_returns_the_status_and_exec_joins_the_container()
    {
        NeedBusybox();
        using var b = new OciBundle(OciBundle.Args("sh", "-c", "echo from-run; exit 3"));
        var run = b.Run("run", "c4");
        Assert.Equal(3, run.Code);
        Assert.Equal("from-run\n", run.Stdout);
        Assert.Equal(1, b.Run("state", "c4").Code); // run deletes what it made

        using var s = new OciBundle(OciBundle.Args("sleep", "100"));
        Assert.Equal(0, s.Run("run", "--detach", "c5").Code);
        int init = JsonDocument.Parse(s.Run("state", "c5").Stdout).RootElement.GetProperty("pid").GetInt32();
        var exec = s.Run("exec", "c5", "sh", "-c", "readlink /proc/1/exe; echo $$; exit 4");
        Assert.Equal(4, exec.Code);
        string[] lines = exec.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("/bin/busybox", lines[0]); // pid 1 there is the container's init
        Assert.NotEqual("1", lines[1]);
        string execPid = Path.Combine(s.Directory, "exec.pid");
        Assert.Equal(0, s.Run("exec", "--detach", "--pid-file", execPid, "c5", "sleep", "50").Code);
        int detached = int.Parse(File.ReadAllText(execPid), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(new FileInfo($"/proc/{init}/ns/pid").LinkTarget, new FileInfo($"/proc/{detached}/ns/pid").LinkTarget);
        Assert.Equal(0, s.Run("delete", "--force", "c5").Code);
        Assert.True(WaitForExit(init));
    }

    [Fact]
    public void The_console_socket_gets_the_terminal()
    {
        NeedBusybox();
        using var b = new OciBundle(doc =>
        {
            OciBundle.Args("sh", "-c", "tty; echo via-pty")(doc);
            doc["process"]!["terminal"] = true;
        });
        string path = Path.Combine(b.Directory, "console.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var created = b.Run("create", "--console-socket", path, "c6");
        Assert.True(created.Code == 0, created.Stderr);
        using var conn = listener.Accept();
        Span<byte> data = stackalloc byte[64];
        Span<byte> control = stackalloc byte[64];
        nint n = ReceiveMessage((int)conn.Handle, data, control, MSG_CMSG_CLOEXEC, out int controlLength);
        Assert.True(n > 0);
        int? master = null;
        var messages = new ControlMessages(control[..controlLength]);
        while (messages.MoveNext(out int level, out int type, out var fdData))
        {
            if (level == SOL_SOCKET && type == SCM_RIGHTS)
                master = System.Runtime.InteropServices.MemoryMarshal.Read<int>(fdData);
        }
        Assert.NotNull(master);
        using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(master!.Value, ownsHandle: true), FileAccess.ReadWrite, 1);
        Assert.Equal(0, b.Run("start", "c6").Code);
        var output = new StringBuilder();
        var buffer = new byte[256];
        while (!output.ToString().Contains("via-pty", StringComparison.Ordinal))
        {
            int got;
            try
            {
                got = stream.Read(buffer);
            }
            catch (IOException)
            {
                break; // EIO once the terminal's last user is gone
            }
            if (got <= 0)
                break;
            output.Append(Encoding.UTF8.GetString(buffer, 0, got));
        }
        Assert.Equal("/dev/pts/0\r\nvia-pty\r\n", output.ToString());
    }

    [Fact]
    public void Errors_name_the_field_and_go_to_the_log_as_runc_writes_them()
    {
        NeedBusybox();
        using var b = new OciBundle(doc => doc["process"]!["user"]!["uid"] = "root");
        var bad = b.Run("create", "c7");
        Assert.Equal(1, bad.Code);
        Assert.Equal("process.user.uid: expected a non-negative 32-bit integer, got the string \"root\"", bad.Stderr.Trim());
        Assert.False(Directory.Exists(Path.Combine(b.Root, "c7")));
        string log = Path.Combine(b.Directory, "log.json");
        var r = OciBundle.RunRuntime(b.Directory, ["--root", b.Root, "--log", log, "--log-format=json", "kill", "nothing-here", "9"]);
        Assert.Equal(1, r.Code);
        var line = JsonDocument.Parse(File.ReadAllLines(log).Single()).RootElement;
        Assert.Equal("error", line.GetProperty("level").GetString());
        Assert.Equal("container \"nothing-here\" does not exist", line.GetProperty("msg").GetString());
        Assert.True(DateTimeOffset.TryParse(line.GetProperty("time").GetString(), out _));
        Assert.Equal("flag provided but not defined: -bogus", TestEnvironment.Exec(OciBundle.Runtime, ["--bogus", "list"]).Stderr.Trim());
        Assert.Equal("invalid id format: a/b", b.Run("state", "a/b").Stderr.Trim());
    }

    /// <summary>The lines of /proc/PID/status that say what confines a process.</summary>
    private static string[] Confinement(string status) =>
        [.. status.Split('\n').Where(l => l.Split(':')[0] is "CapInh" or "CapPrm" or "CapEff" or "CapBnd" or "CapAmb" or "NoNewPrivs" or "Seccomp" or "Seccomp_filters")];

    [Fact]
    public void Exec_carries_the_containers_seccomp_capabilities_and_no_new_privs()
    {
        NeedBusybox();
        using var b = new OciBundle(doc =>
        {
            OciBundle.Args("sleep", "100")(doc);
            // mkdir fails with ENOTSUP (95) only under the container's filter: the rootfs is writable.
            doc["linux"]!["seccomp"] = JsonNode.Parse("""
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]}
                """);
            doc["process"]!["capabilities"] = JsonNode.Parse("""
                {"bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
                """);
            doc["process"]!["noNewPrivileges"] = true;
        });
        Assert.Equal(0, b.Run("run", "--detach", "c8").Code);
        int init = JsonDocument.Parse(b.Run("state", "c8").Stdout).RootElement.GetProperty("pid").GetInt32();
        string[] expected = Confinement(File.ReadAllText($"/proc/{init}/status"));
        Assert.Contains("Seccomp:\t2", expected);
        Assert.Contains("NoNewPrivs:\t1", expected);
        Assert.Contains("CapEff:\t0000000000000020", expected); // CAP_KILL alone

        // The process as runc's flags make it, and as conmon and containerd give it (--process).
        var byArgs = b.Run("exec", "c8", "sh", "-c", "cat /proc/self/status; mkdir /made || echo refused");
        Assert.True(byArgs.Code == 0, byArgs.Stderr);
        Assert.Equal(expected, Confinement(byArgs.Stdout));
        Assert.Contains("refused", byArgs.Stdout, StringComparison.Ordinal);
        string processFile = Path.Combine(b.Directory, "process.json");
        var process = JsonNode.Parse(File.ReadAllText(Path.Combine(b.Directory, "config.json")))!["process"]!.AsObject();
        process["args"] = new JsonArray("cat", "/proc/self/status");
        File.WriteAllText(processFile, process.ToJsonString());
        var byFile = b.Run("exec", "--process", processFile, "c8");
        Assert.True(byFile.Code == 0, byFile.Stderr);
        Assert.Equal(expected, Confinement(byFile.Stdout));
        Assert.False(Directory.Exists(b.Rootfs("/made")));
        Assert.Equal(0, b.Run("delete", "--force", "c8").Code);
    }

    /// <summary>What a container with cgroupsPath /NAME can leave on the host: its cgroup directories (every hierarchy) and mounts of its bundle.</summary>
    private static string[] Leftovers(string cgroupName, string bundle) =>
    [
        .. new[] { "/sys/fs/cgroup" }.Concat(Directory.GetDirectories("/sys/fs/cgroup")).Select(h => Path.Combine(h, cgroupName)).Where(Directory.Exists),
        .. TestEnvironment.HostMounts().Split('\n').Where(l => l.Contains(bundle, StringComparison.Ordinal)),
    ];

    [Fact]
    [Trait("Category", "Root")]
    public void As_root_nothing_is_left_after_delete_or_after_the_runtime_is_killed()
    {
        NeedBusybox();
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root (a cgroup of its own)");
        string cgroupName = $"husk-oci-test-{Guid.NewGuid():N}";
        using var b = new OciBundle(doc =>
        {
            OciBundle.Args("sh", "-c", "echo ready; exec sleep 100")(doc);
            doc["linux"]!["cgroupsPath"] = "/" + cgroupName;
            doc["linux"]!["resources"]!["pids"] = new JsonObject { ["limit"] = 64 };
        });

        // delete --force of a running container with an exec'd process beside its init.
        Assert.Equal(0, b.Run("run", "--detach", "c9").Code);
        int init = JsonDocument.Parse(b.Run("state", "c9").Stdout).RootElement.GetProperty("pid").GetInt32();
        string execPid = Path.Combine(b.Directory, "exec.pid");
        Assert.Equal(0, b.Run("exec", "--detach", "--pid-file", execPid, "c9", "sleep", "50").Code);
        int exec = int.Parse(File.ReadAllText(execPid), System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEmpty(Leftovers(cgroupName, b.Directory)); // the check sees the cgroup while it is there
        Assert.Equal(0, b.Run("delete", "--force", "c9").Code);
        Assert.True(WaitForExit(init));
        Assert.True(WaitForExit(exec));
        Assert.Empty(Leftovers(cgroupName, b.Directory));
        Assert.False(Directory.Exists(Path.Combine(b.Root, "c9")));

        // A foreground run whose runtime is killed -9: the container lives on, delete --force takes it all.
        var psi = new System.Diagnostics.ProcessStartInfo(OciBundle.Runtime)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = b.Directory,
        };
        foreach (string a in new[] { "--root", b.Root, "run", "c10" })
            psi.ArgumentList.Add(a);
        using var runtime = System.Diagnostics.Process.Start(psi)!;
        Assert.Equal("ready", runtime.StandardOutput.ReadLine()); // the payload runs
        runtime.Kill();
        runtime.WaitForExit();
        Assert.Equal("running", Status(b, "c10"));
        Assert.Equal(0, b.Run("delete", "--force", "c10").Code);
        // The pipe ends only when everything that held it (the container's processes) is gone.
        Assert.Equal("", runtime.StandardOutput.ReadToEnd());
        Assert.Empty(Leftovers(cgroupName, b.Directory));
        Assert.False(Directory.Exists(Path.Combine(b.Root, "c10")));
    }

    [Fact]
    public void Start_takes_an_init_that_exits_as_soon_as_its_gate_opens_for_started()
    {
        // start used to open the FIFO first and check the init after: a payload that ran and exited
        // in between (ctr run of a short command, about one run in four) made it "not running".
        // A shell blocked opening the FIFO stands in for husk-init's gate: it writes its byte and is gone.
        string root = TestEnvironment.ScratchDirectory("ocistart");
        try
        {
            var ctx = new OciContext { Store = new ContainerStore(root), Log = new OciLog(null, null, false), Host = OciTestHost.User };
            for (int i = 0; i < 30; i++)
            {
                string id = $"g{i}";
                Directory.CreateDirectory(ctx.Store.Directory(id));
                string fifo = ctx.Store.FifoPath(id);
                Assert.Equal(0, Mkfifo(fifo, 0x180));
                using var gate = System.Diagnostics.Process.Start("/bin/sh", ["-c", "echo x > \"$0\"", fifo])!;
                long ticks = global::Husk.Resources.Cgroup.StartTicks(gate.Id)!.Value;
                // Blocked in open(2), waiting for a reader: only then can opening the FIFO release it.
                var blocked = System.Diagnostics.Stopwatch.StartNew();
                while (File.ReadAllText($"/proc/{gate.Id}/wchan") != "wait_for_partner")
                {
                    Assert.True(blocked.Elapsed < TimeSpan.FromSeconds(10), "the gate never blocked on the FIFO");
                    Thread.Yield();
                }
                var state = new ContainerState { Id = id, Bundle = root, Rootfs = root, Pid = gate.Id, StartTicks = ticks };
                LifecycleCommands.Release(ctx, state);
                Assert.False(File.Exists(fifo));
                gate.WaitForExit();
            }
        }
        finally
        {
            TestEnvironment.DeleteTree(root);
        }
    }

    [Fact]
    [Trait("Category", "Root")]
    public void As_root_create_fails_when_the_memory_limit_kills_the_init_and_leaves_nothing()
    {
        NeedBusybox();
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root (a cgroup of its own)");
        // podman run --memory 1k: create said yes to a container that was already dead, and podman
        // then failed on conmon's attach socket instead of naming the limit.
        string cgroupName = $"husk-oci-test-{Guid.NewGuid():N}";
        using var b = new OciBundle(doc =>
        {
            doc["linux"]!["cgroupsPath"] = "/" + cgroupName;
            // podman gives twice the limit as memory+swap: a page then fails on that counter first.
            doc["linux"]!["resources"]!["memory"] = new JsonObject { ["limit"] = 1024, ["swap"] = 2048 };
        });
        var created = b.Run("create", "c11");
        Assert.Equal(1, created.Code);
        Assert.Matches(@"^container init (exited with status|was killed by signal) [0-9]+ while the container was made: is linux\.resources\.memory\.limit \(1024\) too low\?$", created.Stderr.Trim());
        Assert.False(Directory.Exists(Path.Combine(b.Root, "c11")));
        Assert.Empty(Leftovers(cgroupName, b.Directory));
    }

    [Fact]
    public void A_reused_pid_is_not_taken_for_the_init()
    {
        // This test's own process stands in for an init: the same pid with another start time is not it.
        int pid = Environment.ProcessId;
        long ticks = global::Husk.Resources.Cgroup.StartTicks(pid)!.Value;
        var state = new ContainerState { Id = "x", Bundle = "/b", Rootfs = "/b/rootfs", Pid = pid, StartTicks = ticks };
        Assert.True(state.InitAlive());
        Assert.False((state with { StartTicks = ticks + 1 }).InitAlive());
        Assert.False((state with { Pid = 0 }).InitAlive());
    }
}
