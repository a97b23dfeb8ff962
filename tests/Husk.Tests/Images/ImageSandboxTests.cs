using System.Text.Json.Nodes;
using static Husk.Tests.Images.TestImage;

namespace Husk.Tests.Images;

/// <summary>
/// Real sandboxes on images made in the test (as nobody when the suite starts as root): the layers
/// stacked with whiteouts and opaque directories honoured, the config's defaults, writes that
/// vanish, through the library and through <c>husk run --image</c>.
/// </summary>
public sealed class ImageSandboxTests : IDisposable
{
    private readonly string _scratch = TestEnvironment.ScratchDirectory("imgrun");
    private readonly string _layout;
    private readonly string _cache;

    public ImageSandboxTests()
    {
        _layout = Path.Combine(_scratch, "layout");
        _cache = Path.Combine(_scratch, "cache");
        byte[] lower = Layer(Dir("srv"), Regular("etc/os-release", "lower\n"), Regular("etc/old", "old\n"), Dir("var/lib/db"), Regular("var/lib/db/stale", "s"));
        byte[] upper = Layer(Regular("etc/os-release", "upper\n"), Whiteout("etc/old"), Opaque("var/lib/db"), Regular("var/lib/db/fresh", "f"), Regular("srv/run.sh", "echo from-the-image \"$@\"\n", 0x1ED));
        WriteLayout(_layout, [UsrMergedBase(), lower, upper], new JsonObject
        {
            ["Env"] = new JsonArray("PATH=/usr/bin:/bin", "GREETING=hello"),
            ["Entrypoint"] = new JsonArray("/bin/sh", "/srv/run.sh"),
            ["Cmd"] = new JsonArray("default-arg"),
            ["WorkingDir"] = "/srv",
            ["User"] = "app",
        }, "v1");
    }

    public void Dispose() => TestEnvironment.DeleteTree(_scratch);

    private const string Look = "cat /etc/os-release; ls /etc; ls /var/lib/db; id -u; id -g; pwd; echo $GREETING; echo written > /srv/new; cat /srv/new";

    [Fact]
    public void The_library_runs_a_sandbox_on_the_stacked_layers_with_the_configs_defaults()
    {
        var builder = SandboxSpecBuilder.ForImage($"oci:{_layout}:v1").ReadOnlyBind("/usr", "/usr");
        var spec = builder.Build();
        spec = spec with { FileSystem = ((ImageFileSystem)spec.FileSystem) with { Cache = _cache, Entrypoint = [] }, Command = ["/bin/sh", "-c", Look] };
        var (exit, output) = TestEnvironment.Run(spec);
        Assert.Equal(0, exit.ExitCode);
        string[] lines = output.Split('\n');
        Assert.Equal("upper", lines[0]);
        // /etc/old was whited out by the upper layer; /var/lib/db is opaque there: its lower entry is gone.
        Assert.DoesNotContain("old", lines);
        Assert.Contains("os-release", lines);
        Assert.Contains("fresh", lines);
        Assert.DoesNotContain("stale", lines);
        // The config's user (app, 1000:1000 in the image's passwd), directory and environment.
        Assert.Contains("1000", lines);
        Assert.Contains("/srv", lines);
        Assert.Contains("hello", lines);
        Assert.Contains("written", lines);
        // Writes vanish with the sandbox: the cached layers hold nothing new.
        Assert.DoesNotContain(Directory.GetDirectories(Path.Combine(_cache, "layers", "sha256")), d => File.Exists(Path.Combine(d, "root", "srv", "new")));
        var (again, second) = TestEnvironment.Run(spec with { Command = ["/bin/sh", "-c", "ls /srv"] });
        Assert.Equal(0, again.ExitCode);
        Assert.Equal("run.sh\n", second);
    }

    private (int Code, string Stdout, string Stderr) Husk(params string[] args) =>
        TestEnvironment.Exec(TestEnvironment.Husk, args, env: new Dictionary<string, string> { ["XDG_CACHE_HOME"] = _cache });

    [Fact]
    public void Husk_run_image_takes_the_configs_command_and_the_command_line_overrides_it()
    {
        string image = $"oci:{_layout}:v1";
        // No command: the entrypoint with the config's Cmd, in its directory, as its user.
        var run = Husk("run", "--image", image, "--ro-bind", "/usr", "/usr");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal("from-the-image default-arg\n", run.Stdout);
        // Unpacked without root, the files are the caller's: inside they are the image user's, and husk says so.
        Assert.Equal(TestEnvironment.IsRoot ? "" : $"husk: image {image}: its files show as owned by uid 1000, who runs it: unpacked without root, the cache cannot keep root or other owners\n", run.Stderr);
        // A command replaces Cmd, after the entrypoint; --entrypoint '' drops it; the options win over the config.
        Assert.Equal("from-the-image mine\n", Husk("run", "--image", image, "--ro-bind", "/usr", "/usr", "--", "mine").Stdout);
        var own = Husk("run", "--image", image, "--ro-bind", "/usr", "/usr", "--entrypoint", "", "--become-root", "--chdir", "/etc", "--setenv", "GREETING", "bye",
            "--", "/bin/sh", "-c", "id -u; pwd; echo $GREETING; echo $HOME; test -e /etc/old || echo whited-out");
        Assert.True(own.Code == 0, own.Stderr);
        Assert.Equal("0\n/etc\nbye\n/\nwhited-out\n", own.Stdout);
        Assert.Equal("", own.Stderr);
        // --readonly: the image's root takes no writes (the private /tmp still does).
        var ro = Husk("run", "--image", image, "--readonly", "--ro-bind", "/usr", "/usr", "--entrypoint", "", "--",
            "/bin/sh", "-c", "touch /srv/x 2>/dev/null && echo wrote || echo read-only; touch /tmp/x && echo tmp-writable");
        Assert.Equal("read-only\ntmp-writable\n", ro.Stdout);
        // The caller's environment does not leak in over the image's.
        var env = Husk("run", "--image", image, "--ro-bind", "/usr", "/usr", "--entrypoint", "", "--", "/usr/bin/env");
        Assert.DoesNotContain("XDG_CACHE_HOME=", env.Stdout);
        Assert.Contains("PATH=/usr/bin:/bin\n", env.Stdout);

        // The cache lists it, and rm forgets it and deletes its layers.
        var ls = Husk("image", "ls");
        Assert.Equal(0, ls.Code);
        Assert.Contains(image, ls.Stdout);
        Assert.Contains("3 ", ls.Stdout);
        var rm = Husk("image", "rm", image);
        Assert.True(rm.Code == 0, rm.Stderr);
        Assert.Contains("3 layers deleted", rm.Stdout);
        Assert.DoesNotContain(image, Husk("image", "ls").Stdout);
        Assert.Empty(Directory.GetDirectories(Path.Combine(_cache, "husk", "images", "layers", "sha256")));
    }

