using System.Globalization;

namespace Husk.Cli.Personalities.Microbox;

/// <summary>A refused command line: microbox prints its help, then "parsing error: MESSAGE", and exits 1.</summary>
/// <param name="message">What was wrong, in microbox's (or urfave/cli's) words.</param>
/// <param name="incorrectUsage">A flag urfave/cli itself refused: it says "Incorrect Usage: ..." and shows the help first.</param>
internal sealed class MicroboxUsage(string message, bool incorrectUsage = false) : Exception(message)
{
    public bool IncorrectUsage { get; } = incorrectUsage;
}

/// <summary>How the sandbox's root is made (--fs).</summary>
internal enum MicroboxFs
{
    Tmpfs,
    Host,
    Directory,
}

/// <summary>
/// microbox's command line at 88930be (urfave/cli v3.4.1): flags with one or two dashes, "=VALUE"
/// or the next word, repeatable slice flags whose values also split at commas, flags and
/// arguments in any order up to "--". Then its own checks, in its order (options/options.go).
/// </summary>
internal sealed class MicroboxArguments
{
    public MicroboxFs Fs = MicroboxFs.Tmpfs;
    public string? FsPath;
    public string Net = "none";
    public readonly List<(string Host, string Dest)> MountRo = [];
    public readonly List<(string Host, string Dest)> MountRw = [];
    public bool ReadOnly;
    public readonly List<(string Name, string Value)> Env = [];
    public readonly List<string> AllowSyscalls = [];
    public readonly List<string> DenySyscalls = [];
    public readonly List<string> Dns = [];
    public string Hostname = "";
    public bool HostnameGiven;
    public double Cpus = 1.0;
    public long Memory = 1L << 30;
    public long Storage = 512L << 20;
    public Logging.LogLevel LogLevel = Logging.LogLevel.Error;
    public bool LogJson;
    public readonly List<int> CapAdd = [];
    public readonly List<int> CapDrop = [];
    public bool HostUserNamespace;
    public bool Help;
    public bool Version;
    public List<string> Command = [];

    private enum Kind
    {
        String,
        Slice,
        Bool,
        Float,
    }

    private static readonly Dictionary<string, Kind> Flags = new(StringComparer.Ordinal)
    {
        ["fs"] = Kind.String, ["net"] = Kind.String, ["mount-ro"] = Kind.Slice, ["mount-rw"] = Kind.Slice,
        ["readonly"] = Kind.Bool, ["env"] = Kind.Slice, ["allow-syscall"] = Kind.Slice, ["deny-syscall"] = Kind.Slice,
        ["dns"] = Kind.Slice, ["hostname"] = Kind.String, ["cpus"] = Kind.Float, ["memory"] = Kind.String,
        ["storage"] = Kind.String, ["log-level"] = Kind.String, ["log-format"] = Kind.String, ["cap-add"] = Kind.Slice,
        ["cap-drop"] = Kind.Slice, ["userns"] = Kind.String, ["help"] = Kind.Bool, ["h"] = Kind.Bool,
        ["version"] = Kind.Bool, ["v"] = Kind.Bool,
    };

    public static MicroboxArguments Parse(IReadOnlyList<string> args)
    {
        var raw = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var positional = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            string first = args[i].Trim();
            if (first.Length == 0)
                break;
            if (first == "--")
            {
                positional.AddRange(args.Skip(i + 1));
                break;
            }
            if (first[0] != '-' || first.Length == 1)
            {
                positional.Add(first);
                if (first.Length == 1)
                    break;
                continue;
            }
            int minuses = first[1] == '-' ? 2 : 1;
            if (minuses == 1 && !char.IsLetter(first[1]))
            {
                positional.AddRange(args.Skip(i));
                break;
            }
            string name = first[minuses..], value = "";
            bool hasValue = false;
            if (name.IndexOf('=') is int eq and >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
                hasValue = value.Length > 0;
            }
            if (!Flags.TryGetValue(name, out var kind))
                throw new MicroboxUsage($"flag provided but not defined: -{name}", incorrectUsage: true);
            if (kind == Kind.Bool)
            {
                if (!hasValue)
                    value = "true";
                if (!bool.TryParse(value, out _) && value is not ("1" or "0" or "t" or "f" or "T" or "F" or "TRUE" or "FALSE"))
                    throw new MicroboxUsage($"invalid value \"{value}\" for flag -{name}: parse error", incorrectUsage: true);
            }
            else if (!hasValue)
            {
                if (i + 1 >= args.Count)
                    throw new MicroboxUsage($"flag needs an argument: {first}", incorrectUsage: true);
                value = args[++i];
            }
            if (kind == Kind.Float && !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                throw new MicroboxUsage($"invalid value \"{value}\" for flag -{name}: strconv.ParseFloat: parsing \"{value}\": invalid syntax", incorrectUsage: true);
            string key = name switch { "h" => "help", "v" => "version", _ => name };
            if (!raw.TryGetValue(key, out var list))
                raw[key] = list = [];
            if (kind == Kind.Slice)
                list.AddRange(value.Split(','));
            else
                list.Add(value);
        }
        var a = new MicroboxArguments();
        string? Last(string key) => raw.TryGetValue(key, out var l) ? l[^1] : null;
        IEnumerable<string> All(string key) => raw.TryGetValue(key, out var l) ? l : [];
        static bool True(string? v) => v is not null && v is "1" or "t" or "T" || (v is not null && bool.TryParse(v, out bool b) && b);
        a.Help = True(Last("help"));
        a.Version = True(Last("version"));
        if (a.Help || a.Version)
            return a;
        a.Build(Last, All, True);
        a.Command = positional;
        return a;
    }

