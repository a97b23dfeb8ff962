using System.Globalization;
using Husk.Cli.Run;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Husk.Cli.Profiles;

/// <summary>A parsed TOML file that can say where each key is, so every error names file, line and key.</summary>
internal sealed class TomlDocument
{
    private readonly TomlMetadataStore _store;

    private TomlDocument(string source, TomlTable root, TomlMetadataStore store)
    {
        Source = source;
        Root = root;
        _store = store;
    }

    /// <summary>The file name, or "built-in NAME".</summary>
    public string Source { get; }

    public TomlTable Root { get; }

    public static TomlDocument Parse(string text, string source)
    {
        var store = new TomlMetadataStore();
        var context = new TomlContext(new TomlSerializerOptions { SourceName = source, MetadataStore = store });
        try
        {
            return new TomlDocument(source, TomlSerializer.Deserialize(text, context.TomlTable) ?? new TomlTable(), store);
        }
        catch (TomlException e)
        {
            // Tomlyn's message already reads "FILE(LINE,COLUMN) : error : what".
            throw new UsageException($"husk: profile: {e.Message.Split('\n')[0].Trim()}");
        }
    }

    /// <summary>1-based line of <paramref name="key"/> in <paramref name="table"/>, or 0 when unknown.</summary>
    public int LineOf(TomlTable table, string key) =>
        _store.TryGetProperties(table, out var meta) && meta!.TryGetProperty(key, out var property) && property?.Span is { } span
            ? span.Start.Line + 1
            : 0;

    /// <summary>An error at <paramref name="key"/> of <paramref name="table"/>: "husk: profile FILE, line N, key KEY: what".</summary>
    public UsageException Error(TomlTable table, string key, string what)
    {
        int line = LineOf(table, key);
        string where = line > 0 ? $", line {line.ToString(CultureInfo.InvariantCulture)}" : "";
        return new UsageException($"husk: profile {Source}{where}, key '{key}': {what}");
    }

    /// <summary>Fails on any key of <paramref name="table"/> not in <paramref name="known"/>.</summary>
    public void OnlyKeys(TomlTable table, params string[] known)
    {
        foreach (var (key, _) in table)
        {
            if (!known.Contains(key))
                throw Error(table, key, $"unknown key (expected {string.Join(", ", known)})");
        }
    }

    public string? String(TomlTable table, string key) => table.TryGetValue(key, out object? v)
        ? v as string ?? throw Error(table, key, "expected a string")
        : null;

    /// <summary>A string or an array of strings.</summary>
    public List<string> Strings(TomlTable table, string key)
    {
        if (!table.TryGetValue(key, out object? v))
            return [];
        return v switch
        {
            string s => [s],
            TomlArray a when a.All(x => x is string) => [.. a.Cast<string>()],
            _ => throw Error(table, key, "expected a string or an array of strings"),
        };
    }
}
