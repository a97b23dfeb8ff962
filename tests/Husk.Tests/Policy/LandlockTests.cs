using System.Diagnostics;
using System.Net.Sockets;
using Husk.Launch;
using Husk.Policy;

namespace Husk.Tests.Policy;

/// <summary>Landlock rules built in the child after pivot_root, from a path list the planner derives.</summary>
public class LandlockTests
{
    private static void RequireAbi(int abi)
    {
        if (LandlockPolicy.KernelAbi < abi)
            Assert.Skip($"needs Landlock ABI {abi}, this kernel has {LandlockPolicy.KernelAbi}");
    }

    private static HostContext Host(int abi) => new() { Uid = 1000, Gid = 1000, WorkingDirectory = "/", LandlockAbi = abi };

    [Fact]
    public void Rules_mirror_the_mount_plan()
    {
        var rules = LandlockPolicy.MirrorMounts(
        [
            new BindMount("/", "/") { ReadOnly = true },
            new BindMount("/src", "/src"),
            new TmpfsMount("/tmp"),
            new TmpfsMount("/run"),
            new ProcMount("/proc"),
            new DevMount("/dev"),
            new OverlayMount("/o", ["/a", "/b"]) { Kind = OverlayKind.ReadOnly },
            new BindMount("/opt", "/x") { Optional = true },
            new RemountReadOnly("/run"),
        ]);
        Assert.Equal(LandlockFsAccess.ReadExecute, rules.Single(r => r.Path == "/").Access);
        Assert.Equal(LandlockFsAccess.All, rules.Single(r => r.Path == "/src").Access);
        Assert.Equal(LandlockFsAccess.All, rules.Single(r => r.Path == "/tmp").Access);
        Assert.DoesNotContain(rules, r => r.Path is "/run" or "/o");
        Assert.True(rules.Single(r => r.Path == "/x").Optional);
        Assert.Equal(LandlockFsAccess.ReadWrite, rules.Single(r => r.Path == "/dev/shm").Access);
        Assert.False(rules.Single(r => r.Path == "/proc").Access.HasFlag(LandlockFsAccess.MakeReg));
        // W^X: rights add up along a path, so the root only reads and each read-only mount executes.
        var wx = LandlockPolicy.MirrorMounts([new BindMount("/usr", "/usr") { ReadOnly = true }, new TmpfsMount("/tmp"), new BindMount("/x", "/tmp/x") { ReadOnly = true }], writableExecutes: false);
        Assert.Equal(LandlockFsAccess.ReadFile | LandlockFsAccess.ReadDir, wx.Single(r => r.Path == "/").Access);
        Assert.Equal(LandlockFsAccess.ReadWrite, wx.Single(r => r.Path == "/tmp").Access);
        Assert.Equal(LandlockFsAccess.ReadExecute, wx.Single(r => r.Path == "/usr").Access);
        Assert.Equal(LandlockFsAccess.ReadExecute, wx.Single(r => r.Path == "/tmp/x").Access);
    }

    [Fact]
    public void An_older_abi_gets_only_the_rights_it_knows_and_a_strict_policy_refuses_it()
    {
        var policy = new LandlockPolicy { Paths = [new("/", LandlockFsAccess.All)], RestrictTcp = true, TcpBindPorts = [8080] };
        var spec = TestEnvironment.Spec("/bin/true") with { Landlock = LandlockSpec.Rules(policy) };
        var ops = SpawnPlanner.Plan(spec, Host(3)).Ops;
        var create = ops.Single(o => o.Kind == Interop.Interop.OpKind.LandlockCreate);
        Assert.Equal(8UL, create.C); // ABI 3: handled_access_fs only
        Assert.Equal((ulong)LandlockPolicy.FsAccessOf(3), BitConverter.ToUInt64(create.Data!, 0));
        Assert.Equal((ulong)LandlockPolicy.FsAccessOf(3), ops.Single(o => o.Kind == Interop.Interop.OpKind.LandlockRule).A);
        Assert.DoesNotContain(ops, o => o.Kind == Interop.Interop.OpKind.LandlockRule && o.B == 2);
        var six = SpawnPlanner.Plan(spec, Host(6)).Ops;
        Assert.Equal(24UL, six.Single(o => o.Kind == Interop.Interop.OpKind.LandlockCreate).C);
        Assert.Contains(six, o => o.Kind == Interop.Interop.OpKind.LandlockRule && o.B == 2 && o.C == 8080 && o.A == 1);
        Assert.DoesNotContain(SpawnPlanner.Plan(spec, Host(0)).Ops, o => o.Kind == Interop.Interop.OpKind.LandlockCreate);
        var e = Assert.Throws<SandboxSpecException>(() => SpawnPlanner.Plan(spec with { Landlock = LandlockSpec.Rules(policy with { Strict = true }) }, Host(3)));
        Assert.Contains("TCP port rules (ABI 4)", e.Problems[0]);
    }

