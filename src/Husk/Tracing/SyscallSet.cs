using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Husk.Policy;

namespace Husk.Tracing;

/// <summary>
/// The system calls a trace interposes on, written as strace's <c>-e trace=</c> expression: names
/// and classes separated by commas (<c>openat,%network</c>), <c>%file</c>, <c>%network</c> (or
/// <c>%net</c>), <c>%process</c>, <c>%signal</c>, <c>%memory</c> and strace's other classes,
/// <c>all</c>, <c>none</c>, <c>/REGEX</c>, <c>?name</c> (no error when unknown), and a leading
/// <c>!</c> for every call but those. Only the calls in the set stop; the rest cost the filter's
/// check alone.
/// </summary>
public sealed record SyscallSet
{
    private SyscallSet(string expression, ImmutableArray<string> names, bool all)
    {
        Expression = expression;
        Names = names;
        IsAll = all;
    }

    /// <summary>The expression as written ("all" for <see cref="All"/>).</summary>
    public string Expression { get; }

    /// <summary>The calls in the set that this architecture has, sorted.</summary>
    public ImmutableArray<string> Names { get; }

    /// <summary>Every system call, including ones newer than Husk's tables.</summary>
    public bool IsAll { get; }

    /// <summary>Every system call.</summary>
    public static SyscallSet All { get; } = new("all", [.. SyscallTable.Native.Names.Order(StringComparer.Ordinal)], true);

    /// <summary>Whether the set holds <paramref name="name"/>.</summary>
    public bool Contains(string name) => IsAll ? SyscallTable.Native.Number(name) is not null || name.StartsWith("syscall_", StringComparison.Ordinal) : Names.BinarySearch(name, StringComparer.Ordinal) >= 0;

    /// <summary>Reads an expression; throws <see cref="FormatException"/> naming the first unknown call or class.</summary>
    public static SyscallSet Parse(string expression) =>
        TryParse(expression, out var set, out string? problem) ? set : throw new FormatException(problem);

    /// <summary>
    /// Reads an expression; on failure <paramref name="problem"/> names what was wrong
    /// ("unknown system call: opne", "unknown class: %files").
    /// </summary>
    public static bool TryParse(string expression, out SyscallSet set, out string? problem)
    {
        set = All;
        problem = null;
        string text = expression.Trim();
        bool negate = false;
        while (text.StartsWith('!'))
        {
            negate = !negate;
            text = text[1..].TrimStart();
        }
        if (text.Length == 0)
        {
            problem = "no system call named: give names or classes such as openat,%network";
            return false;
        }
        var table = SyscallTable.Native;
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        bool all = false;
        foreach (string raw in text.Split(','))
        {
            string item = raw.Trim();
            bool optional = item.StartsWith('?');
            if (optional)
                item = item[1..];
            if (item.Length == 0)
            {
                problem = $"an empty name in '{expression}'";
                return false;
            }
            if (item is "all")
            {
                all = true;
            }
            else if (item is "none")
            {
                // nothing
            }
            else if (item.StartsWith('%'))
            {
                if (SyscallClasses.Members(item[1..]) is not { } members)
                {
                    if (optional)
                        continue;
                    problem = $"unknown class: {item} (classes: {string.Join(", ", SyscallClasses.Names.Order(StringComparer.Ordinal).Select(c => "%" + c))})";
                    return false;
                }
                chosen.UnionWith(members.Where(m => table.Number(m) is not null));
            }
            else if (item.StartsWith('/'))
            {
                Regex regex;
                try
                {
                    regex = new Regex(item[1..], RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
                }
                catch (ArgumentException)
                {
                    problem = $"not a regular expression: {item}";
                    return false;
                }
                var matches = table.Names.Where(n => regex.IsMatch(n)).ToList();
                if (matches.Count == 0 && !optional)
                {
                    problem = $"no system call matches {item}";
                    return false;
                }
                chosen.UnionWith(matches);
            }
            else if (table.Number(item) is not null)
            {
                chosen.Add(item);
            }
            else if (!SyscallTable.IsKnown(item) && !optional)
            {
                problem = $"unknown system call: {item}";
                return false;
            }
        }
        if (all)
        {
            set = negate ? new SyscallSet(expression, [], false) : new SyscallSet(expression, All.Names, true);
            return true;
        }
        IEnumerable<string> names = negate ? All.Names.Where(n => !chosen.Contains(n)) : chosen;
        set = new SyscallSet(expression, [.. names.Order(StringComparer.Ordinal)], false);
        return true;
    }

    /// <summary>Equal when the same calls are in it.</summary>
    public bool Equals(SyscallSet? other) => other is not null && IsAll == other.IsAll && Names.SequenceEqual(other.Names);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(IsAll, Names.Length, Names.IsEmpty ? "" : Names[0]);

    /// <summary>The expression.</summary>
    public override string ToString() => Expression;
}
