using Husk.Cli.Personalities.Bwrap;

namespace Husk.Tests;

/// <summary>From bubblewrap's options to a spec: its implications, refusals, modes and capability rules.</summary>
public class BwrapSpecTests
{
    private static readonly BwrapHost User = new() { Uid = 1000, Gid = 1000 };
    private static readonly BwrapHost Root = new() { Uid = 0, Gid = 0 };

    private static BwrapOptions Parse(params string[] args)
    {
        var o = new BwrapOptions { Environment = ["PATH=/usr/bin"] };
        new BwrapParser(o, new BwrapLog(_ => { }), _ => (null, Errno.EBADF), _ => { }, "bwrap").Parse(args);
        return o;
    }

    private static SandboxSpec Spec(BwrapHost host, params string[] args)
    {
        var o = Parse(args);
        BwrapSpecBuilder.Check(o, host);
        BwrapSpecBuilder.CheckIdentity(o, host);
        return BwrapSpecBuilder.Build(o, host).Spec;
    }

    private static string Refusal(BwrapHost host, params string[] args)
    {
        var o = Parse(args);
        return Assert.Throws<BwrapError>(() =>
        {
            BwrapSpecBuilder.Check(o, host);
            BwrapSpecBuilder.CheckIdentity(o, host);
        }).Message;
    }

    [Fact]
    public void A_user_other_than_root_always_gets_a_user_namespace_root_only_when_asked()
    {
        Assert.Equal(NamespaceKinds.Mount | NamespaceKinds.User, Spec(User, "true").Namespaces);
        Assert.Equal(NamespaceKinds.Mount, Spec(Root, "true").Namespaces);
        Assert.Equal(NamespaceKinds.Mount | NamespaceKinds.User, Spec(Root, "--unshare-user-try", "true").Namespaces);
        Assert.Equal(NamespaceKinds.Mount, Spec(Root with { UserNamespacesUsable = false }, "--unshare-user-try", "true").Namespaces);
        var all = Spec(Root, "--unshare-all", "--share-net", "true");
        Assert.Equal(NamespaceKinds.AllButTime & ~NamespaceKinds.Net, all.Namespaces);
        Assert.Equal(NamespaceKinds.Mount | NamespaceKinds.Ipc, Spec(Root with { CgroupNamespaces = false }, "--unshare-cgroup-try", "--unshare-ipc", "true").Namespaces);
        // Joining a user namespace replaces the implied one.
        var joined = Spec(User, "--userns", "5", "true");
        Assert.Equal(NamespaceKinds.Mount, joined.Namespaces);
        Assert.Equal(5, Descriptors.Number(joined.UserNamespaceFd!));
    }

    [Fact]
    public void Requirements_between_options_are_checked_in_bubblewraps_order()
    {
        Assert.Equal("--userns-block-fd requires --unshare-user", Refusal(User, "--userns-block-fd", "3", "true"));
        Assert.Equal("--userns-block-fd requires --info-fd", Refusal(User, "--unshare-user", "--userns-block-fd", "3", "true"));
        Assert.Equal("--userns not compatible --unshare-user", Refusal(User, "--userns", "3", "--unshare-user", "true"));
        Assert.Equal("--userns not compatible --unshare-user-try", Refusal(User, "--userns", "3", "--unshare-user-try", "true"));
        Assert.Equal("--disable-userns requires --unshare-user", Refusal(User, "--disable-userns", "true"));
        Assert.Equal("--disable-userns is not compatible with  --userns-block-fd",
            Refusal(User, "--unshare-user", "--disable-userns", "--info-fd", "4", "--userns-block-fd", "3", "true"));
        Assert.Equal("Specifying --uid requires --unshare-user or --userns", Refusal(Root, "--uid", "5", "true"));
        Assert.Equal("Specifying --gid requires --unshare-user or --userns", Refusal(Root, "--gid", "5", "true"));
        Assert.Equal("Specifying --hostname requires --unshare-uts", Refusal(User, "--hostname", "h", "true"));
        Assert.Equal("Specifying --as-pid-1 requires --unshare-pid", Refusal(User, "--as-pid-1", "true"));
        Assert.Equal("Specifying --as-pid-1 and --lock-file is not permitted", Refusal(User, "--unshare-pid", "--as-pid-1", "--lock-file", "/l", "true"));
        Assert.Equal("Cannot create new cgroup namespace because the kernel does not support it",
            Refusal(User with { CgroupNamespaces = false }, "--unshare-cgroup", "true"));
        Assert.Equal($"Can't set hostname to {new string('h', 65)}: Invalid argument", Refusal(User, "--unshare-uts", "--hostname", new string('h', 65), "true"));
        // Root asking for its own ids needs no user namespace.
        Assert.Equal(NamespaceKinds.Mount, Spec(Root, "--uid", "0", "--gid", "0", "true").Namespaces);
    }

