using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>What the cache knows of an unpacked layer (<c>layers/ALG/HEX/layer.json</c>).</summary>
internal sealed class LayerRecord
{
    [JsonPropertyName("diffId")]
    public string DiffId { get; set; } = "";

    [JsonPropertyName("blob")]
    public string? Blob { get; set; }

    [JsonPropertyName("compression")]
    public string? Compression { get; set; }

    [JsonPropertyName("entries")]
    public int Entries { get; set; }

    [JsonPropertyName("bytes")]
    public long Bytes { get; set; }

    /// <summary>Entries the tar gives another owner than root.</summary>
    [JsonPropertyName("otherOwners")]
    public int OtherOwners { get; set; }

    /// <summary>Whether the files on disk carry the tar's owners (unpacked by root).</summary>
    [JsonPropertyName("ownersKept")]
    public bool OwnersKept { get; set; }

    [JsonPropertyName("devicesSkipped")]
    public int DevicesSkipped { get; set; }

    [JsonPropertyName("setuidStripped")]
    public int SetuidStripped { get; set; }

    [JsonPropertyName("unpacked")]
    public DateTimeOffset Unpacked { get; set; }
}