    /// <summary>microbox's buildOptionsFromCLI: each value checked in its order, with its words.</summary>
    private void Build(Func<string, string?> last, Func<string, IEnumerable<string>> all, Func<string?, bool> isTrue)
    {
        if (last("hostname") is { } hostname)
        {
            Hostname = hostname;
            HostnameGiven = true;
        }
        if (last("cpus") is { } cpus)
            Cpus = double.Parse(cpus, NumberStyles.Float, CultureInfo.InvariantCulture);
        AllowSyscalls.AddRange(all("allow-syscall"));
        DenySyscalls.AddRange(all("deny-syscall"));
        Dns.AddRange(all("dns"));
        ReadOnly = isTrue(last("readonly"));
        Memory = Size(last("memory") ?? "1GB", "memory");
        Storage = Size(last("storage") ?? "512MB", "storage");
        HostUserNamespace = (last("userns") ?? "isolated") switch
        {
            "isolated" => false,
            "host" => true,
            var v => throw new MicroboxUsage($"unknown user namespace mode: \"{v}\""),
        };
        LogLevel = (last("log-level") ?? "error") switch
        {
            "info" => Logging.LogLevel.Info,
            "warn" => Logging.LogLevel.Warn,
            "error" => Logging.LogLevel.Error,
            "debug" => Logging.LogLevel.Debug, // Husk's: every setup step
            var v => throw new MicroboxUsage($"unknown log level: \"{v}\""),
        };
        LogJson = (last("log-format") ?? "text") switch
        {
            "text" => false,
            "json" => true,
            var v => throw new MicroboxUsage($"unknown log format: \"{v}\""),
        };
        string fs = last("fs") ?? "tmpfs";
        switch (fs)
        {
            case "host":
                Fs = MicroboxFs.Host;
                break;
            case "tmpfs":
                Fs = MicroboxFs.Tmpfs;
                break;
            default:
                // os.Lstat, then IsDir: a symlink, even to a directory, is not a directory.
                var entry = new FileInfo(fs);
                bool link = entry.LinkTarget is not null;
                if (!link && !entry.Exists && !Directory.Exists(fs))
                    throw new MicroboxUsage($"bad --fs \"{fs}\": lstat {fs}: no such file or directory");
                if (link || !Directory.Exists(fs))
                    throw new MicroboxUsage($"bad --fs \"{fs}\": not a directory");
                Fs = MicroboxFs.Directory;
                FsPath = Path.GetFullPath(fs);
                break;
        }
        Net = last("net") ?? "none";
        if (Net is not ("none" or "host" or "bridge"))
            throw new MicroboxUsage($"bad --net \"{Net}\" (none|host|bridge)");
        foreach (string m in all("mount-ro"))
            MountRo.Add(Mount(m));
        foreach (string m in all("mount-rw"))
            MountRw.Add(Mount(m));
        foreach (string e in all("env"))
        {
            int eq = e.IndexOf('=');
            if (eq <= 0)
                throw new MicroboxUsage($"bad --env \"{e}\" (KEY=VALUE)");
            Env.Add((e[..eq], e[(eq + 1)..]));
        }
        CapAdd.AddRange(Capabilities(all("cap-add"), "--cap-add"));
        CapDrop.AddRange(Capabilities(all("cap-drop"), "--cap-drop"));
        if (Fs == MicroboxFs.Host && (MountRo.Count > 0 || MountRw.Count > 0))
            throw new MicroboxUsage("--fs host conflicts with --mount-* (requires private mount ns)");
    }

    /// <summary>go-bytesize's sizes as microbox reads them: powers of 1024 (0: no limit).</summary>
    private static long Size(string value, string flag)
    {
        string v = value.Trim();
        if (v.TrimEnd('B', 'b') is "0" or "")
            return v.Length > 0 && v[0] == '0' ? 0 : throw new MicroboxUsage($"bad --{flag} \"{value}\": invalid size");
        return Husk.Resources.LimitUnits.TryParseSize(v, out long n) ? n : throw new MicroboxUsage($"bad --{flag} \"{value}\": invalid size");
    }

    private static (string, string) Mount(string spec)
    {
        string[] parts = spec.Split(':', 2);
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
            throw new MicroboxUsage($"bad mount \"{spec}\" (HOST:DEST)");
        if (!parts[1].StartsWith('/'))
            throw new MicroboxUsage($"DEST must be absolute: \"{spec}\"");
        return (parts[0], parts[1]);
    }

    /// <summary>Names as moby/sys/capability knows them: any case, with or without CAP_.</summary>
    private static IEnumerable<int> Capabilities(IEnumerable<string> names, string flag)
    {
        foreach (string name in names)
        {
            string bare = name.Trim().ToLowerInvariant();
            if (bare.StartsWith("cap_", StringComparison.Ordinal))
                bare = bare[4..];
            if (!Husk.Policy.CapabilityNames.TryFind(bare, out int cap))
                throw new MicroboxUsage($"bad {flag}: unknown capability: \"{bare}\"");
            yield return cap;
        }
    }
}
