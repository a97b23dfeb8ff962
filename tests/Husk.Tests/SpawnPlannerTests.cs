using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Tests;

/// <summary>The planner is pure: specs in, native ops out.</summary>
public class SpawnPlannerTests
{
    private static readonly HostContext Host = new() { Uid = 1000, Gid = 1000, WorkingDirectory = "/home/u" };

    private static string[] OverlayOptions(SandboxSpec spec) =>
        SpawnPlanner.Plan(spec, Host).Ops.Single(op => op.Kind == OpKind.Mount && op.S1 == "overlay").OptionDescriptions!;

    [Fact]
    public void Overlay_uses_user_xattrs_in_a_user_namespace_or_when_asked()
    {
        var overlay = new OverlayMount("/x", ["/lower"]) { Kind = OverlayKind.ReadOnly, Lowers = ["/a", "/b"] };
        var spec = new SandboxSpec { Command = ["true"], Mounts = [overlay] };
        Assert.Contains("userxattr", OverlayOptions(spec));
        var noUserns = spec with { Namespaces = NamespaceKinds.Mount };
        Assert.DoesNotContain("userxattr", OverlayOptions(noUserns));
        Assert.Contains("userxattr", OverlayOptions(noUserns with { Mounts = [overlay with { UserXattr = true }] }));
        Assert.DoesNotContain("userxattr", OverlayOptions(spec with { Mounts = [overlay with { UserXattr = false }] }));
    }

    [Fact]
    public void With_kept_capabilities_the_nested_user_namespace_owns_the_network_uts_and_ipc_namespaces()
    {
        var spec = new SandboxSpec { Command = ["true"], Hostname = "box", NestedUserNamespaces = NestedUserNamespaces.Deny, FileSystem = FileSystemSpec.Inherit, Namespaces = NamespaceKinds.AllButTime & ~NamespaceKinds.Mount };
        var plain = SpawnPlanner.Plan(spec, Host);
        Assert.NotEqual(0UL, plain.CloneFlags & Clone.CLONE_NEWNET);
        Assert.DoesNotContain(plain.Ops, o => o.Kind == OpKind.Unshare && (o.A & Clone.CLONE_NEWNET) != 0);

        var kept = SpawnPlanner.Plan(spec with { Capabilities = CapabilitySet.Exactly(1UL << 12) }, Host); // CAP_NET_ADMIN
        ulong late = Clone.CLONE_NEWNET | Clone.CLONE_NEWUTS | Clone.CLONE_NEWIPC;
        Assert.Equal(0UL, kept.CloneFlags & late);
        var ops = kept.Ops.ToList();
        int nested = ops.FindIndex(o => o.Kind == OpKind.Unshare && o.A == Clone.CLONE_NEWUSER);
        int unshare = ops.FindIndex(o => o.Kind == OpKind.Unshare && o.A == late);
        Assert.True(nested >= 0 && unshare > nested);
        // The hostname and loopback belong to the new namespaces: never set in the caller's.
        Assert.True(ops.FindIndex(o => o.Kind == OpKind.SetHostname) > unshare);
        Assert.True(ops.FindIndex(o => o.Kind == OpKind.LoopbackUp) > unshare);
    }

    [Fact]
    public void Roots_overlay_layers_come_idmapped_from_the_supervisor_and_others_by_path()
    {
        var overlay = new OverlayMount("/usr", ["/usr"]) { Kind = OverlayKind.Persistent, Upper = "/r/upperdir/usr", Work = "/r/workdir/usr" };
        var etc = new OverlayMount("/etc", ["/etc"]) { Kind = OverlayKind.Persistent, Upper = "/r/upperdir/etc", Work = "/r/workdir/etc" };
        var spec = new SandboxSpec { Command = ["true"], FileSystem = FileSystemSpec.Bare, Mounts = [overlay, etc] };

        var user = SpawnPlanner.Plan(spec, Host);
        Assert.Empty(user.IdmappedSources);
        Assert.Contains("lowerdir+=/usr", user.Ops.First(o => o.S1 == "overlay").OptionDescriptions!);

        var root = SpawnPlanner.Plan(spec, Host with { Uid = 0, Gid = 0 }, new SubordinateIds(null, null, (100000, 65536), (100000, 65536)));
        // The layer's directory once (upper and work on one mount), each lower once, in the order the attach ops take them.
        Assert.Equal([new IdmappedSource("/usr", false), new IdmappedSource("/r", true), new IdmappedSource("/etc", false)], root.IdmappedSources);
        Assert.Equal(["/idmapped/0", "/idmapped/1", "/idmapped/2"], root.Ops.Where(o => o.Kind == OpKind.AttachMount).Select(o => o.S2!));
        var options = root.Ops.Where(o => o.S1 == "overlay").Select(o => string.Join(',', o.OptionDescriptions!)).ToList();
        Assert.Contains("lowerdir+=/idmapped/0,upperdir=/idmapped/1/upperdir/usr,workdir=/idmapped/1/workdir/usr", options[0]);
        Assert.Contains("lowerdir+=/idmapped/2,upperdir=/idmapped/1/upperdir/etc,workdir=/idmapped/1/workdir/etc", options[1]);
        // Every attach op runs before the mount that names it.
        int firstMount = root.Ops.ToList().FindIndex(o => o.S1 == "overlay");
        Assert.True(root.Ops.ToList().FindIndex(o => o.Kind == OpKind.AttachMount) < firstMount);

        // One id mapped (the host's root as itself, as try and mkosi-sandbox ask): no idmapping.
        var single = SpawnPlanner.Plan(spec with { Identity = new Identity { Mapping = IdMapping.Single } }, Host with { Uid = 0, Gid = 0 });
        Assert.Empty(single.IdmappedSources);
    }

