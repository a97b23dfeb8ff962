using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>An image index (<c>index.json</c> of a layout, or a multi-platform index blob).</summary>
internal sealed class OciIndex
{
    public const string MediaType = "application/vnd.oci.image.index.v1+json";
    public const string DockerListMediaType = "application/vnd.docker.distribution.manifest.list.v2+json";

    [JsonPropertyName("schemaVersion")]
    public int? SchemaVersion { get; set; }

    [JsonPropertyName("manifests")]
    public List<OciDescriptor>? Manifests { get; set; }
}