    private static SandboxSpec Sandboxed(string script, LandlockPolicy policy) =>
        TestEnvironment.Spec("/bin/sh", "-c", script) with { Landlock = LandlockSpec.Rules(policy) };

    [Fact]
    public void Writes_need_a_rule_even_where_the_mount_is_writable()
    {
        RequireAbi(1);
        string script = "echo x > /tmp/f && echo wrote; cat /etc/hostname >/dev/null && echo read; ls / >/dev/null && echo listed";
        var readOnly = new LandlockPolicy { Paths = [new("/", LandlockFsAccess.ReadExecute), new("/dev", LandlockFsAccess.ReadFile | LandlockFsAccess.WriteFile)] };
        var (exit, output) = TestEnvironment.Run(Sandboxed(script, readOnly));
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("read\nlisted\n", output);
        var mirrored = new LandlockPolicy { Paths = LandlockPolicy.MirrorMounts(TestEnvironment.Spec().Mounts) };
        (exit, output) = TestEnvironment.Run(Sandboxed(script, mirrored));
        Assert.Equal("wrote\nread\nlisted\n", output);
        Assert.Equal(0, TestEnvironment.Run(TestEnvironment.Spec(TestEnvironment.Probe) with { Landlock = LandlockSpec.Rules(mirrored) }).Exit.ExitCode);
    }

    [Fact]
    public void A_bound_file_gets_only_file_rights()
    {
        RequireAbi(1);
        string dir = TestEnvironment.ScratchDirectory("llfile");
        try
        {
            string file = Path.Combine(dir, "f");
            File.WriteAllText(file, "before\n");
            File.SetUnixFileMode(file, (UnixFileMode)0x1B6);
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
            var spec = TestEnvironment.Spec("/bin/sh", "-c", "echo after > /tmp/bound && cat /tmp/bound") with
            {
                Mounts = [.. TestEnvironment.Spec().Mounts, new BindMount(file, "/tmp/bound")],
            };
            spec = spec with { Landlock = LandlockSpec.Rules(new LandlockPolicy { Paths = LandlockPolicy.MirrorMounts(spec.Mounts) }) };
            var (exit, output) = TestEnvironment.Run(spec);
            Assert.Equal(0, exit.ExitCode);
            Assert.Equal("after\n", output);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Signals_to_processes_outside_are_refused_with_scoping()
    {
        RequireAbi(6);
        using var outside = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            // Without a pid namespace the host's process is visible, and the payload runs as its owner.
            var spec = TestEnvironment.Spec("/bin/sh", "-c", $"kill -0 {outside.Id} 2>/dev/null && echo reached || echo refused") with
            {
                Namespaces = NamespaceKinds.None,
                FileSystem = FileSystemSpec.Inherit,
                Mounts = [],
                Hostname = null,
                Capabilities = null,
            };
            Assert.Equal("reached\n", TestEnvironment.Run(spec).Stdout);
            var scoped = new LandlockPolicy { Paths = [new("/", LandlockFsAccess.All)], ScopeAbstractUnixSockets = false };
            Assert.Equal("refused\n", TestEnvironment.Run(spec with { Landlock = LandlockSpec.Rules(scoped) }).Stdout);
        }
        finally
        {
            outside.Kill();
        }
    }

    [Fact]
    public void Tcp_bind_and_connect_follow_the_port_rules()
    {
        RequireAbi(4);
        if (!File.Exists("/usr/bin/python3"))
            Assert.Skip("needs /usr/bin/python3");
        string script = "import socket\nfor port in (7071, 7072):\n    s = socket.socket()\n    try:\n        s.bind(('127.0.0.1', port)); print('bound', port)\n    except OSError as e: print('refused', port, e.errno)\n";
        var policy = new LandlockPolicy { Paths = [new("/", LandlockFsAccess.All)], RestrictTcp = true, TcpBindPorts = [7072] };
        var (exit, output) = TestEnvironment.Run(TestEnvironment.Spec("/usr/bin/python3", "-c", script) with { Landlock = LandlockSpec.Rules(policy) });
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("refused 7071 13\nbound 7072\n", output);
    }
}
