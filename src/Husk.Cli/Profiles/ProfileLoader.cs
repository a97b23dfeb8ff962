using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Husk.Cli.Run;
using Tomlyn.Model;

namespace Husk.Cli.Profiles;

/// <summary>
/// Profiles: TOML files whose [run] table holds husk run options by name (without "--"), whose
/// [seccomp] table is a system call policy, and which may include other profiles first.
/// <code>
/// description = "..."
/// include = ["default"]            # names or paths (relative to this file)
/// [run]
/// unshare-net = true               # a flag: true
/// tmpfs = ["/data", "/cache"]      # one argument: a value or an array (the option repeats)
/// ro-bind = [["/src", "/src"]]     # several arguments: an array, or an array of arrays
/// [seccomp]                        # see SeccompFile
/// </code>
/// Values may use ${NAME} for an environment variable, ${NAME:-DEFAULT} with a default (${PWD}: the current directory).
/// </summary>
internal static partial class ProfileLoader
{
    private static readonly string[] Keys = ["description", "include", "run", "seccomp"];

    /// <summary>Built-in profiles: name, then TOML text (embedded from Profiles/BuiltIn).</summary>
    public static IReadOnlyList<string> BuiltInNames { get; } = ["default", "strict", "build", "judge"];

    public static string? BuiltInText(string name)
    {
        if (!BuiltInNames.Contains(name))
            return null;
        using var stream = typeof(ProfileLoader).Assembly.GetManifestResourceStream($"profiles/{name}.toml");
        return stream is null ? null : new StreamReader(stream, Encoding.UTF8).ReadToEnd();
    }

    /// <summary>Where profiles of the user and the system live, searched in this order after the built-in ones.</summary>
    public static IEnumerable<string> Directories()
    {
        string? config = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        string? home = Environment.GetEnvironmentVariable("HOME");
        if (config is { Length: > 0 })
            yield return Path.Combine(config, "husk", "profiles");
        else if (home is { Length: > 0 })
            yield return Path.Combine(home, ".config", "husk", "profiles");
        yield return "/etc/husk/profiles";
    }

