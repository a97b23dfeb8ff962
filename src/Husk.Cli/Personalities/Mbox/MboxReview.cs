using System.Text;
using Husk.FileSystem;
using Husk.Layers;

namespace Husk.Cli.Personalities.Mbox;

/// <summary>
/// mbox's interactive session at the end of a run: the sandbox root and its changes, then one
/// change at a time with mbox's one-key prompt, [C]ommit all, [c]ommit, [i]gnore, [d]iff, [l]ist
/// tree, [q]uit, plus the paper's [s]hell (a shell in the sandbox's view). Unlike mbox it offers
/// every kind of change (new, modified and deleted files, directories, symlinks) and commits
/// through Husk's committer.
/// </summary>
internal sealed class MboxReview(string root, Func<List<Change>> scan, Func<int> shell, Func<List<Change>, CommitReport> commit)
{
    private const string Menu = "[C]ommit all, [c]ommit, [i]gnore, [d]iff, [l]ist tree, [s]hell, [q]uit";

    /// <summary>N (new), M (modified in any way) or D (deleted), as the mbox paper shows changes.</summary>
    internal static string Letter(Change c) => c.Kind switch
    {
        ChangeKind.Added => "N",
        ChangeKind.Deleted => "D",
        _ => "M",
    };

    /// <summary>The "Sandbox Root:" listing.</summary>
    internal static string Listing(string root, IEnumerable<Change> changes)
    {
        var sb = new StringBuilder($"Sandbox Root:\n > {root}\n");
        foreach (var c in changes)
            sb.Append($" > {Letter(c)}:{Review.LayerCommands.Escape(c.Path)}{(c.Node == NodeKind.Directory && c.Kind != ChangeKind.Deleted ? "/" : "")}\n");
        return sb.ToString();
    }

    /// <summary>Additions and modifications first, deletions last (deepest first), as a commit applies them.</summary>
    internal static List<Change> Ordered(IEnumerable<Change> changes)
    {
        var list = changes.ToList();
        return [.. list.Where(c => c.Kind != ChangeKind.Deleted).OrderBy(c => c.Path, StringComparer.Ordinal),
                .. list.Where(c => c.Kind == ChangeKind.Deleted).OrderByDescending(c => c.Path, StringComparer.Ordinal)];
    }

    private readonly HashSet<string> _committed = new(StringComparer.Ordinal);
    private List<Change> _changes = [];

    /// <summary>After <see cref="Run"/>: how many changes stay in the root (ignored, not reached, or not committable).</summary>
    public int Kept => _changes.Count(c => !_committed.Contains(c.Path));

    /// <summary>Runs the session; false when the user quit (mbox then exits 0 at once).</summary>
    public bool Run()
    {
        var decided = new HashSet<string>(StringComparer.Ordinal);
        bool all = false;
        var changes = _changes = Ordered(scan());
        Out(Listing(root, changes));
        for (int i = 0; i < changes.Count; i++)
        {
            var c = changes[i];
            if (!decided.Add(c.Path))
                continue;
            if (all)
            {
                Commit(c);
                continue;
            }
            bool next = false;
            while (!next)
            {
                Out($"{Letter(c)}:{Review.LayerCommands.Escape(c.Path)}\n");
                Out($" {Menu} ?> ");
                int key = ReadKey();
                Out("\n");
                switch (key)
                {
                    case 'C':
                        all = true;
                        Commit(c);
                        next = true;
                        break;
                    case 'c':
                        Commit(c);
                        next = true;
                        break;
                    case 'i':
                        next = true;
                        break;
                    case 'd':
                        Out(UnifiedDiff.Of(c, "/", StandardError.IsTerminal(1)));
                        break;
                    case 'l':
                        Out(Listing(root, changes));
                        break;
                    case 's':
                        shell();
                        Interop.Interop.TakeTerminalForeground(0);
                        // The shell may have changed the sandbox: go on with what is left undecided.
                        changes = _changes = Ordered(scan());
                        i = -1;
                        decided.Remove(c.Path);
                        next = true;
                        break;
                    case 'q':
                    case -1:
                        return false;
                    default:
                        break;
                }
            }
        }
        return true;
    }

    private void Commit(Change c)
    {
        Out($"  > Commiting {Review.LayerCommands.Escape(c.Path)}\n");
        var report = commit([c]);
        if (report.Complete)
            _committed.Add(c.Path);
        foreach (var x in report.Conflicts)
            Out($"  > left alone: {Review.LayerCommands.Escape(x.Path)}: {x.ConflictReason}\n");
        foreach (var (x, why) in report.Failed)
            Out($"  > not committed: {Review.LayerCommands.Escape(x.Path)}: {why}\n");
    }

    internal static void Out(string text)
    {
        try
        {
            Interop.Interop.WriteAll(1, Encoding.UTF8.GetBytes(text));
        }
        catch (SyscallException)
        {
        }
    }

    /// <summary>
    /// One key: on a terminal without waiting for Enter (canonical mode off, echo kept, as mbox's
    /// kbhit); otherwise the next byte that is not white space. -1 at the end of input.
    /// </summary>
    internal static unsafe int ReadKey()
    {
        byte* saved = stackalloc byte[64];
        byte* raw = stackalloc byte[64];
        bool tty = Interop.Interop.IsATty(0) == 1 && Interop.Interop.TcGetAttr(0, saved) == 0;
        if (tty)
        {
            Buffer.MemoryCopy(saved, raw, 64, 64);
            *(uint*)(raw + 12) &= ~0x2u; // c_lflag: no ICANON
            raw[17 + 6] = 1; // c_cc[VMIN]
            raw[17 + 5] = 0; // c_cc[VTIME]
            Interop.Interop.TcSetAttr(0, 0, raw);
        }
        try
        {
            while (true)
            {
                byte b;
                nint n = Interop.Interop.Read(0, &b, 1);
                if (n <= 0)
                    return -1;
                if (!tty && b is (byte)'\n' or (byte)'\r' or (byte)' ' or (byte)'\t')
                    continue;
                return b;
            }
        }
        finally
        {
            if (tty)
                Interop.Interop.TcSetAttr(0, 0, saved);
        }
    }
}
