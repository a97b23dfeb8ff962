using System.Runtime.InteropServices;
using Husk.Cli.Personalities;
using Husk.Cli.Personalities.Mkosi;
using Husk.Launch;

namespace Husk.Tests.Mkosi;

/// <summary>How mkosi-sandbox's options and the caller's privileges become a spec (sandbox.py's decisions), without a kernel.</summary>
public class MkosiSpecTests
{
    private const ulong Kept = 0x812c01df;      // what sandbox.py keeps in its own user namespace
    private const ulong KeptWithNet = 0x812c15df;

    private static readonly HostFacts Unprivileged = new()
    {
        Uid = 1000,
        Gid = 1000,
        EffectiveCapabilities = 0,
        Environment = [new("HOME", "/home/u"), new("PATH", "/usr/bin"), new("HOME", "/ignored"), new("LISTEN_FDS", "9")],
    };

    private static readonly HostFacts Root = Unprivileged with { Uid = 0, Gid = 0, EffectiveCapabilities = 0x1ffffffffff };

    /// <summary>Inside another mkosi sandbox: not root, but with the ambient capabilities it handed down.</summary>
    private static readonly HostFacts Nested = Unprivileged with { EffectiveCapabilities = Kept, SingleUserNamespace = true };

    private static SandboxSpec Build(HostFacts host, params string[] args) => Build(host, [], args);

    private static SandboxSpec Build(HostFacts host, int[] inherited, params string[] args) =>
        MkosiSandbox.Build(MkosiArguments.Parse(args, "/cwd", null), inherited, host);

    [Fact]
    public void Proc_binds_the_hosts_proc_and_an_exec_fd_is_neither_passed_nor_packed()
    {
        var proc = Build(Unprivileged, "--proc", "/p/q", "true");
        Assert.Contains(new BindMount("/proc", "/p/q") { Devices = true, AllowSetuid = true }, proc.Mounts);

        Assert.Equal([new FdMapping(Descriptors.Borrow(7), 7)], Build(Unprivileged, [5, 7], "--exec-fd", "5", "true").Fds);
        var packed = Build(Unprivileged, [5, 7], "--exec-fd", "5", "--pack-fds", "true");
        Assert.Equal([new FdMapping(Descriptors.Borrow(7), 3)], packed.Fds);
        Assert.Contains("LISTEN_FDS=1", packed.Environment);
        Assert.Equal([5, 9], MkosiArguments.Parse(["--exec-fd", "5", "--exec-fd", " 9 ", "true"], "/", null).ExecFds);
        Assert.Equal("invalid literal for int() with base 10: 'five'",
            Assert.Throws<MkosiUsageException>(() => MkosiArguments.Parse(["--exec-fd", "five", "true"], "/", null)).Message);
    }

    [Fact]
    public void Unprivileged_callers_get_their_own_user_namespace_with_mkosis_capabilities()
    {
        var spec = Build(Unprivileged, "true");
        Assert.Equal(NamespaceKinds.User | NamespaceKinds.Mount, spec.Namespaces);
        Assert.Equal(CapabilitySet.Exactly(Kept), spec.Capabilities);
        Assert.Equal(IdMapping.Single, spec.Identity.Mapping);
        Assert.Null(spec.Identity.Uid);
        Assert.Equal(0u, Build(Unprivileged, "--become-root").Identity.Uid);
        var net = Build(Unprivileged, "--unshare-net", "--unshare-ipc");
        Assert.Equal(NamespaceKinds.User | NamespaceKinds.Mount | NamespaceKinds.Net | NamespaceKinds.Ipc, net.Namespaces);
        Assert.Equal(CapabilitySet.Exactly(KeptWithNet), net.Capabilities);
    }

    [Fact]
    public void Root_keeps_its_namespace_and_capabilities()
    {
        var spec = Build(Root, "--become-root", "--unshare-net");
        Assert.Equal(NamespaceKinds.Mount | NamespaceKinds.Net, spec.Namespaces);
        Assert.Null(spec.Capabilities);
        // Nothing needs mapping, so --map-foreign has nothing to do; the chown filter would not apply.
        Build(Root, "--map-foreign", "--suppress-chown");
    }

    [Fact]
    public void A_nested_sandbox_reuses_the_privileges_it_has()
    {
        var spec = Build(Nested, "--unshare-net");
        Assert.Equal(NamespaceKinds.Mount, spec.Namespaces); // no CAP_NET_ADMIN here: no network namespace
        Assert.Null(spec.Capabilities);
        var root = Build(Nested, "--become-root");
        Assert.True(root.Namespaces.HasFlag(NamespaceKinds.User));
        Assert.Equal(0u, root.Identity.Uid);
    }

