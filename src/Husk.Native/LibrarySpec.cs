using System.Collections.Immutable;
using System.Text.Json;
using Husk.Cli.Run;

namespace Husk.Native;

/// <summary>What one of the payload's standard streams is connected to, as a library spec says.</summary>
internal enum StreamChoice
{
    /// <summary>The caller's own descriptor of that number.</summary>
    Inherit,

    /// <summary>/dev/null.</summary>
    Null,

    /// <summary>A pipe whose other end the caller takes with husk_stdio.</summary>
    Pipe,

    /// <summary>A descriptor of the caller (<see cref="StreamSpec.Fd"/>).</summary>
    Descriptor,
}

/// <summary>One standard stream of a library spec.</summary>
internal readonly record struct StreamSpec(StreamChoice Choice, int Fd = -1);

/// <summary>A library spec that cannot run: every problem, each a sentence a user can act on.</summary>
internal sealed class LibrarySpecException(IReadOnlyList<string> problems) : Exception(string.Join("\n", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// A spec as the C ABI takes it: JSON holding the command, husk run's options (read by husk
/// run's own table, so the library has the same options, validation and defaults) and the
/// standard streams. docs/schema/husk-spec.schema.json publishes the format.
/// </summary>
internal sealed record LibrarySpec
{
    /// <summary>husk run's options as parsed (the layer's fate, the root).</summary>
    public required RunArguments Arguments { get; init; }

    /// <summary>The sandbox the options describe, before the streams are applied.</summary>
    public required SandboxSpec Sandbox { get; init; }

    /// <summary>Standard input, output and error.</summary>
    public required ImmutableArray<StreamSpec> Streams { get; init; }

    /// <summary>The system calls a policy callback decides.</summary>
    public ImmutableArray<string> Syscalls { get; init; } = [];

    /// <summary>"trace_policy": the policy is decided from ptrace stops (also returns and signals).</summary>
    public bool TracePolicy { get; init; }

    /// <summary>The keys a spec object may hold.</summary>
    internal static readonly string[] Keys = ["command", "options", "stdin", "stdout", "stderr", "syscalls", "trace_policy"];

    /// <summary>
    /// husk run's options the library does not take, and why: the library returns the report
    /// itself, and terminals, status descriptors and names belong to the command line.
    /// </summary>
    internal static readonly IReadOnlyDictionary<string, string> Refused = new Dictionary<string, string>
    {
        ["--report"] = "the library returns the report itself",
        ["--report-fd"] = "the library returns the report itself",
        ["--meta"] = "the library returns the report itself",
        ["--tty"] = "a terminal of the sandbox's own is husk run's",
        ["--info-fd"] = "status descriptors are husk run's",
        ["--json-status-fd"] = "status descriptors are husk run's",
        ["--userns-block-fd"] = "status descriptors are husk run's",
        ["--name"] = "the library does not register sandboxes for husk ps",
    };

    /// <summary>
    /// Reads a pool's options: NULL or a JSON object with "network_per_run" (true, the default: each
    /// run gets a network namespace of its own; false: the runs share the template's).
    /// </summary>
    /// <exception cref="LibrarySpecException">What is wrong with them.</exception>
    public static SandboxPoolOptions ParsePoolOptions(string? json)
    {
        var options = new SandboxPoolOptions();
        if (json is null)
            return options;
        using (var doc = ReadJson(json, "the pool's options object"))
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new LibrarySpecException(["the pool's options must be a JSON object, such as {\"network_per_run\": false}"]);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                options = property.Name switch
                {
                    "network_per_run" when property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False =>
                        options with { NetworkPerRun = property.Value.GetBoolean() },
                    "network_per_run" => throw new LibrarySpecException(["the pool's \"network_per_run\" must be true or false"]),
                    _ => throw new LibrarySpecException([$"unknown pool option \"{property.Name}\": the one there is is \"network_per_run\""]),
                };
            }
        }
        return options;
    }

    /// <summary>Reads a spec; <paramref name="id"/> names the layer's root when the options name none.</summary>
    /// <exception cref="LibrarySpecException">Every problem with the spec.</exception>
    public static LibrarySpec Parse(string json, string id)
    {
        using var doc = ReadJson(json, "the spec");
        return Parse(doc.RootElement, id);
    }

    /// <summary>Parses <paramref name="json"/>; invalid JSON is one problem naming <paramref name="what"/> and where.</summary>
    private static JsonDocument ReadJson(string json, string what)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new LibrarySpecException([$"{what} is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})"]);
        }
    }

    private static LibrarySpec Parse(JsonElement root, string id)
    {
        var problems = new List<string>();
        if (root.ValueKind != JsonValueKind.Object)
            throw new LibrarySpecException(["the spec must be a JSON object with a command"]);
        string[]? command = null;
        var options = new List<string>();
        var streams = new StreamSpec[] { new(StreamChoice.Inherit), new(StreamChoice.Inherit), new(StreamChoice.Inherit) };
        var syscalls = ImmutableArray<string>.Empty;
        bool tracePolicy = false;
        foreach (var property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "command":
                    command = Strings(property.Value, "command", problems);
                    if (command is { Length: 0 })
                        problems.Add("command is empty: name the program to run");
                    break;
                case "options":
                    ReadOptions(property.Value, options, problems);
                    break;
                case "stdin":
                    streams[0] = Stream(property.Value, "stdin", problems);
                    break;
                case "stdout":
                    streams[1] = Stream(property.Value, "stdout", problems);
                    break;
                case "stderr":
                    streams[2] = Stream(property.Value, "stderr", problems);
                    break;
                case "syscalls":
                    syscalls = [.. Strings(property.Value, "syscalls", problems) ?? []];
                    if (syscalls is ["*"])
                        syscalls = [.. Policy.SyscallTable.Native.Names.Order(StringComparer.Ordinal)];
                    foreach (string name in syscalls.Where(n => !Policy.SyscallTable.IsKnown(n)))
                        problems.Add($"syscalls: unknown system call: {name} (or [\"*\"] for every one)");
                    break;
                case "trace_policy":
                    if (property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                        tracePolicy = property.Value.GetBoolean();
                    else
                        problems.Add("trace_policy must be true or false");
                    break;
                default:
                    problems.Add($"unknown key {property.Name}: a spec holds {string.Join(", ", Keys)}");
                    break;
            }
        }
        if (command is null && !problems.Any(p => p.StartsWith("command", StringComparison.Ordinal)))
            problems.Add("no command given: add \"command\": [\"program\", \"arg\", ...]");
        if (problems.Count > 0)
            throw new LibrarySpecException(problems);

        RunArguments arguments;
        SandboxSpec spec;
        try
        {
            arguments = RunCommand.Parse([.. options, "--", .. command!], out _);
            // A library's sandbox never takes the caller's terminal: a session of its own, unless asked otherwise.
            arguments.NewSession ??= true;
            spec = arguments.ToSpec(id);
        }
        catch (UsageException e)
        {
            throw new LibrarySpecException([Unprefixed(e.Message)]);
        }
        catch (SandboxSpecException e)
        {
            throw new LibrarySpecException([.. e.Problems]);
        }
        if (spec.Validate() is { Length: > 0 } invalid)
            throw new LibrarySpecException([.. invalid]);
        return new LibrarySpec { Arguments = arguments, Sandbox = spec, Streams = [.. streams], Syscalls = syscalls, TracePolicy = tracePolicy };
    }

    /// <summary>Library messages carry no program name: husk run's "husk run: " goes.</summary>
    internal static string Unprefixed(string message)
    {
        foreach (string prefix in new[] { "husk run: ", "husk: " })
        {
            if (message.StartsWith(prefix, StringComparison.Ordinal))
                return message[prefix.Length..];
        }
        return message;
    }

    private static string[]? Strings(JsonElement value, string key, List<string> problems)
    {
        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            problems.Add($"{key} must be an array of strings");
            return null;
        }
        return [.. value.EnumerateArray().Select(e => e.GetString()!)];
    }

    /// <summary>
    /// "options": an array of arrays, each an option of husk run and its values
    /// (<c>["--bind", "/src", "/dst"]</c>), in the order they apply.
    /// </summary>
    private static void ReadOptions(JsonElement value, List<string> into, List<string> problems)
    {
        if (value.ValueKind != JsonValueKind.Array)
        {
            problems.Add("options must be an array of arrays such as [\"--memory\", \"512M\"]");
            return;
        }
        int index = 0;
        foreach (var item in value.EnumerateArray())
        {
            string where = $"options[{index++}]";
            var words = Strings(item, where, problems);
            if (words is null)
                continue;
            if (words.Length == 0)
            {
                problems.Add($"{where} is empty: name an option of husk run");
                continue;
            }
            string name = words[0];
            int eq = name.IndexOf('=');
            string bare = name.StartsWith("--", StringComparison.Ordinal) && eq > 2 ? name[..eq] : name;
            var option = RunOptions.Find(bare);
            if (option is null)
            {
                problems.Add($"{where}: unknown option {name} (see husk run --help)");
                continue;
            }
            if (Refused.TryGetValue(bare, out string? why))
            {
                problems.Add($"{where}: {bare} is not for the library: {why}");
                continue;
            }
            int given = words.Length - 1 + (bare.Length < name.Length ? 1 : 0);
            if (given != option.Args.Length)
            {
                problems.Add(option.Args.Length == 0
                    ? $"{where}: {bare} takes no value"
                    : $"{where}: {bare} takes {string.Join(' ', option.Args)}");
                continue;
            }
            into.AddRange(words);
        }
    }

    private static StreamSpec Stream(JsonElement value, string key, List<string> problems)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int fd) && fd >= 0)
            return new StreamSpec(StreamChoice.Descriptor, fd);
        if (value.ValueKind == JsonValueKind.String)
        {
            switch (value.GetString())
            {
                case "inherit":
                    return new StreamSpec(StreamChoice.Inherit);
                case "null":
                    return new StreamSpec(StreamChoice.Null);
                case "pipe":
                    return new StreamSpec(StreamChoice.Pipe);
            }
        }
        problems.Add($"{key} must be \"inherit\", \"null\", \"pipe\" or a descriptor number");
        return new StreamSpec(StreamChoice.Inherit);
    }
}
