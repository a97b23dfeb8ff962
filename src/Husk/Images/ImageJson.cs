using System.Text.Json;
using System.Text.Json.Serialization;

namespace Husk.Images;

/// <summary>The image formats' JSON, through source generation (no reflection under NativeAOT).</summary>
[JsonSourceGenerationOptions(ReadCommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false, WriteIndented = true)]
[JsonSerializable(typeof(OciIndex))]
[JsonSerializable(typeof(OciManifest))]
[JsonSerializable(typeof(ImageConfig))]
[JsonSerializable(typeof(List<DockerArchiveEntry>))]
[JsonSerializable(typeof(ImageRecord))]
[JsonSerializable(typeof(LayerRecord))]
internal sealed partial class ImageJson : JsonSerializerContext
{
    /// <summary>
    /// Deserializes <paramref name="data"/>, which <paramref name="what"/> names in messages: invalid
    /// JSON or a value of the wrong type is one <see cref="ImageException"/> saying where.
    /// </summary>
    public static T Parse<T>(byte[] data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string reference, string what)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(data, type) ?? throw new ImageException(reference, $"{what}: empty (null)");
        }
        catch (JsonException e)
        {
            string where = e.Path is { Length: > 1 } path ? $" at {path}" : "";
            throw new ImageException(reference, $"{what}: not valid JSON{where} (line {(e.LineNumber ?? 0) + 1})");
        }
    }
}