    [Fact]
    public void Ids_map_one_to_one_or_are_left_to_someone_else()
    {
        var spec = Spec(User, "--uid", "0", "--gid", "5", "true");
        Assert.Equal(new Identity { Uid = 0, Gid = 5, Mapping = IdMapping.Single }, spec.Identity);
        Assert.Equal(IdMapping.Single, Spec(Root, "--unshare-user", "true").Identity.Mapping);
        Assert.Equal(IdMapping.External, Spec(User, "--unshare-user", "--info-fd", "4", "--userns-block-fd", "3", "true").Identity.Mapping);
        // In a joined user namespace ids switch only when different ones are asked for.
        Assert.Equal(new Identity(), Spec(User, "--userns", "3", "--uid", "1000", "true").Identity);
        Assert.Equal(new Identity { Uid = 7, Gid = 1000 }, Spec(User, "--userns", "3", "--uid", "7", "true").Identity);
    }

    [Fact]
    public void Operations_keep_their_order_modes_and_relative_destinations()
    {
        var spec = Spec(User, "--bind", "/src", "rel/dst/", "--ro-bind-try", "/nope", "/opt", "--dev-bind", "/dev", "/dev",
            "--tmpfs", "/tmp", "--perms", "0700", "--size", "4096", "--tmpfs", "/small", "--dir", "/d", "--symlink", "usr/bin", "/bin",
            "--file", "0", "/f", "--ro-bind-data", "0", "/rbd", "--chmod", "1777", "/d", "--remount-ro", "/opt", "--proc", "/proc",
            "--dev", "/dev", "--mqueue", "/mq", "--bind-fd", "7", "/bfd", "true");
        var m = spec.Mounts;
        Assert.Equal(new BindMount("/src", "/rel/dst") { ParentMode = FileModes.Private }, m[0]);
        Assert.Equal(new BindMount("/nope", "/opt") { ReadOnly = true, Optional = true, ParentMode = FileModes.Private }, m[1]);
        Assert.True(((BindMount)m[2]).Devices);
        Assert.Equal(new TmpfsMount("/tmp") { Mode = FileModes.Directory }, m[3]);
        Assert.Equal(new TmpfsMount("/small") { Mode = FileModes.Private, Size = 4096, ParentMode = FileModes.Private }, m[4]);
        Assert.Equal(new MakeDirectory("/d"), m[5]);
        Assert.Equal(new MakeSymlink("usr/bin", "/bin") { ParentMode = FileModes.Private }, m[6]);
        Assert.Equal((0, 0), (Descriptors.Number(((WriteFile)m[7]).Fd!), Descriptors.Number(((WriteFile)m[8]).Fd!)));
        Assert.Equal(new WriteFile("/f") { Mode = FileModes.ReadWriteAll }, (WriteFile)m[7] with { Fd = null });
        Assert.Equal(new WriteFile("/rbd") { Mode = (UnixFileMode)(0x180), Placement = FilePlacement.ReadOnlyBind, ParentMode = FileModes.Private }, (WriteFile)m[8] with { Fd = null });
        Assert.Equal(new ChangeMode("/d", (UnixFileMode)0x3FF), m[9]);
        Assert.IsType<RemountReadOnly>(m[10]);
        Assert.IsType<ProcMount>(m[11]);
        Assert.IsType<DevMount>(m[12]);
        Assert.IsType<MqueueMount>(m[13]);
        var bindFd = (BindFdMount)m[14];
        Assert.Equal((7, "/bfd", FileModes.Private), (Descriptors.Number(bindFd.Fd), bindFd.Destination, bindFd.ParentMode));
    }

    [Theory]
    [InlineData("1777", 0x1ED)]
    [InlineData("0755", 0x1ED)]
    [InlineData("0644", 0x1ED)]
    [InlineData("0750", 0x1E8)]
    [InlineData("0710", 0x1E8)]
    [InlineData("0720", 0x1E8)]
    [InlineData("0640", 0x1E8)]
    [InlineData("0700", 0x1C0)]
    [InlineData("0600", 0x1C0)]
    [InlineData("0705", 0x1C5)]
    [InlineData("0604", 0x1C5)]
    [InlineData("0000", 0x1C0)]
    public void Parents_lose_what_the_mode_denies_group_and_others(string perms, int parentMode)
    {
        var dir = Spec(User, "--perms", perms, "--dir", "/a/b/c", "true").Mounts[0];
        Assert.Equal((UnixFileMode)parentMode, dir.ParentMode);
    }

