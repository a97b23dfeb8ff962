using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>An OCI content descriptor: what a blob is, its digest and size (image-spec descriptor.md).</summary>
internal sealed class OciDescriptor
{
    [JsonPropertyName("mediaType")]
    public string? MediaType { get; set; }

    [JsonPropertyName("digest")]
    public string? Digest { get; set; }

    [JsonPropertyName("size")]
    public long? Size { get; set; }

    [JsonPropertyName("annotations")]
    public Dictionary<string, string>? Annotations { get; set; }

    [JsonPropertyName("platform")]
    public OciPlatform? Platform { get; set; }

    /// <summary>The tag an index gives this manifest (<c>org.opencontainers.image.ref.name</c>).</summary>
    [JsonIgnore]
    public string? RefName => Annotations?.GetValueOrDefault("org.opencontainers.image.ref.name");
}

/// <summary>The platform of a manifest in an index.</summary>
internal sealed class OciPlatform
{
    [JsonPropertyName("architecture")]
    public string? Architecture { get; set; }

    [JsonPropertyName("os")]
    public string? Os { get; set; }
}