    [Fact]
    public void Roots_scaffolding_files_are_bound_from_the_supervisors_views_and_others_through_the_host_tree()
    {
        // Two files of one closed directory (podman's storage is 0700) and one that is a mount point itself.
        var spec = new SandboxSpec
        {
            Command = ["true"],
            FileSystem = FileSystemSpec.Bare,
            Mounts =
            [
                new BindMount("/srv/closed/a", "/srv/closed/a") { ReadOnly = true, Optional = true, LayerView = "/srv/closed" },
                new BindMount("/srv/closed/b", "/srv/closed/b") { ReadOnly = true, Optional = true, LayerView = "/srv/closed" },
                new BindMount("/srv/closed/m", "/srv/closed/m") { ReadOnly = true, Optional = true, LayerView = "/srv/closed/m" },
                new BindMount("/srv/given", "/given"),
            ],
        };
        static List<(string?, OpRoot)> Sources(SpawnPlan plan) =>
            [.. plan.Ops.Where(o => o.Kind == OpKind.Bind).Select(o => (o.S1, (OpRoot)((uint)o.Flags & 3)))];

        var root = SpawnPlanner.Plan(spec, Host with { Uid = 0, Gid = 0 }, new SubordinateIds(null, null, (100000, 65536), (100000, 65536)));
        Assert.Equal([new IdmappedSource("/srv/closed", false), new IdmappedSource("/srv/closed/m", false)], root.IdmappedSources);
        Assert.Equal([("/idmapped/0/a", OpRoot.Base), ("/idmapped/0/b", OpRoot.Base), ("/idmapped/1", OpRoot.Base), ("/srv/given", OpRoot.Old)], Sources(root));

        var user = SpawnPlanner.Plan(spec, Host);
        Assert.Empty(user.IdmappedSources);
        Assert.Equal([("/srv/closed/a", OpRoot.Old), ("/srv/closed/b", OpRoot.Old), ("/srv/closed/m", OpRoot.Old), ("/srv/given", OpRoot.Old)], Sources(user));
    }

    [Fact]
    public void Only_owners_roots_idmapped_layers_map_are_given_to_prepared_directories()
    {
        var spec = new SandboxSpec { Command = ["true"] };
        var root = Host with { Uid = 0, Gid = 0 };
        var owners = SpawnPlanner.IdmappedOwners(spec, root, new SubordinateIds(null, null, (100000, 65536), (100000, 65536)));
        Assert.NotNull(owners);
        Assert.True(owners(0, 0));
        Assert.True(owners(101, 104));
        Assert.False(owners(70000, 70000)); // past the range: overlayfs could not look up a merged directory it owned
        Assert.False(owners(101, 70000));
        // Not idmapped: try's and mkosi-sandbox's single id, and any unprivileged caller.
        Assert.Null(SpawnPlanner.IdmappedOwners(spec with { Identity = new Identity { Uid = 0, Gid = 0, Mapping = IdMapping.Single } }, root, null));
        Assert.Null(SpawnPlanner.IdmappedOwners(spec, Host, null));
    }

    [Theory]
    [InlineData("/r/upperdir/usr", "/r/workdir/usr", "/r")]
    [InlineData("/a/up", "/b/work", "/")]
    [InlineData("/x/up", "/x/up2", "/x")]
    public void The_common_directory_of_an_upper_and_its_work_holds_both(string upper, string work, string common)
    {
        Assert.Equal(common, IdmappedLayers.CommonDirectory(upper, work));
        Assert.Equal("/idmapped/3" + upper[(common == "/" ? 0 : common.Length)..], IdmappedLayers.Beneath("/idmapped/3", common, upper));
    }
}

