using System.Globalization;
using System.Net;

namespace Husk.FileSystem;

/// <summary>What a network rule of an mbox profile does with a matching connect().</summary>
internal enum MboxNetworkAction
{
    /// <summary>Let it through and log it (mbox's default for what no rule matches).</summary>
    Log,
    /// <summary>Let it through.</summary>
    Allow,
    /// <summary>Make it fail; the program goes on.</summary>
    Block,
    /// <summary>Stop the whole sandbox.</summary>
    Kill,
}

/// <summary>One <c>[network]</c> line: an IPv4 address (trailing zero octets match any) and an optional port.</summary>
internal sealed record MboxNetworkRule(MboxNetworkAction Action, IPAddress Address, int? Port)
{
    /// <summary>The rule's line in its profile (1-based), for messages.</summary>
    public int Line { get; init; }

    /// <summary>
    /// The rule as one of the egress allowlist: trailing zero octets widen it to a /24, /16, /8 or
    /// everything (mbox's "any IP with the same prefix"), and the action maps one to one.
    /// </summary>
    public EgressRule ToEgressRule()
    {
        byte[] b = Address.GetAddressBytes();
        int prefix = 32;
        while (prefix > 0 && b[prefix / 8 - 1] == 0)
            prefix -= 8;
        return new EgressRule
        {
            Kind = EgressRuleKind.Address,
            Address = Address,
            PrefixLength = prefix,
            LowPort = (ushort)(Port ?? 0),
            HighPort = (ushort)(Port ?? 0),
            Action = Action switch
            {
                MboxNetworkAction.Allow => EgressAction.Allow,
                MboxNetworkAction.Block => EgressAction.Refuse,
                MboxNetworkAction.Kill => EgressAction.Kill,
                _ => EgressAction.Log,
            },
            Text = $"{Action.ToString().ToLowerInvariant()}: {Address}{(Port is { } p ? $":{p}" : "")}",
        };
    }
}

/// <summary>A line of a profile that mbox would refuse.</summary>
internal sealed class MboxProfileException(string message) : Exception(message);

/// <summary>
/// A profile in mbox's format (tsgates/mbox, doc/NOTE.profile): an INI-like file with an
/// <c>[fs]</c> section of <c>hide:</c>, <c>allow:</c> and <c>direct:</c> lines (paths, <c>~</c>
/// for the home directory, each resolved with realpath, so it must exist) and a
/// <c>[network]</c> section of <c>kill:</c>, <c>block:</c>, <c>allow:</c> and <c>log:</c> lines
/// (IPv4[:port]). Lines may be indented; <c>#</c> starts a comment line. Any other section is
/// refused, as mbox refuses it.
/// Two readings differ from mbox's, both towards refusing rather than running with less isolation
/// than asked: lines before any section header are read as <c>[fs]</c> (profiles are often
/// written without the header, and mbox would skip those lines: hiding nothing), and an
/// unknown key in <c>[fs]</c> is refused (mbox skips it), naming the file, line and key.
/// </summary>
internal sealed record MboxProfile
{
    /// <summary>Paths that appear not to exist (and everything below them).</summary>
    public IReadOnlyList<string> Hide { get; init; } = [];
    /// <summary>Paths inside hidden ones shown after all ("allow precedes hide").</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];
    /// <summary>Paths written straight to the host, outside the sandbox layer.</summary>
    public IReadOnlyList<string> Direct { get; init; } = [];
    /// <summary>The network rules, in order.</summary>
    public IReadOnlyList<MboxNetworkRule> Network { get; init; } = [];

