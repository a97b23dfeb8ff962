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
        Assert.Equal(["proc /proc", "tmpfs /dev", "tmpfs /tmp"], Mounted(FileSystemSpec.Empty()));
        Assert.Equal(["overlay /", "proc /proc", "tmpfs /dev", "tmpfs /tmp"], Mounted(FileSystemSpec.Directory("/srv/job")));
        Assert.Equal(["bind /", "proc /proc", "tmpfs /dev", "tmpfs /tmp"], Mounted(FileSystemSpec.Directory("/srv/job", readOnly: true)));
        Assert.Empty(Mounted(FileSystemSpec.Bare));
        Assert.Equal(["bind /etc", "bind /home", "bind /srv", "bind /sys", "bind /usr", "bind /var", "proc /proc", "tmpfs /dev", "tmpfs /tmp", "tmpfs /var/tmp", "tmpfs /run"],
            Mounted(FileSystemSpec.HostReadOnly));
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
        Assert.Contains("/home/me/src", overlays); // /home/me has a mount below it: scaffolding
        Assert.DoesNotContain("/home/me", overlays);
        Assert.Contains(plan.Ops, o => o.Kind == OpKind.Mount && o.S1 == "tmpfs" && o.S2 == "/var/lib/sbx");
        Assert.Equal(["/home/me/src", "/home/me"], layout.Ancestors);
    }
}
