namespace Husk.Network;

/// <summary>A rule file or rule that cannot be read: the message names the file, the line and the rule.</summary>
internal sealed class EgressRuleException(string message) : Exception(message);

/// <summary>
/// A file of egress rules (<c>--allow-hosts FILE</c>): one rule a line, blank lines and <c>#</c>
/// comments (whole lines, or after whitespace) skipped. mini-tapbox's <c>-F</c> files (names,
/// IPv4 addresses, IPv4 CIDR blocks, one a line) are such files.
/// </summary>
internal static class EgressRuleFile
{
    /// <summary>Reads <paramref name="path"/>; the first bad line throws, naming file, line and rule.</summary>
    public static IReadOnlyList<EgressRule> Load(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EgressRuleException($"{path}: {ErrorText.Reason(e)}");
        }
        return Parse(lines, path);
    }

    /// <summary>Parses the lines of a rule file; <paramref name="source"/> names it in messages.</summary>
    public static IReadOnlyList<EgressRule> Parse(IEnumerable<string> lines, string source)
    {
        var rules = new List<EgressRule>();
        int number = 0;
        foreach (string raw in lines)
        {
            number++;
            string line = StripComment(raw).Trim();
            if (line.Length == 0)
                continue;
            if (!EgressRule.TryParse(line, out var rule, out string? error))
                throw new EgressRuleException($"{source}:{number}: {line}: {error}");
            rules.Add(rule!);
        }
        return rules;
    }

    private static string StripComment(string line)
    {
        string t = line.TrimStart();
        if (t.StartsWith('#'))
            return "";
        for (int i = 1; i < line.Length; i++)
        {
            if (line[i] == '#' && char.IsWhiteSpace(line[i - 1]))
                return line[..i];
        }
        return line;
    }
}
