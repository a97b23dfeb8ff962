using System.Text.Json.Nodes;
using Husk.Images;
using Husk.Launch;
using static Husk.Interop.Interop;
using static Husk.Tests.Images.TestImage;

namespace Husk.Tests.Images;

/// <summary>The planner's derivation of the image mode: one overlay of the cached layers on /, the config's defaults in the exec op.</summary>
public sealed class ImagePlanTests : IDisposable
{
    private readonly string _scratch = TestEnvironment.ScratchDirectory("imgplan");

    public void Dispose() => TestEnvironment.DeleteTree(_scratch);

    private PreparedImage Prepare(JsonObject? run = null)
    {
        string dir = Path.Combine(_scratch, "layout");
        WriteLayout(dir, [UsrMergedBase(), Layer(Regular("app", "x"))], run);
        return new ImageCache(Path.Combine(_scratch, "cache")).Prepare($"oci:{dir}");
    }

    [Fact]
    public void The_layers_are_one_overlay_on_the_root_and_the_config_fills_the_exec_op()
    {
        using var image = Prepare(new JsonObject { ["Entrypoint"] = new JsonArray("/bin/app"), ["Cmd"] = new JsonArray("--serve"), ["Env"] = new JsonArray("MODE=prod"), ["WorkingDir"] = "/work", ["User"] = "app:staff" });
        var spec = SandboxSpecBuilder.ForImage("oci:whatever").Build();
        var plan = SpawnPlanner.Plan(spec, new FakeHost().Context(), image: image);
        var overlay = Assert.Single(plan.Ops, o => o.Kind == OpKind.Mount && o.S1 == "overlay");
        Assert.Equal("/", overlay.S2);
        // Top layer first for the kernel, each by its own lowerdir+ (no page-sized option string to outgrow).
        Assert.Equal([.. image.Lowers.Reverse().Select(l => "lowerdir+=" + l)], overlay.OptionDescriptions!.Where(d => d.StartsWith("lowerdir+=", StringComparison.Ordinal)));
        Assert.Contains("userxattr", overlay.OptionDescriptions!);
        Assert.DoesNotContain(plan.Ops, o => o.Kind == OpKind.Bind && o.S2 == "/usr");
        var exec = plan.Ops[plan.ExecOpIndex];
        Assert.Equal(["/bin/app", "--serve"], exec.Strings!);
        Assert.Contains("MODE=prod", exec.Strings2!);
        Assert.Contains("HOME=/home/app", exec.Strings2!);
        Assert.Contains("PATH=" + PreparedImage.DefaultPath, exec.Strings2!);
        var chdir = Assert.Single(plan.Ops, o => o.Kind == OpKind.Chdir);
        Assert.Equal(["/work"], chdir.Strings!);
        // The caller is mapped to the config's user and group (app:staff, 1000:50 in the image's files).
        Assert.StartsWith("1000 ", plan.IdMaps.UidMap);
        Assert.StartsWith("50 ", plan.IdMaps.GidMap);
    }

    [Fact]
    public void An_image_without_a_command_and_a_spec_without_one_is_refused_naming_the_image()
    {
        using var image = Prepare();
        var spec = SandboxSpecBuilder.ForImage("oci:whatever").Build();
        var e = Assert.Throws<SandboxSpecException>(() => SpawnPlanner.Plan(spec, new FakeHost().Context(), image: image));
        Assert.Contains("names no command (its config has neither Entrypoint nor Cmd)", e.Problems[0]);
        // The builder accepts no command only for an image.
        Assert.Contains(new SandboxSpec { Command = [] }.Validate(), p => p.StartsWith("no command given", StringComparison.Ordinal));
        Assert.Empty(spec.Validate());
        Assert.Contains("no image given: name one, such as oci:DIR:TAG", Assert.Throws<SandboxSpecException>(() => SandboxSpecBuilder.ForImage("").Build()).Problems);
    }

    [Fact]
    public void More_layers_than_overlayfs_stacks_are_refused()
    {
        using var image = Prepare();
        var lowers = Enumerable.Repeat(image.Lowers[0], PreparedImage.MaxLayers + 1).ToArray();
        var e = Assert.Throws<ImageException>(() => new PreparedImage(image.Image, [.. lowers], [], []));
        Assert.Contains($"{PreparedImage.MaxLayers + 1} layers: overlayfs stacks at most {PreparedImage.MaxLayers}", e.Message);
    }
}
