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
