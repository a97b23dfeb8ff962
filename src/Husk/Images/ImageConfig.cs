using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>An image's configuration blob (image-spec config.md; docker's is the same for these fields).</summary>
internal sealed class ImageConfig
{
    [JsonPropertyName("architecture")]
    public string? Architecture { get; set; }

    [JsonPropertyName("os")]
    public string? Os { get; set; }

    [JsonPropertyName("config")]
    public ImageRunConfig? Config { get; set; }

    [JsonPropertyName("rootfs")]
    public ImageRootFs? RootFs { get; set; }
}

/// <summary>What a container of the image runs by default.</summary>
internal sealed class ImageRunConfig
{
    [JsonPropertyName("User")]
    public string? User { get; set; }

    [JsonPropertyName("Env")]
    public List<string>? Env { get; set; }

    [JsonPropertyName("Entrypoint")]
    public List<string>? Entrypoint { get; set; }

    [JsonPropertyName("Cmd")]
    public List<string>? Cmd { get; set; }

    [JsonPropertyName("WorkingDir")]
    public string? WorkingDir { get; set; }
}

/// <summary>The layers' uncompressed digests (diff ids), bottom first.</summary>
internal sealed class ImageRootFs
{
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    [JsonPropertyName("diff_ids")]
    public List<string>? DiffIds { get; set; }
}
