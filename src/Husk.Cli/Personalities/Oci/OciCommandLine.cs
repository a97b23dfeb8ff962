namespace Husk.Cli.Personalities.Oci;

/// <summary>A command line husk-runtime cannot read: runc's usage errors exit 1 as well.</summary>
internal sealed class OciUsageException(string message) : Exception(message);

/// <summary>One option: its names ("bundle", "b") and whether it takes a value (and may be repeated).</summary>
internal sealed record OciOption(string[] Names, bool TakesValue, bool Repeatable = false);

/// <summary>
/// runc's option syntax (urfave/cli): <c>--name value</c>, <c>--name=value</c>, <c>-n value</c>, a
/// single dash for long names too, booleans as <c>--flag</c> or <c>--flag=true|false</c>, and
/// <c>--</c> ending the options. Options may follow the positional arguments (conmon and
/// containerd put them before, people after), except where a command's own arguments begin:
/// <c>exec ID CMD...</c> keeps everything after CMD for the command.
/// </summary>
internal sealed class OciCommandLine
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    /// <summary>The positional arguments.</summary>
    public List<string> Arguments { get; } = [];

    /// <summary>The last value of an option (by its first name), or null.</summary>
    public string? Value(string name) => _values.TryGetValue(name, out var v) && v.Count > 0 ? v[^1] : null;

    /// <summary>Every value of a repeatable option.</summary>
    public IReadOnlyList<string> Values(string name) => _values.TryGetValue(name, out var v) ? v : [];

    /// <summary>A boolean option: given without a value, or with true.</summary>
    public bool Flag(string name) => Value(name) is { } v && v != "false";

    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>Parses <paramref name="args"/>; with <paramref name="stopAfter"/> positional arguments, the rest is taken as they are.</summary>
    public static OciCommandLine Parse(IReadOnlyList<string> args, IReadOnlyList<OciOption> options, int stopAfter = int.MaxValue, string command = "")
    {
        var line = new OciCommandLine();
        bool optionsEnd = false;
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (optionsEnd || line.Arguments.Count >= stopAfter || a.Length < 2 || a[0] != '-')
            {
                line.Arguments.Add(a);
                continue;
            }
            if (a == "--")
            {
                optionsEnd = true;
                continue;
            }
            string body = a.StartsWith("--", StringComparison.Ordinal) ? a[2..] : a[1..];
            string? value = null;
            int eq = body.IndexOf('=');
            if (eq >= 0)
            {
                value = body[(eq + 1)..];
                body = body[..eq];
            }
            var option = options.FirstOrDefault(o => o.Names.Contains(body))
                ?? throw new OciUsageException($"{(command.Length > 0 ? command + ": " : "")}flag provided but not defined: -{body}");
            if (option.TakesValue && value is null)
            {
                if (i + 1 >= args.Count)
                    throw new OciUsageException($"{(command.Length > 0 ? command + ": " : "")}flag needs an argument: -{body}");
                value = args[++i];
            }
            else if (!option.TakesValue)
            {
                value ??= "true";
                if (value is not ("true" or "false"))
                    throw new OciUsageException($"invalid boolean value \"{value}\" for -{body}");
            }
            string key = option.Names[0];
            if (!line._values.TryGetValue(key, out var list))
                line._values[key] = list = [];
            if (!option.Repeatable)
                list.Clear();
            list.Add(value!);
        }
        return line;
    }
}
