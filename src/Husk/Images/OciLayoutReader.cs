using System.Runtime.InteropServices;

namespace Husk.Images;

/// <summary>
/// Reads an OCI image layout (image-spec image-layout.md): <c>oci-layout</c>, <c>index.json</c>, the
/// manifest chosen by tag (through a platform index to this machine's architecture), its config,
/// and the layer descriptors. Every blob read here is checked against its digest and size.
/// </summary>
internal static class OciLayoutReader
{
    private const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    public static ResolvedImage Read(ImageFiles files, string? tag)
    {
        string r = files.Reference;
        if (files.ReadSmall("oci-layout") is null)
            throw new ImageException(r, "not an OCI image layout: it has no oci-layout file");
        var index = ImageJson.Parse(files.ReadSmall("index.json") ?? throw new ImageException(r, "index.json: missing"), ImageJson.Default.OciIndex, r, "index.json");
        var manifests = index.Manifests ?? throw new ImageException(r, "index.json: no manifests field");
        var chosen = Choose(r, manifests, tag, "index.json");
        var manifest = ReadManifest(files, chosen, "index.json");
        if (manifest.Config?.Digest is null)
            throw new ImageException(r, "manifest: config: no digest");
        var configDigest = ParseDigest(r, manifest.Config.Digest, "manifest: config.digest");
        byte[] configBytes = ReadBlob(files, configDigest, manifest.Config.Size, "config");
        var config = ImageJson.Parse(configBytes, ImageJson.Default.ImageConfig, r, "config");
        var layers = manifest.Layers ?? throw new ImageException(r, "manifest: no layers field");
        var diffIds = DiffIds(r, config, layers.Count);
        var result = new List<ImageLayer>();
        for (int i = 0; i < layers.Count; i++)
        {
            var d = layers[i];
            var digest = ParseDigest(r, d.Digest, $"manifest: layers[{i}].digest");
            if (d.MediaType is { } type && !IsLayerType(type))
                throw new ImageException(r, $"manifest: layers[{i}].mediaType: {type} is not a layer type this reader knows (tar, tar+gzip, tar+zstd)");
            var layer = new ImageLayer(i + 1, BlobPath(digest), digest, d.Size, diffIds[i]);
            long? size = files.SizeOf(layer.BlobName);
            if (size is null)
                throw new ImageException(r, $"{layer.Name}: blob {layer.BlobName} is missing");
            if (d.Size is { } want && size != want)
                throw new ImageException(r, $"{layer.Name}: blob {layer.BlobName} has {size} bytes, the manifest says {want}");
            result.Add(layer);
        }
        return new ResolvedImage(r, configDigest, config, result);
    }

    /// <summary>The config's diff ids, one per layer, parsed.</summary>
    internal static Digest[] DiffIds(string r, ImageConfig config, int layers)
    {
        var ids = config.RootFs?.DiffIds ?? throw new ImageException(r, "config: rootfs.diff_ids missing");
        if (ids.Count != layers)
            throw new ImageException(r, $"config: rootfs.diff_ids has {ids.Count} entries for {layers} layers");
        if (layers == 0)
            throw new ImageException(r, "manifest: the image has no layers");
        return [.. ids.Select((id, i) => ParseDigest(r, id, $"config: rootfs.diff_ids[{i}]"))];
    }

    private static bool IsLayerType(string type) =>
        type.StartsWith("application/vnd.oci.image.layer.", StringComparison.Ordinal)
        || type.StartsWith("application/vnd.docker.image.rootfs.", StringComparison.Ordinal);

    private static OciManifest ReadManifest(ImageFiles files, OciDescriptor descriptor, string from)
    {
        string r = files.Reference;
        for (int depth = 0; depth < 4; depth++)
        {
            var digest = ParseDigest(r, descriptor.Digest, $"{from}: manifest digest");
            byte[] data = ReadBlob(files, digest, descriptor.Size, "manifest");
            if (descriptor.MediaType is OciIndex.MediaType or OciIndex.DockerListMediaType)
            {
                var nested = ImageJson.Parse(data, ImageJson.Default.OciIndex, r, $"index {digest.Short}");
                descriptor = ForThisMachine(r, nested.Manifests ?? [], $"index {digest.Short}");
                from = $"index {digest.Short}";
                continue;
            }
            if (descriptor.MediaType is not (null or OciManifest.MediaType or OciManifest.DockerMediaType))
                throw new ImageException(r, $"{from}: mediaType {descriptor.MediaType} is neither an image manifest nor an index");
            return ImageJson.Parse(data, ImageJson.Default.OciManifest, r, $"manifest {digest.Short}");
        }
        throw new ImageException(r, $"{from}: indexes nested too deep");
    }

    /// <summary>The manifest a tag names; without a tag, the only one.</summary>
    private static OciDescriptor Choose(string r, List<OciDescriptor> manifests, string? tag, string what)
    {
        if (manifests.Count == 0)
            throw new ImageException(r, $"{what}: no manifests");
        var tags = manifests.Select(m => m.RefName).Where(t => t is not null).ToList();
        if (tag is null)
        {
            if (manifests.Count == 1)
                return manifests[0];
            throw new ImageException(r, $"{what}: {manifests.Count} images: name one with :TAG ({(tags.Count > 0 ? string.Join(", ", tags) : "none is tagged")})");
        }
        var match = manifests.FirstOrDefault(m => m.RefName == tag) ?? manifests.FirstOrDefault(m => m.RefName?.EndsWith(":" + tag, StringComparison.Ordinal) == true);
        return match ?? throw new ImageException(r, $"{what}: no image tagged {tag} ({RefNameAnnotation}: {(tags.Count > 0 ? string.Join(", ", tags) : "none")})");
    }

    /// <summary>From a platform index: the manifest for linux on this machine's architecture.</summary>
    private static OciDescriptor ForThisMachine(string r, List<OciDescriptor> manifests, string what)
    {
        string arch = RuntimeInformation.OSArchitecture switch
        {
            Architecture.X64 => "amd64",
            Architecture.Arm64 => "arm64",
            var a => a.ToString().ToLowerInvariant(),
        };
        return manifests.FirstOrDefault(m => m.Platform is { Os: "linux" } p && p.Architecture == arch)
            ?? (manifests.Count == 1 && manifests[0].Platform is null ? manifests[0] : null)
            ?? throw new ImageException(r, $"{what}: no manifest for linux/{arch}");
    }

    internal static Digest ParseDigest(string r, string? text, string field) =>
        Digest.TryParse(text, out var d) ? d : throw new ImageException(r, $"{field}: {(text is null ? "missing" : $"not a sha256 or sha512 digest: {text}")}");

    internal static string BlobPath(Digest d) => $"blobs/{d.Algorithm}/{d.Hex}";

    /// <summary>A small blob (manifest, config), read whole and checked against its digest and size.</summary>
    internal static byte[] ReadBlob(ImageFiles files, Digest digest, long? size, string what)
    {
        string name = BlobPath(digest);
        byte[] data = files.ReadSmall(name) ?? throw new ImageException(files.Reference, $"{what}: blob {name} is missing");
        if (size is { } want && data.Length != want)
            throw new ImageException(files.Reference, $"{what}: blob {name} has {data.Length} bytes, the descriptor says {want}");
        if (digest.Of(data) != digest)
            throw new ImageException(files.Reference, $"{what}: blob {name} does not match its digest");
        return data;
    }
}
