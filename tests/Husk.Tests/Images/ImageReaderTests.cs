using System.Text;
using System.Text.Json.Nodes;
using Husk.Images;
using static Husk.Tests.Images.TestImage;

namespace Husk.Tests.Images;

/// <summary>
/// Reading images without running them: the three formats, compression, the cache's reuse and
/// removal, and bad input as one error naming the field, blob or layer. Alone: a layer's lock is
/// a flock on its directory, and a sandbox another test clones meanwhile holds a copy of this
/// process's descriptors (close-on-exec, but until its exec), so a prune right after a release
/// could find the layer still locked.
/// </summary>
[Collection(ProcessWideStateCollection.ProcessWideState)]
public sealed class ImageReaderTests : IDisposable
{
    private readonly string _scratch = TestEnvironment.ScratchDirectory("images");
    private readonly ImageCache _cache;

    public ImageReaderTests() => _cache = new ImageCache(Path.Combine(_scratch, "cache"));

    public void Dispose() => TestEnvironment.DeleteTree(_scratch);

    private static readonly byte[] Lower = Layer(Dir("etc"), Regular("etc/os-release", "lower\n"), Regular("etc/old", "old\n"), Dir("var/lib/db"), Regular("var/lib/db/stale", "s"));
    private static readonly byte[] Upper = Layer(Regular("etc/os-release", "upper\n"), Whiteout("etc/old"), Opaque("var/lib/db"), Regular("var/lib/db/fresh", "f"));

    private static readonly JsonObject Run = new()
    {
        ["Env"] = new JsonArray("PATH=/usr/bin:/bin", "GREETING=hello"),
        ["Cmd"] = new JsonArray("/bin/sh", "-c", "echo default"),
        ["WorkingDir"] = "/srv",
        ["User"] = "app",
    };

    private string Layout(string name = "layout", TestImage.Compression compression = TestImage.Compression.Gzip)
    {
        string dir = Path.Combine(_scratch, name);
        WriteLayout(dir, [UsrMergedBase(), Lower, Upper], (JsonObject)Run.DeepClone(), "v1", compression);
        return dir;
    }

    private string Text(PreparedImage image, string path)
    {
        // The topmost layer that has the file decides (what the overlay will show).
        foreach (string lower in image.Lowers.Reverse())
        {
            string p = Path.Combine(lower, path);
            if (File.Exists(p))
                return File.ReadAllText(p);
        }
        return "";
    }

    [Fact]
    public void An_oci_layout_is_read_by_tag_its_layers_cached_and_its_config_resolved()
    {
        string dir = Layout();
        using var image = _cache.Prepare($"oci:{dir}:v1");
        Assert.Equal(3, image.Lowers.Length);
        Assert.Equal("upper\n", Text(image, "etc/os-release"));
        Assert.Equal((1000u, 1000u, "/home/app"), (image.User.Uid, image.User.Gid, image.User.Home));
        Assert.All(image.Lowers, l => Assert.StartsWith(_cache.Root, l));
        Assert.Equal("gzip", image.Layers[1].Compression);
        var listed = Assert.Single(_cache.List());
        Assert.Equal([$"oci:{dir}:v1"], listed.References);
    }

