namespace Husk.Cli.Personalities.Mkosi;

/// <summary>
/// mkosi-sandbox's ordering model: operations do not run in command-line order. Duplicate binds
/// and binds already covered by a bind of a parent (same flags, same relative position) are
/// dropped; then everything is sorted stably by destination, component by component, so parents
/// come before children; binds follow the other operations on the same destination (so a bind
/// wins), and binds whose source is in the sandbox (<c>+</c>) come after everything else.
/// </summary>
internal static class FsOrdering
{
    public static IReadOnlyList<FsOperation> Optimize(IEnumerable<FsOperation> operations)
    {
        var rest = new List<FsOperation>();
        var binds = new List<BindOperation>();
        var seen = new HashSet<(string, string, bool, bool, bool)>();
        foreach (var op in operations)
        {
            if (op is BindOperation b)
            {
                if (seen.Add(b.Identity))
                    binds.Add(b); // the first of equal binds stays, at its first position
            }
            else
            {
                rest.Add(op);
            }
        }

        var kept = binds.Where(m => !binds.Any(n => !ReferenceEquals(m, n) && Covers(n, m))).ToList();

        // OrderBy is stable, like Python's sorted.
        return [.. rest.Concat(kept).OrderBy(op => op, Comparer<FsOperation>.Create(Compare))];
    }

    /// <summary>n already brings m along: m lies under n at the same place on both sides.</summary>
    private static bool Covers(BindOperation n, BindOperation m) =>
        m.ReadOnly == n.ReadOnly
        && m.Required == n.Required
        && m.Relative == n.Relative
        && m.NoFollow == n.NoFollow
        && PythonPath.IsRelativeTo(m.Source, n.Source)
        && PythonPath.IsRelativeTo(m.Destination, n.Destination)
        && PythonPath.Relative(m.Source, n.Source) == PythonPath.Relative(m.Destination, n.Destination);

    private static int Compare(FsOperation a, FsOperation b)
    {
        int c = a.Relative.CompareTo(b.Relative);
        return c != 0 ? c : PythonPath.CompareComponents(PythonPath.Split(a.Destination), PythonPath.Split(b.Destination));
    }
}
