using System.Text;
using System.Text.RegularExpressions;

namespace Husk.Cli;

/// <summary>
/// Renders the personalities' man pages, written in pandoc's Markdown (docs/man/*.1.md), as roff
/// for man(1), so <c>husk install</c> installs them beside husk(1) and bwrap(1) without pandoc.
/// It knows what those pages use: the "% TITLE(1) Source | Manual" line, "# SECTION" headings,
/// paragraphs, definition lists (a term line, then ":   text" with 4-space continuations),
/// numbered lists, "| " line blocks, indented code blocks, and **bold**, *italic*, `code` and
/// backslash escapes inline.
/// </summary>
internal static partial class ManPageMarkdown
{
    public static string ToRoff(string markdown)
    {
        var roff = new StringBuilder();
        foreach (var block in Blocks(markdown.Replace("\r\n", "\n")))
        {
            string first = block[0];
            if (first.StartsWith("% ", StringComparison.Ordinal) && Title().Match(first) is { Success: true } t)
            {
                roff.Append(".TH ").Append(t.Groups["name"].Value).Append(' ').Append(t.Groups["section"].Value)
                    .Append(" \"\" \"").Append(t.Groups["source"].Value.Trim()).Append("\" \"").Append(t.Groups["manual"].Value.Trim()).Append("\"\n");
            }
            else if (first.StartsWith("# ", StringComparison.Ordinal))
            {
                roff.Append(".SH \"").Append(first[2..].Trim()).Append("\"\n");
            }
            else if (block.All(l => l.StartsWith("| ", StringComparison.Ordinal) || l == "|"))
            {
                roff.Append(".PP\n");
                foreach (string line in block)
                    roff.Append(Inline(line.Length > 2 ? line[2..] : "")).Append("\n.br\n");
            }
            else if (block.All(l => l.StartsWith("    ", StringComparison.Ordinal)))
            {
                roff.Append(".IP\n.nf\n");
                foreach (string line in block)
                    roff.Append(Line(Escape(line[4..]))).Append('\n');
                roff.Append(".fi\n");
            }
            else if (Numbered().IsMatch(first))
            {
                foreach (var item in Items(block))
                {
                    var m = Numbered().Match(item);
                    roff.Append(".IP ").Append(m.Groups["n"].Value).Append(". 4\n").Append(Inline(item[m.Length..])).Append('\n');
                }
            }
            else if (block.Count > 1 && block[1].StartsWith(":   ", StringComparison.Ordinal))
            {
                roff.Append(".TP\n").Append(Inline(first)).Append('\n');
                roff.Append(Inline(string.Join(' ', block.Skip(1).Select((l, i) => (i == 0 ? l[4..] : l).Trim())))).Append('\n');
            }
            else
            {
                roff.Append(".PP\n").Append(Inline(string.Join(' ', block.Select(l => l.Trim())))).Append('\n');
            }
        }
        return roff.ToString();
    }

    /// <summary>Runs of non-blank lines.</summary>
    private static IEnumerable<List<string>> Blocks(string text)
    {
        var block = new List<string>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Trim().Length == 0)
            {
                if (block.Count > 0)
                    yield return block;
                block = [];
            }
            else
            {
                block.Add(line.TrimEnd());
            }
        }
        if (block.Count > 0)
            yield return block;
    }

    /// <summary>The items of a numbered list, each with its continuation lines joined.</summary>
    private static IEnumerable<string> Items(List<string> block)
    {
        var item = new StringBuilder();
        foreach (string line in block)
        {
            if (Numbered().IsMatch(line) && item.Length > 0)
            {
                yield return item.ToString();
                item.Clear();
            }
            item.Append(item.Length > 0 ? " " : "").Append(item.Length > 0 ? line.Trim() : line);
        }
        if (item.Length > 0)
            yield return item.ToString();
    }

    /// <summary>Markdown emphasis and escapes to roff fonts and escapes.</summary>
    private static string Inline(string text)
    {
        var sb = new StringBuilder();
        bool bold = false, italic = false, code = false;
        void Font() => sb.Append((bold, italic) switch { (true, true) => "\\f(BI", (true, false) => "\\fB", (false, true) => "\\fI", _ => "\\fR" });
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (code && c != '`')
            {
                sb.Append(Escape(c.ToString()));
            }
            else if (c == '\\' && i + 1 < text.Length)
            {
                sb.Append(Escape(text[++i].ToString()));
            }
            else if (c == '`')
            {
                code = !code;
            }
            else if (c == '*' && i + 1 < text.Length && text[i + 1] == '*')
            {
                bold = !bold;
                i++;
                Font();
            }
            else if (c == '*')
            {
                italic = !italic;
                Font();
            }
            else
            {
                sb.Append(Escape(c.ToString()));
            }
        }
        if (bold || italic)
            sb.Append("\\fR");
        return Line(sb.ToString());
    }

    /// <summary>Text that roff must not read as requests or escapes: backslashes doubled, hyphens as minus signs.</summary>
    private static string Escape(string text) => text.Replace("\\", "\\e").Replace("-", "\\-");

    /// <summary>A line that would start with a control character is protected by a zero-width \&amp;.</summary>
    private static string Line(string text) => text.StartsWith('.') || text.StartsWith('\'') ? "\\&" + text : text;

    // "% MBOX(1) Husk | User Commands"
    [GeneratedRegex(@"^% (?<name>[^(]+)\((?<section>[^)]+)\)\s*(?<source>[^|]*)\|?(?<manual>.*)$")]
    private static partial Regex Title();

    [GeneratedRegex(@"^(?<n>\d+)\. ")]
    private static partial Regex Numbered();
}
