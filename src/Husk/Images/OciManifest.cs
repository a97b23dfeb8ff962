using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>An image manifest: the config blob and the layers, bottom first.</summary>
internal sealed class OciManifest
{
    public const string MediaType = "application/vnd.oci.image.manifest.v1+json";
    public const string DockerMediaType = "application/vnd.docker.distribution.manifest.v2+json";

    [JsonPropertyName("schemaVersion")]
    public int? SchemaVersion { get; set; }

    [JsonPropertyName("mediaType")]
    public string? ManifestMediaType { get; set; }

    [JsonPropertyName("config")]
    public OciDescriptor? Config { get; set; }

    [JsonPropertyName("layers")]
    public List<OciDescriptor>? Layers { get; set; }
}