    /// <summary>Reads a profile file.</summary>
    public static MboxProfile Load(string file, string? home = null)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MboxProfileException($"open {file}: {ErrorText.Reason(e)}");
        }
        return Parse(lines, home ?? Environment.GetEnvironmentVariable("HOME"), source: file);
    }

    /// <summary>
    /// Parses the lines of a profile; <paramref name="resolve"/> is realpath (null: the path does
    /// not exist); <paramref name="source"/> names the file in messages.
    /// </summary>
    public static MboxProfile Parse(IEnumerable<string> lines, string? home, Func<string, string?>? resolve = null, string source = "profile")
    {
        resolve ??= Interop.Interop.Realpath;
        var hide = new List<string>();
        var allow = new List<string>();
        var direct = new List<string>();
        var network = new List<MboxNetworkRule>();
        string section = "fs"; // headerless lines are [fs] (see the type's summary)
        int number = 0;
        foreach (string raw in lines)
        {
            number++;
            string line = raw.TrimStart(' ', '\t', '\v', '\f', '\r').TrimEnd('\r', '\n');
            if (line.Length == 0 || line[0] == '#')
                continue;
            if (line[0] == '[')
            {
                section = line.StartsWith("[fs]", StringComparison.Ordinal) ? "fs"
                    : line.StartsWith("[network]", StringComparison.Ordinal) ? "network"
                    : throw new MboxProfileException($"Not supported yet: {line}");
                continue;
            }
            if (section == "fs")
            {
                var list = line.StartsWith("hide:", StringComparison.Ordinal) ? hide
                    : line.StartsWith("direct:", StringComparison.Ordinal) ? direct
                    : line.StartsWith("allow:", StringComparison.Ordinal) ? allow
                    : null;
                if (list is null)
                    throw new MboxProfileException($"{source}:{number}: {Key(line)}: unknown key in [fs] (husk knows hide:, allow: and direct:)");
                string value = Value(line);
                if (value.StartsWith('~'))
                    value = (home ?? "") + "/" + value[1..];
                string path = (value.Length > 0 ? resolve(value) : null)
                    ?? throw new MboxProfileException($"Incorrect path in profile file at line {number}");
                list.Add(path);
            }
            else if (section == "network")
            {
                var action = line.StartsWith("block:", StringComparison.Ordinal) ? MboxNetworkAction.Block
                    : line.StartsWith("kill:", StringComparison.Ordinal) ? MboxNetworkAction.Kill
                    : line.StartsWith("log:", StringComparison.Ordinal) ? MboxNetworkAction.Log
                    : line.StartsWith("allow:", StringComparison.Ordinal) ? MboxNetworkAction.Allow
                    : throw new MboxProfileException($"Unknown option: {line}");
                var rule = Address(action, Value(line)) ?? throw new MboxProfileException($"Error reading net address: {line}");
                network.Add(rule with { Line = number });
            }
        }
        return new MboxProfile { Hide = hide, Allow = allow, Direct = direct, Network = network };
    }

    /// <summary>What comes before the first ':' of a line, or the whole line without one.</summary>
    private static string Key(string line) => line.IndexOf(':') is var colon and >= 0 ? line[..colon] : line;

    /// <summary>What follows the first ':' and its spaces (a trailing comment after whitespace is dropped).</summary>
    private static string Value(string line)
    {
        string v = line[(line.IndexOf(':') + 1)..].TrimStart(' ');
        int comment = v.IndexOf(" #", StringComparison.Ordinal);
        if (comment < 0)
            comment = v.IndexOf("\t#", StringComparison.Ordinal);
        return (comment >= 0 ? v[..comment] : v).TrimEnd(' ', '\t');
    }

    private static MboxNetworkRule? Address(MboxNetworkAction action, string value)
    {
        int? port = null;
        int colon = value.IndexOf(':');
        if (colon >= 0)
        {
            // atoi: digits up to the first other character, 0 when none.
            string digits = new(value[(colon + 1)..].TakeWhile(char.IsAsciiDigit).ToArray());
            port = digits.Length == 0 ? 0 : int.Parse(digits, CultureInfo.InvariantCulture) & 0xFFFF;
            value = value[..colon];
        }
        if (value.Count(c => c == '.') != 3 || !IPAddress.TryParse(value, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            return null;
        return new MboxNetworkRule(action, ip, port == 0 ? null : port);
    }
}