/// <summary>What the planner derives from a spec's intent: the base tree, Landlock, seccomp, nesting.</summary>
public class PlannerDerivationTests
{
    private static readonly FakeHost Host = new();

    private static SpawnPlan Plan(SandboxSpec spec) => SpawnPlanner.Plan(spec, Host.Context());

    [Fact]
    public void A_spec_made_by_hand_gets_the_safe_walls_of_the_builder()
    {
        var plan = Plan(new SandboxSpec { Command = ["/bin/true"] });
        Assert.Single(plan.Ops, o => o.Kind == OpKind.Seccomp);
        Assert.Single(plan.Ops, o => o.Kind == OpKind.LandlockRestrict);
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.WriteProc && o.S1 == "sys/user/max_user_namespaces");
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Prctl);
        var caps = Assert.Single(plan.Ops, o => o.Kind == OpKind.Caps).Caps!.Value;
        Assert.Equal(0UL, caps.Bounding | caps.Effective | caps.Permitted | caps.Ambient);
        // The host's tree read-only, with its secrets hidden: ~/.ssh gets an empty tmpfs.
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Bind && o.S2 == "/usr" && (o.Flags & OpFlags.ReadOnly) != 0);
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Mount && o.S1 == "tmpfs" && o.S2 == "/home/me/.ssh");
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.WriteFile && o.S2 == "/home/me/.netrc");
    }

    [Fact]
    public void A_bind_added_with_with_gets_a_landlock_write_rule()
    {
        var spec = new SandboxSpecBuilder("/bin/true").Build();
        Assert.DoesNotContain(Plan(spec).Ops, o => o.Kind == OpKind.LandlockRule && o.S2 == "/srv/job");
        var derived = spec with { Mounts = spec.Mounts.Add(new BindMount("/srv/job", "/srv/job")) };
        var rule = Assert.Single(Plan(derived).Ops, o => o.Kind == OpKind.LandlockRule && o.S2 == "/srv/job");
        Assert.NotEqual(0UL, rule.A & (ulong)Husk.Policy.LandlockFsAccess.WriteFile);
        Assert.NotEqual(0UL, rule.A & (ulong)Husk.Policy.LandlockFsAccess.MakeReg);
    }

    [Fact]
    public void A_seccomp_rule_added_with_with_is_compiled_into_the_filter()
    {
        var spec = new SandboxSpecBuilder("/bin/true").Build();
        byte[] before = Assert.Single(SpawnPlanner.SeccompPrograms(spec));
        var denied = spec with { Seccomp = spec.Seccomp with { Deny = [new SyscallDenial("mkdir", 13)] } };
        byte[] after = Assert.Single(SpawnPlanner.SeccompPrograms(denied));
        Assert.NotEqual(before, after);
        Assert.Empty(SpawnPlanner.SeccompPrograms(spec with { Seccomp = SeccompSpec.None }));
    }

    [Fact]
    public void Allowing_nested_sandboxes_turns_landlock_off_and_leaves_max_user_namespaces_alone()
    {
        var plan = Plan(new SandboxSpec { Command = ["/bin/true"], NestedUserNamespaces = NestedUserNamespaces.Allow });
        Assert.DoesNotContain(plan.Ops, o => o.Kind == OpKind.LandlockCreate);
        Assert.DoesNotContain(plan.Ops, o => o.Kind == OpKind.WriteProc && o.S1 == "sys/user/max_user_namespaces");
        var asked = Plan(new SandboxSpec { Command = ["/bin/true"], NestedUserNamespaces = NestedUserNamespaces.Allow, Landlock = new LandlockSpec { Mode = LandlockMode.On } });
        Assert.Single(asked.Ops, o => o.Kind == OpKind.LandlockRestrict);
    }

    [Fact]
    public void Every_filesystem_mode_says_what_it_mounts()
    {
        string[] Mounted(FileSystemSpec fs) =>
            [.. Plan(new SandboxSpec { Command = ["/bin/true"], FileSystem = fs, ShowSecrets = true })
                .Ops.Where(o => o.Kind is OpKind.Bind or OpKind.Mount && o.Origin is not null && !o.Description.StartsWith("cover", StringComparison.Ordinal)
                    && !(o.S2 ?? "").StartsWith("/dev/", StringComparison.Ordinal))
                .Select(o => $"{(o.Kind == OpKind.Mount ? o.S1 : "bind")} {o.S2}")];
        Assert.Equal(["bind /", "proc /proc"], Mounted(FileSystemSpec.Host()));
        Assert.Equal(["tmpfs /", "proc /proc", "tmpfs /dev", "tmpfs /tmp"], Mounted(FileSystemSpec.Empty()));
        Assert.Equal(["proc /proc", "tmpfs /dev", "tmpfs /tmp"], Mounted(FileSystemSpec.Empty(readOnly: true)));
        Assert.Equal(["overlay /", "proc /proc", "tmpfs /dev", "tmpfs /tmp"], Mounted(FileSystemSpec.Directory("/srv/job")));
        Assert.Equal(["bind /", "proc /proc", "tmpfs /dev", "tmpfs /tmp"], Mounted(FileSystemSpec.Directory("/srv/job", readOnly: true)));
        Assert.Empty(Mounted(FileSystemSpec.Bare));
        Assert.Equal(["bind /etc", "bind /home", "bind /srv", "bind /sys", "bind /usr", "bind /var", "proc /proc", "tmpfs /dev", "tmpfs /tmp", "tmpfs /var/tmp", "tmpfs /run"],
            Mounted(FileSystemSpec.HostReadOnly));
    }

    [Fact]
    public void With_fuse_overlayfs_the_overlaid_directories_are_bound_read_only_for_it_and_its_device_is_there()
    {
        var fs = FileSystemSpec.HostOverlay("/var/lib/sbx") with { Driver = OverlayDriver.FuseSquashedToRoot };
        var spec = new SandboxSpec { Command = ["/bin/true"], FileSystem = fs };
        var host = Host.Context();
        var layout = Husk.FileSystem.HostOverlayLayout.Plan(fs, spec, host);
        var plan = SpawnPlanner.Plan(spec, host, layout: layout);
        Assert.DoesNotContain(plan.Ops, o => o.Kind == OpKind.Mount && o.S1 == "overlay");
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Bind && o.S2 == "/usr" && (o.Flags & OpFlags.ReadOnly) != 0);
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Bind && o.S2 == "/dev/fuse" && (o.Flags & OpFlags.Devices) != 0);
        // The root stays reachable for fuse-overlayfs to open the layers: the wrapper covers it afterwards.
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Bind && o.S2 == "/var/lib/sbx" && (o.Flags & OpFlags.ReadOnly) == 0);
        Assert.DoesNotContain(plan.Ops, o => o.Kind == OpKind.Mount && o.S1 == "tmpfs" && o.S2 == "/var/lib/sbx");
    }

    [Fact]
    public void The_host_overlay_overlays_what_it_can_and_keeps_its_root_out_of_sight()
    {
        var spec = new SandboxSpec { Command = ["/bin/true"], FileSystem = FileSystemSpec.HostOverlay("/var/lib/sbx") };
        var host = Host.Context();
        var layout = Husk.FileSystem.HostOverlayLayout.Plan((HostOverlayFileSystem)spec.FileSystem, spec, host);
        var plan = SpawnPlanner.Plan(spec, host, layout: layout);
        var overlays = plan.Ops.Where(o => o.Kind == OpKind.Mount && o.S1 == "overlay").Select(o => o.S2).ToList();
        Assert.Contains("/usr", overlays);
        Assert.Contains("/home/me/src", overlays);
        // /home/me has a mount below it: its own overlay has a stand-in of its entries as its lower.
        var home = Assert.Single(plan.Ops, o => o.Kind == OpKind.Mount && o.S1 == "overlay" && o.S2 == "/home/me");
        Assert.Contains("lowerdir+=/scaffold/home/me", home.OptionDescriptions!);
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Mount && o.S1 == "tmpfs" && o.S2 == "/var/lib/sbx");
        Assert.Equal(["/home/me/src", "/home/me"], layout.Ancestors);
    }

    [Fact]
    public void Ids_asked_for_without_a_user_namespace_of_its_own_are_switched_to()
    {
        // pysandbox's owner= as root shares the caller's user namespace: the payload must run as
        // the uid asked for, not silently as the caller (as it did before).
        var spec = new SandboxSpec { Command = ["true"], FileSystem = FileSystemSpec.Inherit, Namespaces = NamespaceKinds.Ipc | NamespaceKinds.Net, Identity = new Identity { Uid = 65534, Gid = 65534 } };
        var root = Host.Context(uid: 0);
        var ops = SpawnPlanner.Plan(spec, root).Ops.ToList();
        var setId = ops.Single(o => o.Kind == OpKind.SetId);
        Assert.Equal(65534UL, setId.A);
        Assert.Equal(65534UL, setId.B);
        Assert.True((setId.Flags & OpFlags.SetGroups) != 0);
        // After the setup that needs root's capabilities (here the loopback interface), which the switch drops.
        Assert.True(ops.IndexOf(setId) > ops.FindIndex(o => o.Kind == OpKind.LoopbackUp), string.Join(", ", ops.Select(o => o.Kind)));

        // Without ids asked for, the caller's stay: nothing to switch.
        Assert.DoesNotContain(SpawnPlanner.Plan(spec with { Identity = new Identity() }, root).Ops, o => o.Kind == OpKind.SetId);
    }
}
