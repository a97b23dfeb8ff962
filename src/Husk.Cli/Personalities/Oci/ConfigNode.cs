using System.Globalization;
using System.Text.Json;

namespace Husk.Cli.Personalities.Oci;

/// <summary>A config.json (or process.json) that cannot be used: the message names the field ("process.user.uid: ...").</summary>
internal sealed class OciConfigException(string message) : Exception(message);

/// <summary>
/// A JSON value with the path that leads to it, so that every error names the field
/// ("linux.resources.memory.limit: expected an integer, got a string"). Reading goes through
/// <see cref="JsonDocument"/> (no reflection, NativeAOT-clean); absent and null fields read as null,
/// as Go's encoding/json treats them; unknown fields are ignored, as the runtime spec requires.
/// </summary>
internal readonly struct ConfigNode
{
    private readonly JsonElement _element;

    public ConfigNode(JsonElement element, string path)
    {
        _element = element;
        Path = path;
    }

    /// <summary>Where this value is ("process.args[0]"); empty for the document itself.</summary>
    public string Path { get; }

    public JsonValueKind Kind => _element.ValueKind;

    /// <summary>Parses a document; a syntax error names the file and the position.</summary>
    public static ConfigNode Parse(string json, string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
            // Cloned: the document's pooled memory goes back when it is disposed.
            return new ConfigNode(doc.RootElement.Clone(), "");
        }
        catch (JsonException e)
        {
            throw new OciConfigException($"{file}: not valid JSON (line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1})");
        }
    }

    private string Child(string name) => Path.Length == 0 ? name : $"{Path}.{name}";

    private OciConfigException Wrong(string expected) => new($"{(Path.Length == 0 ? "the document" : Path)}: expected {expected}, got {Describe()}");

    private string Describe() => _element.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{Shorten(_element.GetString()!)}\"",
        JsonValueKind.Number => $"the number {_element.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => $"{_element.GetRawText()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "..." : s;

    /// <summary>A field of this object; null when absent or null. Throws when this is not an object.</summary>
    public ConfigNode? Field(string name)
    {
        if (_element.ValueKind != JsonValueKind.Object)
            throw Wrong("an object");
        return _element.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? new ConfigNode(v, Child(name)) : null;
    }

    /// <summary>The names and values of this object's fields.</summary>
    public IEnumerable<(string Name, ConfigNode Value)> Fields()
    {
        if (_element.ValueKind != JsonValueKind.Object)
            throw Wrong("an object");
        var list = new List<(string, ConfigNode)>();
        foreach (var p in _element.EnumerateObject())
            list.Add((p.Name, new ConfigNode(p.Value, $"{Child(p.Name)}")));
        return list;
    }

    /// <summary>The items of this array.</summary>
    public IReadOnlyList<ConfigNode> Items()
    {
        if (_element.ValueKind != JsonValueKind.Array)
            throw Wrong("an array");
        var list = new List<ConfigNode>();
        int i = 0;
        foreach (var item in _element.EnumerateArray())
            list.Add(new ConfigNode(item, $"{Path}[{i++}]"));
        return list;
    }

    /// <summary>The items of array field <paramref name="name"/>; empty when absent.</summary>
    public IReadOnlyList<ConfigNode> Array(string name) => Field(name)?.Items() ?? [];

    public string AsString() => _element.ValueKind == JsonValueKind.String ? _element.GetString()! : throw Wrong("a string");

    public bool AsBool() => _element.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Wrong("true or false"),
    };

    public long AsInt64() => _element.ValueKind == JsonValueKind.Number && _element.TryGetInt64(out long v) ? v : throw Wrong("an integer");

    public ulong AsUInt64() => _element.ValueKind == JsonValueKind.Number && _element.TryGetUInt64(out ulong v) ? v : throw Wrong("a non-negative integer");

    public uint AsUInt32() => _element.ValueKind == JsonValueKind.Number && _element.TryGetUInt32(out uint v) ? v : throw Wrong("a non-negative 32-bit integer");

    public int AsInt32() => _element.ValueKind == JsonValueKind.Number && _element.TryGetInt32(out int v) ? v : throw Wrong("a 32-bit integer");

    public ushort AsUInt16() => _element.ValueKind == JsonValueKind.Number && _element.TryGetUInt16(out ushort v) ? v : throw Wrong("an integer from 0 to 65535");

    public string? String(string name) => Field(name)?.AsString();

    public bool? Bool(string name) => Field(name)?.AsBool();

    public long? Int64(string name) => Field(name)?.AsInt64();

    public ulong? UInt64(string name) => Field(name)?.AsUInt64();

    public uint? UInt32(string name) => Field(name)?.AsUInt32();

    public int? Int32(string name) => Field(name)?.AsInt32();

    public ushort? UInt16(string name) => Field(name)?.AsUInt16();

    /// <summary>An array of strings; empty when absent.</summary>
    public List<string> Strings(string name) => [.. Array(name).Select(n => n.AsString())];

    /// <summary>An object of strings (annotations, sysctl); empty when absent.</summary>
    public List<KeyValuePair<string, string>> StringMap(string name) =>
        Field(name) is { } map ? [.. map.Fields().Select(f => new KeyValuePair<string, string>(f.Name, f.Value.AsString()))] : [];

    /// <summary>A field that must be there.</summary>
    public ConfigNode Required(string name) => Field(name) ?? throw new OciConfigException($"{Child(name)}: missing (required)");

    /// <summary>An error about this value, naming it.</summary>
    public OciConfigException Error(string message) => new($"{(Path.Length == 0 ? "the document" : Path)}: {message}");

    /// <summary>The value as JSON text (kept for hooks and annotations).</summary>
    public string Raw => _element.GetRawText();

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Path} = {Shorten(_element.GetRawText())}");
}
