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
}
