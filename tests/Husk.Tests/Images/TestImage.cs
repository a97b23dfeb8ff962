using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Husk.Tests.Images;

/// <summary>
/// Makes tiny images in a test: layers as tar streams written with System.Formats.Tar, stored as an
/// OCI image layout (gzip, zstd or plain blobs), an oci-archive or a docker-archive.
/// </summary>
internal static class TestImage
{
    private static readonly DateTimeOffset Time = new(2024, 1, 2, 3, 4, 5, TimeSpan.Zero);

    /// <summary>One layer from entries; the same entries give the same bytes (a fixed time), so the same diff id.</summary>
    public static byte[] Layer(params TarEntry[] entries)
    {
        var ms = new MemoryStream();
        using (var writer = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var e in entries)
            {
                e.ModificationTime = Time;
                e.DataStream?.Position = 0;
                writer.WriteEntry(e);
            }
        }
        return ms.ToArray();
    }

    public static PaxTarEntry Regular(string name, string content, int mode = 0x1A4, int uid = 0, int gid = 0) =>
        new(TarEntryType.RegularFile, name)
        {
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
            Mode = (UnixFileMode)mode,
            Uid = uid,
            Gid = gid,
        };

    public static PaxTarEntry Dir(string name, int mode = 0x1ED, int uid = 0, int gid = 0) =>
        new(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid };

    public static PaxTarEntry Symlink(string name, string target) => new(TarEntryType.SymbolicLink, name) { LinkName = target };

    public static PaxTarEntry HardLink(string name, string target) => new(TarEntryType.HardLink, name) { LinkName = target };

    public static PaxTarEntry Whiteout(string name) => Regular(name[..(name.LastIndexOf('/') + 1)] + ".wh." + name[(name.LastIndexOf('/') + 1)..], "");

    public static PaxTarEntry Opaque(string dir) => Regular(dir.TrimEnd('/') + "/.wh..wh..opq", "");

    public static PaxTarEntry Device(string name, TarEntryType type = TarEntryType.CharacterDevice, int major = 1, int minor = 3) =>
        new(type, name) { DeviceMajor = major, DeviceMinor = minor, Mode = (UnixFileMode)0x1B6 };

    /// <summary>A layer that makes the host's /usr usable once bound in (bin, lib, lib64 and sbin link into it, as on Debian).</summary>
    public static byte[] UsrMergedBase(params TarEntry[] more) => Layer(
    [
        Dir("usr"), Dir("etc"), Dir("tmp", 0x3FF | 0x200),
        Symlink("bin", "usr/bin"), Symlink("lib", "usr/lib"), Symlink("lib64", "usr/lib64"), Symlink("sbin", "usr/sbin"),
        Regular("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"),
        Regular("etc/group", "root:x:0:\napp:x:1000:\nstaff:x:50:\n"),
        .. more,
    ]);

    public enum Compression { None, Gzip, Zstd }

    public static byte[] Compress(byte[] tar, Compression how)
    {
        switch (how)
        {
            case Compression.Gzip:
                var ms = new MemoryStream();
                using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
                    gz.Write(tar);
                return ms.ToArray();
            case Compression.Zstd:
                var (code, _, _) = TestEnvironment.Exec("/bin/sh", ["-c", "command -v zstd"]);
                if (code != 0)
                    throw new InvalidOperationException("zstd is not installed");
                string input = Path.Combine(TestEnvironment.ScratchDirectory("zstd"), "layer.tar");
                System.IO.File.WriteAllBytes(input, tar);
                var r = TestEnvironment.Exec("zstd", ["-q", "-f", input, "-o", input + ".zst"]);
                Assert.Equal(0, r.Code);
                byte[] z = System.IO.File.ReadAllBytes(input + ".zst");
                TestEnvironment.DeleteTree(Path.GetDirectoryName(input)!);
                return z;
            default:
                return tar;
        }
    }

    public static string Sha256(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>The config blob: the run config given (Entrypoint, Cmd, Env, WorkingDir, User) and the layers' diff ids.</summary>
    public static byte[] Config(IEnumerable<byte[]> layers, JsonObject? run = null) =>
        Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = run ?? new JsonObject(),
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray([.. layers.Select(l => (JsonNode)Sha256(l))]) },
        }.ToJsonString());

    private static void Blob(string dir, byte[] data)
    {
        string path = Path.Combine(dir, "blobs", "sha256", Sha256(data)["sha256:".Length..]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, data);
    }

    /// <summary>Writes an OCI image layout of <paramref name="layers"/> (uncompressed tars, bottom first) to <paramref name="dir"/>; returns the manifest's digest.</summary>
    public static string WriteLayout(string dir, IReadOnlyList<byte[]> layers, JsonObject? run = null, string tag = "latest", Compression compression = Compression.Gzip, byte[]? config = null)
    {
        Directory.CreateDirectory(dir);
        System.IO.File.WriteAllText(Path.Combine(dir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        config ??= Config(layers, run);
        Blob(dir, config);
        var layerDescriptors = new JsonArray();
        foreach (var tar in layers)
        {
            byte[] blob = Compress(tar, compression);
            Blob(dir, blob);
            string type = "application/vnd.oci.image.layer.v1.tar" + compression switch { Compression.Gzip => "+gzip", Compression.Zstd => "+zstd", _ => "" };
            layerDescriptors.Add(new JsonObject { ["mediaType"] = type, ["digest"] = Sha256(blob), ["size"] = blob.Length });
        }
        byte[] manifest = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = Sha256(config), ["size"] = config.Length },
            ["layers"] = layerDescriptors,
        }.ToJsonString());
        Blob(dir, manifest);
        string indexPath = Path.Combine(dir, "index.json");
        var index = System.IO.File.Exists(indexPath) ? JsonNode.Parse(System.IO.File.ReadAllText(indexPath))!.AsObject() : new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray() };
        index["manifests"]!.AsArray().Add(new JsonObject
        {
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["digest"] = Sha256(manifest),
            ["size"] = manifest.Length,
            ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag },
        });
        System.IO.File.WriteAllText(indexPath, index.ToJsonString());
        return Sha256(manifest);
    }

    /// <summary>The layout <paramref name="dir"/> as an oci-archive (a tar of its files).</summary>
    public static void WriteArchive(string dir, string archive)
    {
        using var stream = System.IO.File.Create(archive);
        TarFile.CreateFromDirectory(dir, stream, includeBaseDirectory: false);
    }

    /// <summary>docker save's older format: ID/layer.tar per layer (uncompressed), ID.json for the config, manifest.json.</summary>
    public static void WriteDockerArchive(string archive, IReadOnlyList<byte[]> layers, JsonObject? run = null, string repoTag = "test/image:latest")
    {
        byte[] config = Config(layers, run);
        string configName = Sha256(config)["sha256:".Length..] + ".json";
        using var stream = System.IO.File.Create(archive);
        using var writer = new TarWriter(stream, TarEntryFormat.Pax);
        void Add(string name, byte[] data) => writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), Mode = (UnixFileMode)0x1A4 });
        var names = new List<string>();
        for (int i = 0; i < layers.Count; i++)
        {
            string id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"v1-id-{i}-{Sha256(layers[i])}")));
            names.Add($"{id}/layer.tar");
            Add($"{id}/layer.tar", layers[i]);
        }
        Add(configName, config);
        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = configName,
            ["RepoTags"] = new JsonArray((JsonNode)repoTag),
            ["Layers"] = new JsonArray([.. names.Select(n => (JsonNode)n)]),
        });
        Add("manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    }
}
