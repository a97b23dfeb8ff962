using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>One image of docker save's <c>manifest.json</c>: its config file, tags and layer files, bottom first.</summary>
internal sealed class DockerArchiveEntry
{
    [JsonPropertyName("Config")]
    public string? Config { get; set; }

    [JsonPropertyName("RepoTags")]
    public List<string>? RepoTags { get; set; }

    [JsonPropertyName("Layers")]
    public List<string>? Layers { get; set; }
}
