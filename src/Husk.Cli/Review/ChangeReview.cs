using System.Text;
using Husk.Cli.Run;
using Husk.FileSystem;
using Microsoft.Win32.SafeHandles;

namespace Husk.Cli.Review;

/// <summary>
/// The review at the end of an interactive run: a summary of what the sandbox changed, then
/// [C]ommit all, [c]ommit one by one, [i]gnore (discard), [d]iff, [l]ist as a tree, [s]hell in the
/// sandbox's view, or [q]uit keeping the layer for later.
/// </summary>
internal static class ChangeReview
{
    private static readonly StreamReader Input = new(new FileStream(new SafeFileHandle(0, ownsHandle: false), FileAccess.Read, 1), Encoding.UTF8);

    private static string? Ask(string prompt)
    {
        Console.Error.Write(prompt);
        Console.Error.Flush();
        return Input.ReadLine()?.Trim();
    }

    public static void Run(RunState state, SandboxRoot root, List<Change> changes)
    {
        bool color = Interop.Interop.IsATty(2) == 1;
        while (true)
        {
            Summary(root, changes, color);
            string? answer = Ask("[C]ommit all, [c]ommit one by one, [i]gnore, [d]iff, [l]ist, [s]hell, [q]uit (keep)? ");
            switch (answer)
            {
                case null:
                case "q":
                case "Q":
                    Console.Error.WriteLine($"husk: the layer is kept in {root.Path}: husk changes|diff|commit|discard {root.Path}");
                    return;
                case "C":
                    if (Commit(root, changes, changes))
                        return;
                    break;
                case "c":
                    var chosen = Choose(changes, color);
                    if (chosen is null)
                        break;
                    if (Commit(root, changes, chosen))
                        return;
                    break;
                case "i":
                case "I":
                    if (Ask($"Discard all {changes.Count} change(s)? [y/N] ") is "y" or "Y")
                    {
                        if (LayerCommands.Delete(root))
                            Console.Error.WriteLine("husk: changes discarded");
                        return;
                    }
                    break;
                case "d":
                case "D":
                    foreach (var c in changes)
                        Console.Error.Write(UnifiedDiff.Of(c, "/", color));
                    break;
                case "l":
                case "L":
                    Console.Error.Write(Tree(changes));
                    break;
                case "s":
                case "S":
                    Shell(state, root);
                    var (inc, exc) = LayerCommands.Globs(state.Include, state.Exclude);
                    changes = PathGlob.Filter(root.Changes(), inc, exc);
                    if (changes.Count == 0)
                    {
                        Console.Error.WriteLine("husk: no changes left");
                        return;
                    }
                    break;
                default:
                    Console.Error.WriteLine("husk: answer one of C c i d l s q");
                    break;
            }
        }
    }

    private static void Summary(SandboxRoot root, List<Change> changes, bool color)
    {
        int conflicts = changes.Count(c => c.Conflict);
        Console.Error.WriteLine();
        Console.Error.WriteLine($"husk: {changes.Count} change(s) in {root.Path}{(conflicts > 0 ? $", {conflicts} in conflict with the host" : "")}:");
        foreach (var c in changes.Take(40))
            Console.Error.WriteLine("  " + Paint(LayerCommands.Line(c), c, color));
        if (changes.Count > 40)
            Console.Error.WriteLine($"  ... and {changes.Count - 40} more ([l]ist shows them all)");
    }

    private static string Paint(string text, Change c, bool color)
    {
        if (!color)
            return text;
        string code = c.Conflict ? "33" : c.Kind switch
        {
            ChangeKind.Added => "32",
            ChangeKind.Deleted => "31",
            _ => "36",
        };
        return $"\u001b[{code}m{text}\u001b[0m";
    }

    /// <summary>Asks about each change; null when the user quit.</summary>
    private static List<Change>? Choose(List<Change> changes, bool color)
    {
        var chosen = new List<Change>();
        for (int i = 0; i < changes.Count; i++)
        {
            var c = changes[i];
            string? a = Ask($"{Paint(LayerCommands.Line(c), c, color)}  commit? [y/n/d(iff)/a(ll the rest)/q] ");
            switch (a)
            {
                case "y":
                case "Y":
                    chosen.Add(c);
                    break;
                case "n":
                case "N":
                case "":
                    break;
                case "d":
                case "D":
                    Console.Error.Write(UnifiedDiff.Of(c, "/", color));
                    i--;
                    break;
                case "a":
                case "A":
                    chosen.AddRange(changes.Skip(i));
                    return chosen;
                default:
                    return null;
            }
        }
        return chosen;
    }

    /// <summary>Commits <paramref name="chosen"/>; true when the review is over.</summary>
    private static bool Commit(SandboxRoot root, List<Change> all, List<Change> chosen)
    {
        bool recursive = false;
        int bigDeletes = chosen.Count(c => c.Kind is ChangeKind.Deleted or ChangeKind.Replaced or ChangeKind.TypeChanged && c.HostNode == NodeKind.Directory);
        if (bigDeletes > 0)
            recursive = Ask($"{bigDeletes} directory deletion(s) may remove whole trees on the host. Allow? [y/N] ") is "y" or "Y";
        bool force = false;
        if (chosen.Any(c => c.Conflict))
            force = Ask($"{chosen.Count(c => c.Conflict)} change(s) conflict with later changes on the host. Overwrite them? [y/N] ") is "y" or "Y";
        var report = Committer.Apply(chosen, "/", force, recursive);
        LayerCommands.PrintReport(report);
        if (report.Complete && chosen.Count == all.Count)
        {
            LayerCommands.Delete(root);
            return true;
        }
        Console.Error.WriteLine($"husk: {all.Count - report.Applied.Count} change(s) not committed; the layer stays in {root.Path}");
        return true;
    }

    internal static string Tree(IEnumerable<Change> changes)
    {
        var sb = new StringBuilder();
        string[] previous = [];
        foreach (var c in changes.OrderBy(c => c.Path, StringComparer.Ordinal))
        {
            string[] parts = c.Path.Trim('/').Split('/');
            int common = 0;
            while (common < previous.Length && common < parts.Length - 1 && previous[common] == parts[common])
                common++;
            for (int i = common; i < parts.Length - 1; i++)
                sb.Append(new string(' ', 2 * i)).Append(LayerCommands.Escape(parts[i])).Append("/\n");
            sb.Append(new string(' ', 2 * (parts.Length - 1))).Append(LayerCommands.Escape(parts[^1]))
                .Append("  [").Append(c.Label).Append(c.Conflict ? ", conflict" : "").Append("]\n");
            previous = parts;
        }
        return sb.ToString();
    }

    /// <summary>A shell in the sandbox's merged view (the same layer), then back to the review.</summary>
    private static void Shell(RunState state, SandboxRoot root)
    {
        string shell = Environment.GetEnvironmentVariable("SHELL") is { Length: > 0 } sh ? sh : "/bin/sh";
        string[] args = ["--root", root.Path, "--keep", "--no-new-session", "--", shell];
        var inner = RunCommand.Parse(args, out _);
        inner.Namespaces = state.Namespaces;
        inner.Uid = state.Uid;
        inner.Gid = state.Gid;
        inner.Hostname = state.Hostname;
        Console.Error.WriteLine($"husk: a shell in the sandbox's view of the files ({root.Path}); exit to return to the review");
        var spec = inner.BuildSpec();
        RunCommand.Run(spec, inner, reviewLayer: false);
    }
}