    [Fact]
    public void A_second_prepare_reuses_the_cached_layers_without_unpacking()
    {
        string dir = Layout();
        string lowerTree;
        DateTimeOffset unpacked;
        using (var first = _cache.Prepare($"oci:{dir}:v1"))
        {
            lowerTree = first.Lowers[1];
            unpacked = first.Layers[1].Unpacked;
        }
        // Were it unpacked again, the record (written when unpacking) would be new.
        using var second = _cache.Prepare($"oci:{dir}");
        Assert.Equal(lowerTree, second.Lowers[1]);
        Assert.Equal(unpacked, second.Layers[1].Unpacked);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_cache.Root, "tmp")));
    }

    [Fact]
    public void The_same_image_from_an_oci_archive_and_a_docker_archive_shares_the_cache()
    {
        string dir = Layout();
        string archive = Path.Combine(_scratch, "image.oci.tar");
        WriteArchive(dir, archive);
        string docker = Path.Combine(_scratch, "image.docker.tar");
        WriteDockerArchive(docker, [UsrMergedBase(), Lower, Upper], (JsonObject)Run.DeepClone(), "test/app:1");
        using var fromArchive = _cache.Prepare($"oci-archive:{archive}:v1");
        using var fromDocker = _cache.Prepare($"docker-archive:{docker}:test/app:1");
        Assert.Equal(fromArchive.Lowers, fromDocker.Lowers);
        Assert.Equal("upper\n", Text(fromDocker, "etc/os-release"));
        Assert.Equal(1000u, fromDocker.User.Uid);
    }

    [Fact]
    public void Zstd_and_uncompressed_layers_are_read()
    {
        if (TestEnvironment.Exec("/bin/sh", ["-c", "command -v zstd"]).Code != 0)
            Assert.Skip("the zstd program is not installed to make a zstd layer");
        using var zstd = _cache.Prepare($"oci:{Layout("zstd", TestImage.Compression.Zstd)}");
        Assert.Equal("zstd", zstd.Layers[2].Compression);
        Assert.Equal("upper\n", Text(zstd, "etc/os-release"));
        // The same layers uncompressed have the same diff ids: a cache of their own shows how they were read.
        using var plain = new ImageCache(Path.Combine(_scratch, "cache2")).Prepare($"oci:{Layout("plain", TestImage.Compression.None)}");
        Assert.Equal("tar", plain.Layers[2].Compression);
    }

    private ImageException Bad(string reference) => Assert.Throws<ImageException>(() => _cache.Prepare(reference).Dispose());

    [Fact]
    public void Bad_input_is_one_error_naming_what_is_wrong()
    {
        string dir = Layout();
        Assert.Contains("no image tagged v2 (org.opencontainers.image.ref.name: v1)", Bad($"oci:{dir}:v2").Message);
        Assert.Contains("unknown transport", Assert.Throws<ImageException>(() => ImageReference.Parse("docker://busybox")).Message);
        Assert.Contains("it has no oci-layout file", Bad($"oci:{_scratch}").Message);

        // A malformed index names the file and where.
        string broken = Path.Combine(_scratch, "broken");
        WriteLayout(broken, [UsrMergedBase()]);
        File.WriteAllText(Path.Combine(broken, "index.json"), "{\"schemaVersion\": 2, \"manifests\": [ {\"digest\": 7} ]}");
        Assert.Matches(@"index\.json: not valid JSON at \$\.manifests\[0\]\.digest", Bad($"oci:{broken}").Message);

        // A layer blob whose content does not match its digest.
        string tampered = Path.Combine(_scratch, "tampered");
        WriteLayout(tampered, [UsrMergedBase(), Layer(Regular("a", "a"))], compression: TestImage.Compression.None);
        string blob = Directory.GetFiles(Path.Combine(tampered, "blobs", "sha256")).Single(f => new FileInfo(f).Length == Layer(Regular("a", "a")).Length);
        var bytes = File.ReadAllBytes(blob);
        bytes[600] ^= 1; // inside the file's data: the tar is still a tar
        File.WriteAllBytes(blob, bytes);
        var mismatch = Bad($"oci:{tampered}");
        Assert.Contains("layer 2", mismatch.Message);
        Assert.Contains("does not match its digest", mismatch.Message);
        // Nothing half-unpacked stays in the cache.
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_cache.Root, "tmp")));

        // A missing blob.
        File.Delete(blob);
        var missing = Bad($"oci:{tampered}");
        Assert.Contains("layer 2", missing.Message);
        Assert.Contains("is missing", missing.Message);

        // A config whose diff ids do not match the layers.
        string counted = Path.Combine(_scratch, "counted");
        WriteLayout(counted, [UsrMergedBase(), Lower], config: Config([UsrMergedBase()]));
        Assert.Contains("config: rootfs.diff_ids has 1 entries for 2 layers", Bad($"oci:{counted}").Message);

        // A config that names a user the image lacks.
        string nouser = Path.Combine(_scratch, "nouser");
        WriteLayout(nouser, [UsrMergedBase()], new JsonObject { ["User"] = "ghost" });
        Assert.Contains("config: User: no user ghost in the image's /etc/passwd", Bad($"oci:{nouser}").Message);

        // A docker archive whose manifest points out of the archive.
        string evil = Path.Combine(_scratch, "evil.tar");
        using (var stream = File.Create(evil))
        using (var writer = new System.Formats.Tar.TarWriter(stream))
        {
            var manifest = Encoding.UTF8.GetBytes("[{\"Config\":\"../../etc/passwd\",\"RepoTags\":[\"x:1\"],\"Layers\":[]}]");
            writer.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "manifest.json") { DataStream = new MemoryStream(manifest) });
        }
        Assert.Contains("a file name that leaves the image", Bad($"docker-archive:{evil}").Message);
    }

    [Fact]
    public void A_layer_whose_uncompressed_content_differs_from_the_diff_id_is_refused()
    {
        string dir = Path.Combine(_scratch, "diffid");
        // The config claims another layer's diff id: blob digests match, the content does not.
        WriteLayout(dir, [UsrMergedBase(), Lower], config: Config([UsrMergedBase(), Upper]));
        var e = Bad($"oci:{dir}");
        Assert.True(e.Message.Contains("layer 2"), e.Message);
        Assert.Contains("does not match the config's diff id", e.Message);
    }

    [Fact]
    public void Remove_and_prune_delete_unused_layers_but_never_those_in_use()
    {
        string dir = Layout();
        string other = Path.Combine(_scratch, "other");
        WriteLayout(other, [UsrMergedBase(), Layer(Regular("only-here", "x"))]);
        _cache.Prepare($"oci:{other}").Dispose();
        using (var held = _cache.Prepare($"oci:{dir}:v1"))
        {
            // Removing the image in use forgets it, but its layers stay while a run holds them.
            var removal = _cache.Remove($"oci:{dir}:v1")!;
            Assert.Single(removal.Images);
            Assert.Equal(2, removal.Busy.Count);
            Assert.All(held.Lowers, l => Assert.True(Directory.Exists(l)));
        }
        // The shared base layer stays for the other image; the two layers only the removed one used go.
        var pruned = _cache.Prune();
        Assert.True(pruned.Layers.Count == 2 && pruned.Busy.Count == 0, $"deleted [{string.Join(' ', pruned.Layers)}], busy [{string.Join(' ', pruned.Busy)}]");
        using var again = _cache.Prepare($"oci:{other}");
        Assert.Equal(2, Directory.GetDirectories(Path.Combine(_cache.Root, "layers", "sha256")).Length);
        Assert.Null(_cache.Remove("oci:/nowhere"));
    }

    [Fact]
    public void The_config_fills_in_what_the_spec_leaves_open()
    {
        using var image = _cache.Prepare($"oci:{Layout()}:v1");
        var fs = FileSystemSpec.Image("oci:x");
        var applied = image.Apply(new SandboxSpec { Command = [], FileSystem = fs }, fs);
        Assert.Equal(["/bin/sh", "-c", "echo default"], applied.Command);
        Assert.Equal("/srv", applied.WorkingDirectory);
        Assert.Equal((1000u, 1000u), (applied.Identity.Uid, applied.Identity.Gid));
        Assert.Contains("GREETING=hello", applied.Environment);
        Assert.Contains("HOME=/home/app", applied.Environment);

        // The spec's own values win; its command replaces Cmd and follows an entrypoint.
        var given = image.Apply(new SandboxSpec
        {
            Command = ["ls"],
            FileSystem = fs,
            Environment = ["GREETING=bye"],
            WorkingDirectory = "/",
            Identity = Identity.Root,
        }, fs with { Entrypoint = ["/usr/bin/env"] });
        Assert.Equal(["/usr/bin/env", "ls"], given.Command);
        Assert.Equal(["PATH=/usr/bin:/bin", "GREETING=bye", "HOME=/"], given.Environment);
        Assert.Equal((0u, 0u), (given.Identity.Uid, given.Identity.Gid));
        Assert.Equal("/", given.WorkingDirectory);
    }
}