    /// <summary>The text and source name of a profile named NAME or at a path.</summary>
    public static (string Text, string Source, string Directory) Find(string nameOrPath, string relativeTo)
    {
        bool isPath = nameOrPath.Contains('/') || nameOrPath.EndsWith(".toml", StringComparison.Ordinal);
        if (!isPath && BuiltInText(nameOrPath) is { } builtIn)
            return (builtIn, $"built-in {nameOrPath}", relativeTo);
        var candidates = isPath
            ? [Path.GetFullPath(nameOrPath, relativeTo)]
            : Directories().Select(d => Path.Combine(d, nameOrPath + ".toml")).ToList();
        foreach (string file in candidates)
        {
            try
            {
                return (File.ReadAllText(file), file, Path.GetDirectoryName(file)!);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException || (!isPath && e is UnauthorizedAccessException))
            {
                // Not there (or in a directory this user cannot search): try the next place.
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"husk: profile {file}: {ErrorText.Detail(e, file)}");
            }
        }
        throw new UsageException($"husk: no profile {nameOrPath} (built-in: {string.Join(", ", BuiltInNames)}; others in {string.Join(" or ", Directories())})");
    }

    /// <summary>Applies a profile to the options read so far: its includes first, then its [run] table in order, then its [seccomp].</summary>
    public static void Apply(RunState state, string nameOrPath) => Apply(state, nameOrPath, Environment.CurrentDirectory);

    private static void Apply(RunState state, string nameOrPath, string relativeTo)
    {
        var (text, source, directory) = Find(nameOrPath, relativeTo);
        if (state.ProfileStack.Contains(source))
            throw new UsageException($"husk: profile {source} includes itself ({string.Join(" -> ", state.ProfileStack.Append(source))})");
        state.ProfileStack.Add(source);
        try
        {
            var doc = TomlDocument.Parse(text, source);
            doc.OnlyKeys(doc.Root, Keys);
            doc.String(doc.Root, "description");
            foreach (string include in doc.Strings(doc.Root, "include"))
                Apply(state, include, directory);
            if (doc.Root.TryGetValue("run", out object? run))
                ApplyRun(state, doc, run as TomlTable ?? throw doc.Error(doc.Root, "run", "expected a table of husk run options"));
            if (doc.Root.TryGetValue("seccomp", out object? seccomp))
            {
                state.SeccompProfile = SeccompFile.FromTable(doc, seccomp as TomlTable ?? throw doc.Error(doc.Root, "seccomp", "expected a table"), directory);
            }
        }
        finally
        {
            state.ProfileStack.RemoveAt(state.ProfileStack.Count - 1);
        }
    }

    private static void ApplyRun(RunState state, TomlDocument doc, TomlTable run)
    {
        foreach (var (key, value) in run)
        {
            var option = RunOptions.Find("--" + key);
            if (option is null || key.StartsWith('-'))
                throw doc.Error(run, key, "not a husk run option (see husk run --help)");
            foreach (string[] args in Invocations(doc, run, key, value, option.Args.Length))
            {
                try
                {
                    option.Apply(state, args);
                }
                catch (UsageException e)
                {
                    string what = e.Message.StartsWith("husk run: ", StringComparison.Ordinal) ? e.Message["husk run: ".Length..] : e.Message;
                    throw doc.Error(run, key, what);
                }
            }
        }
    }

    /// <summary>The argument lists a value stands for: a flag is true, one argument a value or array, several an array or array of arrays.</summary>
    private static IEnumerable<string[]> Invocations(TomlDocument doc, TomlTable run, string key, object? value, int arity)
    {
        string Scalar(object? v) => v switch
        {
            string s => Expand(doc, run, key, s),
            long n => n.ToString(CultureInfo.InvariantCulture),
            bool b => b ? "true" : "false",
            _ => throw doc.Error(run, key, "expected a string or an integer"),
        };
        if (arity == 0)
        {
            if (value is not true)
                throw doc.Error(run, key, "a flag takes the value true (leave it out not to set it)");
            return [[]];
        }
        if (arity == 1)
            return value is TomlArray many ? many.Select(v => new[] { Scalar(v) }).ToList() : [[Scalar(value)]];
        if (value is TomlArray arr && arr.Count == arity && arr.All(v => v is not TomlArray))
            return [[.. arr.Select(Scalar)]];
        if (value is TomlArray outer && outer.All(v => v is TomlArray inner && inner.Count == arity))
            return outer.Cast<TomlArray>().Select(inner => inner.Select(Scalar).ToArray()).ToList();
        throw doc.Error(run, key, $"expected [{string.Join(", ", RunOptions.Find("--" + key)!.Args)}] or an array of those");
    }

    private static string Expand(TomlDocument doc, TomlTable run, string key, string s) => Variable().Replace(s, m =>
    {
        string name = m.Groups[1].Value;
        if (name == "PWD")
            return Environment.CurrentDirectory;
        return Environment.GetEnvironmentVariable(name) is { } v && (v.Length > 0 || !m.Groups[2].Success) ? v
            : m.Groups[2].Success ? m.Groups[3].Value
            : throw doc.Error(run, key, $"${{{name}}} is not set (write ${{{name}:-DEFAULT}} for a default)");
    });

    // ${NAME}, or ${NAME:-DEFAULT} (DEFAULT when NAME is unset or empty, as in sh).
    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")]
    private static partial Regex Variable();

    /// <summary>The profiles husk can find: (name, description, where).</summary>
    public static List<(string Name, string Description, string Source)> List()
    {
        var list = new List<(string, string, string)>();
        foreach (string name in BuiltInNames)
            list.Add((name, Describe(BuiltInText(name)!, $"built-in {name}"), "built-in"));
        foreach (string dir in Directories())
        {
            if (!Directory.Exists(dir))
                continue;
            foreach (string file in Directory.EnumerateFiles(dir, "*.toml").Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileNameWithoutExtension(file);
                if (list.Any(e => e.Item1 == name))
                    continue;
                string description;
                try
                {
                    description = Describe(File.ReadAllText(file), file);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or UsageException)
                {
                    description = $"(unreadable: {ErrorText.Of(e)})";
                }
                list.Add((name, description, file));
            }
        }
        return list;
    }

    private static string Describe(string text, string source) =>
        TomlDocument.Parse(text, source) is var doc && doc.Root.TryGetValue("description", out object? d) && d is string s ? s : "";
}
