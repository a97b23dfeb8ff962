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
        var spec = new SandboxSpec { Command = ["true"], Hostname = "box", DisableUserNamespaces = true, Mounts = null, Namespaces = NamespaceKinds.AllButTime & ~NamespaceKinds.Mount };
        var plain = SpawnPlanner.Plan(spec, Host);
        Assert.NotEqual(0UL, plain.CloneFlags & SpawnPlanner.CLONE_NEWNET);
        Assert.DoesNotContain(plain.Ops, o => o.Kind == OpKind.Unshare && (o.A & SpawnPlanner.CLONE_NEWNET) != 0);

        var kept = SpawnPlanner.Plan(spec with { Capabilities = CapabilitySet.Exactly(1UL << 12) }, Host); // CAP_NET_ADMIN
        ulong late = SpawnPlanner.CLONE_NEWNET | SpawnPlanner.CLONE_NEWUTS | SpawnPlanner.CLONE_NEWIPC;
        Assert.Equal(0UL, kept.CloneFlags & late);
        var ops = kept.Ops.ToList();
        int nested = ops.FindIndex(o => o.Kind == OpKind.Unshare && o.A == SpawnPlanner.CLONE_NEWUSER);
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
        var spec = new SandboxSpec { Command = ["true"], Mounts = [overlay, etc] };

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
