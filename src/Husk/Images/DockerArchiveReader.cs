namespace Husk.Images;

/// <summary>
/// Reads docker save's archive format: <c>manifest.json</c> lists each image's config file, tags and
/// layer files. Layer files are named by ids that are not content digests in the older layout
/// (<c>ID/layer.tar</c>), so layers are checked against the config's diff ids as they are read;
/// the config is checked against its file name where that is its digest.
/// </summary>
internal static class DockerArchiveReader
{
    public static ResolvedImage Read(ImageFiles files, string? selector)
    {
        string r = files.Reference;
        byte[] data = files.ReadSmall("manifest.json") ?? throw new ImageException(r, "not a docker archive: it has no manifest.json");
        var entries = ImageJson.Parse(data, ImageJson.Default.ListDockerArchiveEntry, r, "manifest.json");
        var entry = Choose(r, entries, selector);
        string configName = files.CheckName(entry.Config ?? throw new ImageException(r, "manifest.json: Config missing"), "manifest.json: Config");
        byte[] configBytes = files.ReadSmall(configName) ?? throw new ImageException(r, $"config: {configName} is missing");
        var configDigest = Digest.Sha256(configBytes);
        if (NamedDigest(configName) is { } named && named != configDigest)
            throw new ImageException(r, $"config: {configName} does not match its digest");
        var config = ImageJson.Parse(configBytes, ImageJson.Default.ImageConfig, r, "config");
        var names = entry.Layers ?? throw new ImageException(r, "manifest.json: Layers missing");
        var diffIds = OciLayoutReader.DiffIds(r, config, names.Count);
        var layers = new List<ImageLayer>();
        for (int i = 0; i < names.Count; i++)
        {
            string name = files.CheckName(names[i], $"manifest.json: Layers[{i}]");
            var layer = new ImageLayer(i + 1, name, NamedDigest(name), null, diffIds[i]);
            if (files.SizeOf(name) is null)
                throw new ImageException(r, $"{layer.Name}: {name} is missing");
            layers.Add(layer);
        }
        return new ResolvedImage(r, configDigest, config, layers);
    }

    /// <summary>The digest a file name spells (<c>blobs/sha256/HEX</c>, <c>HEX.json</c>), if it does.</summary>
    private static Digest? NamedDigest(string name)
    {
        string[] parts = name.Split('/');
        if (parts.Length == 3 && parts[0] == "blobs" && Digest.TryParse($"{parts[1]}:{parts[2]}", out var blob))
            return blob;
        string file = parts[^1].EndsWith(".json", StringComparison.Ordinal) ? parts[^1][..^5] : parts[^1];
        return parts.Length == 1 && Digest.TryParse("sha256:" + file, out var d) ? d : null;
    }

    /// <summary>The image a selector names (<c>NAME:TAG</c> among the tags, or <c>@INDEX</c>); without one, the only image.</summary>
    private static DockerArchiveEntry Choose(string r, List<DockerArchiveEntry> entries, string? selector)
    {
        if (entries.Count == 0)
            throw new ImageException(r, "manifest.json: no images");
        var tags = entries.SelectMany(e => e.RepoTags ?? []).ToList();
        if (selector is null)
        {
            if (entries.Count == 1)
                return entries[0];
            throw new ImageException(r, $"manifest.json: {entries.Count} images: name one with :NAME:TAG or :@INDEX ({string.Join(", ", tags)})");
        }
        if (selector.StartsWith('@'))
        {
            return int.TryParse(selector[1..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i) && i < entries.Count
                ? entries[i]
                : throw new ImageException(r, $"manifest.json: no image {selector} (there are {entries.Count})");
        }
        string withTag = selector.Contains(':') ? selector : selector + ":latest";
        return entries.FirstOrDefault(e => e.RepoTags?.Any(t => t == selector || t == withTag || t.EndsWith("/" + withTag, StringComparison.Ordinal)) == true)
            ?? throw new ImageException(r, $"manifest.json: no image tagged {selector} ({(tags.Count > 0 ? string.Join(", ", tags) : "none is tagged")})");
    }
}