    [Theory]
    [InlineData("--bind-foreign", "/a", "/b")]
    [InlineData("--ro-bind-foreign", "/a", "/b")]
    [InlineData("--map-delegate", "1", "true")]
    public void Options_that_need_nsresourced_fail_clearly(params string[] args)
    {
        var e = Assert.Throws<MkosiUsageException>(() => Build(Root, args));
        Assert.Contains("nsresourced", e.Message);
        Build(Root, "--map-delegate", "0");
    }

    [Fact]
    public void Suppress_options_install_a_filter_where_sandbox_py_would()
    {
        Assert.Single(SpawnPlanner.SeccompPrograms(Build(Unprivileged, "--suppress-chown")));
        Assert.Single(SpawnPlanner.SeccompPrograms(Build(Nested, "--suppress-chown")));
        Assert.Single(SpawnPlanner.SeccompPrograms(Build(Root, "--suppress-sync")));
        Assert.Empty(SpawnPlanner.SeccompPrograms(Build(Root, "--suppress-chown"))); // root can chown: sandbox.py installs nothing
        // libseccomp sets no_new_privs along with a filter, and only then.
        Assert.True(Build(Root, "--suppress-sync").NoNewPrivileges);
        Assert.False(Build(Root, "--suppress-chown").NoNewPrivileges);
        Assert.Contains("nsresourced", Assert.Throws<MkosiUsageException>(() => Build(Unprivileged, "--map-foreign")).Message);
    }

    [Fact]
    public void Environment_is_the_callers_with_setenv_then_unsetenv()
    {
        var spec = Build(Unprivileged, "--setenv", "A", "1", "--unsetenv", "A", "--setenv", "HOME", "/h", "--setenv", "B", "2", "--unsetenv", "NONE");
        Assert.Equal(["HOME=/h", "PATH=/usr/bin", "LISTEN_FDS=9", "B=2"], spec.Environment);
        Assert.Throws<MkosiUsageException>(() => Build(Unprivileged, "--setenv", "A=B", "1"));
        Assert.Throws<MkosiUsageException>(() => Build(Unprivileged, "--setenv", "", "1"));
    }

    [Fact]
    public void Inherited_descriptors_pass_as_they_are_or_packed_with_socket_activation()
    {
        var plain = Build(Unprivileged, [5, 9], "true");
        Assert.Equal([new FdMapping(Descriptors.Borrow(5), 5), new FdMapping(Descriptors.Borrow(9), 9)], plain.Fds);
        Assert.Null(plain.PidVariable);
        var packed = Build(Unprivileged, [5, 9], "--pack-fds", "true");
        Assert.Equal([new FdMapping(Descriptors.Borrow(5), 3), new FdMapping(Descriptors.Borrow(9), 4)], packed.Fds);
        Assert.Contains("LISTEN_FDS=2", packed.Environment);
        Assert.Equal("LISTEN_PID", packed.PidVariable);
        var none = Build(Unprivileged, [], "--pack-fds", "true");
        Assert.Null(none.PidVariable);
        Assert.Contains("LISTEN_FDS=9", none.Environment); // untouched, as sandbox.py leaves it
        Assert.False(plain.InheritFds);
    }

    [Fact]
    public void The_process_is_sandbox_pys()
    {
        var spec = Build(Unprivileged);
        Assert.Equal(["bash"], spec.Command);
        Assert.Equal("/", spec.WorkingDirectory);
        Assert.False(spec.SetPwd);
        Assert.False(spec.NoNewPrivileges);
        Assert.False(spec.NewSession);
        Assert.False(spec.Namespaces.HasFlag(NamespaceKinds.Pid));
        Assert.Equal([(PosixSignal)13, (PosixSignal)25], spec.IgnoredSignals);
        Assert.Equal(MountPropagation.Shared, spec.RootPropagation);
        Assert.False(spec.BringUpLoopback);
        // os.execvp never hands a script without "#!" to /bin/sh (glibc's execvp would).
        Assert.False(spec.ScriptShell);
        Assert.True(spec.RootTmpfs is { Devices: true, AllowSetuid: true, Mode: (UnixFileMode)(0x3FF) });
        Assert.Equal("/usr/share", Build(Unprivileged, "--chdir", "/usr/share").WorkingDirectory);
    }
}
