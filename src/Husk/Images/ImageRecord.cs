using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>An image the cache has seen (<c>images/ALG-HEX.json</c>): its id, the references it was run by, its layers.</summary>
internal sealed class ImageRecord
{
    /// <summary>The config's digest, the image's id.</summary>
    [JsonPropertyName("id")]
    public string Id { get; set; } = "";

    [JsonPropertyName("references")]
    public List<string> References { get; set; } = [];

    /// <summary>The layers' diff ids, bottom first: the cache entries this image uses.</summary>
    [JsonPropertyName("layers")]
    public List<string> Layers { get; set; } = [];

    [JsonPropertyName("created")]
    public DateTimeOffset Created { get; set; }

    [JsonPropertyName("lastUsed")]
    public DateTimeOffset LastUsed { get; set; }
}
