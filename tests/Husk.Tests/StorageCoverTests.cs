using Husk.Cli.Run;
using Husk.FileSystem;

namespace Husk.Tests;

/// <summary>Where the sandbox's root lies in a directory the tree does not show whole, hiding it creates nothing.</summary>
public class StorageCoverTests
{
    [Fact]
    public void A_root_under_var_tmp_with_a_mount_below_var_is_covered_only_where_the_tree_shows_it()
    {
        // A mount below /var (docker's, containerd's, podman's) makes /var scaffolding, which leaves
        // the root's path out; /var/tmp is fresh. Covering the root with its place made anyway wrote
        // var/tmp/husk-UID/roots/ID into the layer: every run had one change of its own to review.
        const string root = "/var/tmp/husk-1000/roots/abc";
        var host = new FakeHost().WithMount("/var/lib").Context();
        var spec = RunCommand.Parse(["--root", root, "--", "/bin/true"], out _, new SandboxSpecBuilder("/bin/true")).ToSpec("cover");
        var layout = HostOverlayLayout.Plan(Assert.IsType<HostOverlayFileSystem>(spec.FileSystem), spec, host);
        Assert.Contains(layout.OverlayPlan.Scaffolded, s => s.Directory == "/var");
        var cover = Assert.Single(layout.Mounts().OfType<TmpfsMount>(), t => t.Destination == root);
        Assert.True(cover.IfPresent, "the root's cover must not create its place in the layer");
    }
}