    [Fact]
    public void Husk_run_image_says_what_is_wrong_with_a_bad_image_in_one_line()
    {
        var missing = Husk("run", "--image", $"oci:{_layout}:v9", "--", "/bin/true");
        Assert.Equal(1, missing.Code);
        Assert.Equal($"husk run: image oci:{_layout}:v9: index.json: no image tagged v9 (org.opencontainers.image.ref.name: v1)\n", missing.Stderr);
        var usage = Husk("run", "--image", $"oci:{_layout}", "--fs", "tmpfs", "--", "/bin/true");
        Assert.Equal(2, usage.Code);
        Assert.Contains("--image is the root", usage.Stderr);
        var transport = Husk("run", "--image", "docker://busybox", "--", "/bin/true");
        Assert.Equal(1, transport.Code);
        Assert.StartsWith("husk run: image docker://busybox: unknown transport", transport.Stderr);
        Assert.Single(transport.Stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void A_busybox_static_rootfs_runs_as_an_image_with_nothing_from_the_host()
    {
        const string busybox = "/bin/busybox";
        // The dynamic busybox names its program interpreter; the static one does not.
        if (!File.Exists(busybox) || File.ReadAllBytes(busybox).AsSpan().IndexOf("/ld-linux"u8) >= 0)
            Assert.Skip("Debian's busybox-static is not installed");
        // The rootfs as a docker archive: /bin/busybox and its applet links, as `podman import` of such a tarball gives.
        var bin = new FileStream(busybox, FileMode.Open, FileAccess.Read);
        var entries = new List<System.Formats.Tar.TarEntry>
        {
            Dir("bin"), Dir("etc"), Dir("tmp", 0x3FF | 0x200),
            new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "bin/busybox") { DataStream = bin, Mode = (UnixFileMode)0x1ED },
            Regular("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        };
        entries.AddRange(new[] { "sh", "ls", "cat", "id", "echo", "wc" }.Select(a => Symlink("bin/" + a, "busybox")));
        string archive = Path.Combine(_scratch, "busybox.tar");
        WriteDockerArchive(archive, [Layer([.. entries])], new JsonObject { ["Cmd"] = new JsonArray("/bin/sh", "-c", "echo busybox $(id -u) $(ls /bin | wc -l)") }, "localhost/bb:latest");
        var run = Husk("run", "--image", $"docker-archive:{archive}");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal("busybox 0 7\n", run.Stdout);
        // Nothing of the host's tree is there: no /usr.
        var usr = Husk("run", "--image", $"docker-archive:{archive}:localhost/bb", "--", "/bin/sh", "-c", "test -e /usr && echo host || echo image-only");
        Assert.Equal("image-only\n", usr.Stdout);
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Root_keeps_the_images_owners_through_idmapped_layers_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        string dir = Path.Combine(_scratch, "owned");
        WriteLayout(dir, [UsrMergedBase(), Layer(Dir("data", uid: 1234, gid: 99), Regular("data/file", "x", uid: 1234, gid: 99), Regular("rootfile", "r"))]);
        // The payload's own user namespace (--allow-userns) maps the whole range: with --disable-userns,
        // the default, its nested namespace maps only its own ids and others show as the overflow id.
        var run = Husk("run", "--image", $"oci:{dir}", "--allow-userns", "--ro-bind", "/usr", "/usr", "--", "/bin/sh", "-c", "stat -c %u:%g /data/file /data /rootfile");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal("1234:99\n1234:99\n0:0\n", run.Stdout);
        var nested = Husk("run", "--image", $"oci:{dir}", "--ro-bind", "/usr", "/usr", "--", "/bin/sh", "-c", "stat -c %u:%g /data/file /rootfile");
        Assert.Equal("65534:65534\n0:0\n", nested.Stdout);
        // On disk the cache holds the owners themselves (root could chown), never setuid bits.
        string layer = Directory.GetDirectories(Path.Combine(_cache, "husk", "images", "layers", "sha256")).Single(d => File.Exists(Path.Combine(d, "root", "data", "file")));
        Assert.Equal(0, Interop.Interop.TryStat(Path.Combine(layer, "root", "data", "file"), out var st));
        Assert.Equal((1234u, 99u), (st.Uid, st.Gid));
    }
}
