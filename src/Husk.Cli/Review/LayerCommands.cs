using System.Text;
using Husk.Cli.Run;
using Husk.FileSystem;

namespace Husk.Cli.Review;

/// <summary>
/// What happens to a sandbox's layer: at the end of a run (review, commit, discard or keep), and
/// later through <c>husk changes|diff|commit|discard DIR</c>.
/// </summary>
internal static class LayerCommands
{
    internal static string Letter(Change c) => c.Kind switch
    {
        ChangeKind.Added => "A",
        ChangeKind.Modified => "M",
        ChangeKind.Deleted => "D",
        ChangeKind.TypeChanged => "T",
        ChangeKind.MetadataOnly => "m",
        ChangeKind.Replaced => "R",
        _ => "?",
    };

    internal static string Line(Change c) =>
        $"{Letter(c)} {Escape(c.Path)}{(c.Node == NodeKind.Directory && c.Kind != ChangeKind.Deleted ? "/" : "")}{(c.Node == NodeKind.Symlink ? " -> " + Escape(c.LinkTarget ?? "") : "")}{(c.Conflict ? "  (conflict: " + c.ConflictReason + ")" : "")}";

    /// <summary>Names with newlines or control characters are shown escaped, one change per line.</summary>
    internal static string Escape(string path)
    {
        if (!path.Any(char.IsControl))
            return path;
        var sb = new StringBuilder();
        foreach (char ch in path)
            sb.Append(char.IsControl(ch) ? $"\\x{(int)ch:x2}" : ch.ToString());
        return sb.ToString();
    }

    internal static (List<PathGlob> Include, List<PathGlob> Exclude) Globs(IEnumerable<string> include, IEnumerable<string> exclude)
    {
        string cwd = Directory.GetCurrentDirectory();
        return ([.. include.Select(g => new PathGlob(g, cwd))], [.. exclude.Select(g => new PathGlob(g, cwd))]);
    }

    /// <summary>The end of a run in the overlay mode.</summary>
    public static void AfterRun(RunState state)
    {
        var root = state.Root!;
        var (inc, exc) = Globs(state.Include, state.Exclude);
        var all = root.Changes();
        var changes = PathGlob.Filter(all, inc, exc);
        if (all.Count == 0)
        {
            if (state.RootIsNew && state.AfterRun != "keep")
                Delete(root);
            else if (state.AfterRun == "keep")
                Console.Error.WriteLine($"husk: no changes; the layer is kept in {root.Path}");
            return;
        }
        switch (state.AfterRun)
        {
            case "discard":
                if (Delete(root))
                    Console.Error.WriteLine($"husk: {all.Count} change(s) discarded");
                return;
            case "commit":
                var report = Committer.Apply(changes);
                PrintReport(report);
                if (report.Complete && changes.Count == all.Count)
                    Delete(root);
                else
                    Console.Error.WriteLine($"husk: the layer is kept in {root.Path}: husk commit {root.Path} --force applies what was left");
                return;
            case "keep":
                Console.Error.WriteLine($"husk: {all.Count} change(s) kept in {root.Path}: review with husk changes {root.Path}");
                return;
        }
        if (Interop.Interop.IsATty(0) == 1 && Interop.Interop.IsATty(2) == 1)
        {
            ChangeReview.Run(state, root, changes);
            return;
        }
        Console.Error.WriteLine($"husk: {all.Count} change(s) kept in {root.Path}: husk changes|diff|commit|discard {root.Path}");
    }

    internal static void PrintReport(CommitReport report)
    {
        foreach (var c in report.Applied)
            Console.Error.WriteLine($"committed {Line(c)}");
        foreach (string note in report.Notes)
            Console.Error.WriteLine($"note: {Escape(note)}");
        foreach (var c in report.Conflicts)
            Console.Error.WriteLine($"husk: left alone (conflict): {Escape(c.Path)}: {c.ConflictReason}");
        foreach (var (c, why) in report.Failed)
            Console.Error.WriteLine($"husk: not committed: {Escape(c.Path)}: {why}");
    }

    /// <summary>Deletes a root; false, with one line saying what stayed and why, when part of it could not be.</summary>
    internal static bool Delete(SandboxRoot root)
    {
        try
        {
            root.Delete();
            return true;
        }
        catch (SyscallException e)
        {
            Console.Error.WriteLine($"husk: cannot delete the layer {root.Path}: {e.Message}");
            return false;
        }
    }

    private static SandboxRoot OpenRoot(string dir) =>
        SandboxRoot.Open(dir) ?? throw new UsageException($"husk: {dir} is not a sandbox root (it has no upperdir/)");

    /// <summary><c>husk changes DIR</c>: one line per change.</summary>
    public static int Changes(string dir, string[] include, string[] exclude)
    {
        try
        {
            var root = OpenRoot(dir);
            var (inc, exc) = Globs(include, exclude);
            foreach (var c in PathGlob.Filter(root.Changes(), inc, exc))
                Console.Out.WriteLine(Line(c));
            return 0;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    /// <summary><c>husk diff DIR [PATH...]</c>.</summary>
    public static int Diff(string dir, string[] paths)
    {
        try
        {
            var root = OpenRoot(dir);
            bool color = Interop.Interop.IsATty(1) == 1;
            foreach (var c in Select(root.Changes(), paths))
                Console.Out.Write(UnifiedDiff.Of(c, "/", color));
            return 0;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    /// <summary><c>husk commit DIR [PATH...]</c>: commits without asking; non-zero when anything was left.</summary>
    public static int Commit(string dir, string[] paths, bool force, bool recursive, string[] include, string[] exclude)
    {
        try
        {
            var root = OpenRoot(dir);
            var (inc, exc) = Globs(include, exclude);
            var all = root.Changes();
            // As git with a pathspec that matches nothing: say which, and commit nothing.
            var unmatched = paths.Where(p => Select(all, [p]).Count == 0).ToList();
            if (unmatched.Count > 0)
            {
                foreach (string p in unmatched)
                    Console.Error.WriteLine($"husk commit: {Escape(p)}: no changes at or under it in {root.Path}");
                return 1;
            }
            var changes = PathGlob.Filter(Select(all, paths), inc, exc);
            if (changes.Count == 0)
            {
                Console.Error.WriteLine($"husk commit: nothing to commit in {root.Path}");
                return 0;
            }
            var report = Committer.Apply(changes, "/", force, recursive);
            PrintReport(report);
            if (!report.Complete)
            {
                var left = report.Conflicts.Select(c => c.Path).Concat(report.Failed.Select(f => f.Change.Path));
                Console.Error.WriteLine($"husk commit: {report.Conflicts.Count + report.Failed.Count} change(s) not committed: {string.Join(", ", left.Select(Escape))}");
                return 1;
            }
            return 0;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    /// <summary><c>husk discard DIR</c>: removes the root.</summary>
    public static int Discard(string dir)
    {
        try
        {
            return Delete(OpenRoot(dir)) ? 0 : 1;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    /// <summary>Changes at or under the given paths (all when none are given).</summary>
    internal static List<Change> Select(List<Change> changes, string[] paths)
    {
        if (paths.Length == 0)
            return changes;
        var full = paths.Select(p => Path.GetFullPath(p).TrimEnd('/')).ToList();
        return [.. changes.Where(c => full.Any(p => HostMounts.IsUnder(c.Path, p.Length == 0 ? "/" : p)))];
    }
}
