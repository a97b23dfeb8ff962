using System.Globalization;
using System.Net;

namespace Husk.FileSystem;

/// <summary>What a network rule of an mbox profile does with a matching connect().</summary>
public enum MboxNetworkAction
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
public sealed record MboxNetworkRule(MboxNetworkAction Action, IPAddress Address, int? Port);

/// <summary>A line of a profile that mbox would refuse.</summary>
public sealed class MboxProfileException(string message) : Exception(message);

/// <summary>
/// A profile in mbox's format (tsgates/mbox, doc/NOTE.profile): an INI-like file with an
/// <c>[fs]</c> section of <c>hide:</c>, <c>allow:</c> and <c>direct:</c> lines (paths, <c>~</c>
/// for the home directory, each resolved with realpath, so it must exist) and a
/// <c>[network]</c> section of <c>kill:</c>, <c>block:</c>, <c>allow:</c> and <c>log:</c> lines
/// (IPv4[:port]). Lines may be indented; <c>#</c> starts a comment line. Any other section is
/// refused, as mbox refuses it.
/// </summary>
public sealed record MboxProfile
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
        return Parse(lines, home ?? Environment.GetEnvironmentVariable("HOME"));
    }

    /// <summary>Parses the lines of a profile; <paramref name="resolve"/> is realpath (null: the path does not exist).</summary>
    public static MboxProfile Parse(IEnumerable<string> lines, string? home, Func<string, string?>? resolve = null)
    {
        resolve ??= Interop.Interop.Realpath;
        var hide = new List<string>();
        var allow = new List<string>();
        var direct = new List<string>();
        var network = new List<MboxNetworkRule>();
        string section = "";
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
                    continue; // mbox ignores other lines of [fs]
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
                network.Add(Address(action, Value(line)) ?? throw new MboxProfileException($"Error reading net address: {line}"));
            }
        }
        return new MboxProfile { Hide = hide, Allow = allow, Direct = direct, Network = network };
    }

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
