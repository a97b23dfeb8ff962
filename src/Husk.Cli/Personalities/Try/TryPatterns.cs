using System.Text;
using System.Text.RegularExpressions;

namespace Husk.Cli.Personalities.Try;

/// <summary>
/// try's -E and -I patterns: a pattern file used with <c>grep -f</c>, so each pattern is a POSIX
/// basic regular expression (GNU's extensions included) matched anywhere in a line, an empty one
/// matching everything. try matches the lines of <c>find SANDBOX/upperdir/</c>, so a path is
/// matched as SANDBOX/upperdir/PATH here too.
/// </summary>
internal sealed class TryPatterns
{
    private readonly List<Regex> _regexes;

    public TryPatterns(IEnumerable<string> patterns) =>
        _regexes = [.. patterns.Select(p => new Regex(Translate(p), RegexOptions.CultureInvariant | RegexOptions.Singleline))];

    public bool IsEmpty => _regexes.Count == 0;

    public bool Matches(string line) => _regexes.Any(r => r.IsMatch(line));

    /// <summary>Reads a pattern file (one pattern a line); none when it does not exist.</summary>
    public static List<string> ReadFile(string path)
    {
        if (!File.Exists(path))
            return [];
        string text = File.ReadAllText(path);
        if (text.Length == 0)
            return [];
        if (text.EndsWith('\n'))
            text = text[..^1];
        return [.. text.Split('\n')];
    }

    /// <summary>A basic regular expression as a .NET one.</summary>
    internal static string Translate(string bre)
    {
        var sb = new StringBuilder();
        bool atStart = true; // where '*' is literal and '^' an anchor
        for (int i = 0; i < bre.Length; i++)
        {
            char c = bre[i];
            bool start = atStart;
            atStart = false;
            switch (c)
            {
                case '\\' when i + 1 < bre.Length:
                    char n = bre[++i];
                    switch (n)
                    {
                        case '(':
                            sb.Append('(');
                            atStart = true;
                            break;
                        case '|':
                            sb.Append('|');
                            atStart = true;
                            break;
                        case ')' or '{' or '}' or '+' or '?':
                            sb.Append(n);
                            break;
                        case '<':
                            sb.Append(@"\b(?=\w)");
                            break;
                        case '>':
                            sb.Append(@"\b(?<=\w)");
                            break;
                        case 'w' or 'W' or 's' or 'S' or 'b' or 'B':
                            sb.Append('\\').Append(n);
                            break;
                        case >= '1' and <= '9':
                            sb.Append('\\').Append(n);
                            break;
                        default:
                            sb.Append(Regex.Escape(n.ToString()));
                            break;
                    }
                    break;
                case '^' when start:
                    sb.Append('^');
                    atStart = true;
                    break;
                case '$' when i == bre.Length - 1 || bre.AsSpan(i + 1).StartsWith("\\)") || bre.AsSpan(i + 1).StartsWith("\\|"):
                    sb.Append('$');
                    break;
                case '*' when start:
                    sb.Append(@"\*");
                    break;
                case '*' or '.':
                    sb.Append(c);
                    break;
                case '[':
                    i = Bracket(bre, i, sb);
                    break;
                default:
                    sb.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>A bracket expression from <paramref name="open"/>; returns the index of its ']'.</summary>
    private static int Bracket(string s, int open, StringBuilder sb)
    {
        int i = open + 1;
        var inner = new StringBuilder();
        if (i < s.Length && s[i] == '^')
        {
            inner.Append('^');
            i++;
        }
        if (i < s.Length && s[i] == ']')
        {
            inner.Append(@"\]");
            i++;
        }
        for (; i < s.Length; i++)
        {
            char c = s[i];
            if (c == ']')
            {
                sb.Append('[').Append(inner).Append(']');
                return i;
            }
            if (c == '[' && i + 1 < s.Length && s[i + 1] == ':')
            {
                int end = s.IndexOf(":]", i + 2, StringComparison.Ordinal);
                if (end > 0)
                {
                    inner.Append(s[(i + 2)..end] switch
                    {
                        "alpha" => "a-zA-Z",
                        "digit" => "0-9",
                        "alnum" => "a-zA-Z0-9",
                        "upper" => "A-Z",
                        "lower" => "a-z",
                        "space" => @"\s",
                        "blank" => @" \t",
                        "xdigit" => "0-9A-Fa-f",
                        "punct" => @"!-/:-@\[-`{-~",
                        "word" => @"\w",
                        _ => "",
                    });
                    i = end + 1;
                    continue;
                }
            }
            inner.Append(c is '\\' or '[' ? "\\" + c : c.ToString());
        }
        // No closing bracket: grep would refuse the pattern; match the text literally instead.
        sb.Append(Regex.Escape(s[open..]));
        return s.Length - 1;
    }
}