    [Fact]
    public void Overlays_stack_the_last_source_on_top_and_use_user_xattrs()
    {
        var m = Spec(Root, "--overlay-src", "/l1", "--overlay-src", "/l2", "--overlay", "/u", "/w", "/x",
            "--overlay-src", "/l3", "--tmp-overlay", "/y", "--overlay-src", "/a", "--overlay-src", "/b", "--ro-overlay", "/z", "true").Mounts;
        var persistent = Assert.IsType<OverlayMount>(m[0]);
        Assert.Equal(["/l1", "/l2"], persistent.Lowers);
        Assert.Equal((OverlayKind.Persistent, "/u", "/w", true), (persistent.Kind, persistent.Upper, persistent.Work, persistent.UserXattr));
        Assert.Equal(OverlayKind.Temporary, ((OverlayMount)m[1]).Kind);
        Assert.Equal(OverlayKind.ReadOnly, ((OverlayMount)m[2]).Kind);
        Assert.True(((OverlayMount)m[2]).UserXattr);
    }

    [Fact]
    public void Capabilities_follow_bubblewraps_rules()
    {
        const ulong known = (1UL << 41) - 1;
        // Anyone but root keeps nothing unless added; in a user namespace the bounding set shrinks too.
        Assert.Equal(CapabilitySet.Exactly(0), Spec(User, "true").Capabilities);
        Assert.Equal(CapabilitySet.Exactly(known), Spec(User, "--cap-add", "ALL", "true").Capabilities);
        Assert.Equal(CapabilitySet.Exactly(1UL << 5), Spec(User, "--cap-add", "CAP_KILL", "true").Capabilities);
        // Root keeps its own sets and raises them into the ambient set where it can.
        var rootOptions = Parse("true");
        rootOptions.RequestedCaps = known;
        BwrapSpecBuilder.Check(rootOptions, Root);
        Assert.Equal(new CapabilitySet { Ambient = known, OnlyRaiseAmbient = true }, BwrapSpecBuilder.CapabilitiesOf(rootOptions, Root));
        // Root dropping some: exact sets, but the bounding set is only touched in a user namespace.
        var drop = Parse("--cap-drop", "CAP_KILL", "true");
        drop.RequestedCaps = known & ~(1UL << 5);
        BwrapSpecBuilder.Check(drop, Root);
        var caps = BwrapSpecBuilder.CapabilitiesOf(drop, Root);
        Assert.Equal(ulong.MaxValue, caps.Bounding);
        Assert.Equal(known & ~(1UL << 5), caps.Effective);
        Assert.Equal(known & ~(1UL << 5), caps.Ambient);
        Assert.False(caps.LockSecureBits);
        // Root lacking a capability (a container's bounding set) cannot be given it.
        var lacking = Parse("--cap-add", "ALL", "--cap-drop", "CAP_SYS_ADMIN", "true");
        var limitedRoot = Root with { PermittedCaps = known & ~(1UL << 24) };
        BwrapSpecBuilder.Check(lacking, limitedRoot);
        Assert.Equal(known & ~(1UL << 24) & ~(1UL << 21), BwrapSpecBuilder.CapabilitiesOf(lacking, limitedRoot).Permitted);
    }

    [Fact]
    public void Everything_else_is_passed_through()
    {
        var spec = Spec(User, "--unshare-pid", "--as-pid-1", "--new-session", "--chdir", "/w", "--argv0", "zero", "--hostname", "h",
            "--unshare-uts", "--sync-fd", "5", "--block-fd", "6", "--setenv", "X", "1", "--unshare-user", "--disable-userns",
            "--assert-userns-disabled", "--userns2", "9", "sh", "-c", "x");
        Assert.Equal(["sh", "-c", "x"], spec.Command);
        Assert.Equal("zero", spec.Argv0);
        Assert.True(spec.AsPid1 && spec.NewSession && spec.InheritFds && spec.NoNewPrivileges && spec.SearchPath && spec.SetPwd);
        Assert.True(spec.NestedUserNamespaces == NestedUserNamespaces.Deny && spec.AssertUserNamespacesDisabled);
        Assert.Equal(("/w", "h", 5, 6, 9), (spec.WorkingDirectory, spec.Hostname, Descriptors.Number(spec.SyncFd!), Descriptors.Number(spec.BlockFd!), Descriptors.Number(spec.UserNamespace2Fd!)));
        Assert.Equal(["PATH=/usr/bin", "X=1"], spec.Environment);
        Assert.Equal("/tmp", spec.BuildBase);
        Assert.Empty(spec.Validate());
    }

    [Fact]
    public void Status_json_is_byte_for_byte_bubblewraps()
    {
        (string, ulong)[] ids = [("ipc", 4026532001), ("mnt", 4026532002)];
        Assert.Equal("{\n    \"child-pid\": 42,\n    \"ipc-namespace\": 4026532001,\n    \"mnt-namespace\": 4026532002\n}\n", BwrapStatus.Info(42, ids));
        Assert.Equal("{ \"child-pid\": 42, \"ipc-namespace\": 4026532001, \"mnt-namespace\": 4026532002 }\n", BwrapStatus.Started(42, ids));
        Assert.Equal("{ \"exit-code\": 143 }\n", BwrapStatus.Exited(143));
    }
}
