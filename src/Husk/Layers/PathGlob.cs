using Husk.FileSystem;
using System.Text;
using System.Text.RegularExpressions;

namespace Husk.Layers;

/// <summary>
/// Glob patterns for --include and --exclude: <c>*</c> and <c>?</c> within one path component,
/// <c>**</c> across components. A pattern without a slash matches a name anywhere (as in
/// .gitignore); one starting with a slash matches from the root; others are relative to the
/// working directory. A pattern naming a directory also matches everything below it.
/// </summary>
public sealed class PathGlob
{
    private readonly Regex _regex;

    /// <summary>The pattern as given.</summary>
    public string Pattern { get; }

    /// <summary>Compiles <paramref name="pattern"/>; relative ones are anchored at <paramref name="workingDirectory"/>.</summary>
    public PathGlob(string pattern, string workingDirectory = "/")
    {
        Pattern = pattern;
        string p = pattern.TrimEnd('/');
        string prefix;
        if (!p.Contains('/'))
        {
            prefix = "^(?:.*/)?";
        }
        else
        {
            if (!p.StartsWith('/'))
                p = workingDirectory.TrimEnd('/') + "/" + p;
            prefix = "^";
        }
        var sb = new StringBuilder(prefix);
        for (int i = 0; i < p.Length; i++)
        {
            char c = p[i];
            if (c == '*' && i + 1 < p.Length && p[i + 1] == '*')
            {
                sb.Append(".*");
                i++;
                if (i + 1 < p.Length && p[i + 1] == '/')
                    i++; // "**/" also matches no directory at all
            }
            else if (c == '*')
            {
                sb.Append("[^/]*");
            }
            else if (c == '?')
            {
                sb.Append("[^/]");
            }
            else
            {
                sb.Append(Regex.Escape(c.ToString()));
            }
        }
        sb.Append("(?:/.*)?$");
        _regex = new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.Singleline);
    }

    /// <summary>True when <paramref name="path"/> (absolute) matches.</summary>
    public bool Matches(string path) => _regex.IsMatch(path);

    /// <summary>The changes that the include patterns (all, when none) and no exclude pattern match.</summary>
    public static List<Change> Filter(IEnumerable<Change> changes, IReadOnlyList<PathGlob> include, IReadOnlyList<PathGlob> exclude) =>
        [.. changes.Where(c => (include.Count == 0 || include.Any(g => g.Matches(c.Path))) && !exclude.Any(g => g.Matches(c.Path)))];
}
