using Husk.FileSystem;
using System.Text;
using DiffPlex;

namespace Husk.Layers;

/// <summary>Unified diffs of a change against the host, as `diff -u` prints them; binary and large files are summarised.</summary>
public static class UnifiedDiff
{
    /// <summary>Files larger than this are summarised rather than diffed.</summary>
    public const long MaxBytes = 4 << 20;

    private const int Context = 3;

    /// <summary>The diff of one change; <paramref name="color"/> adds ANSI colours for a terminal.</summary>
    public static string Of(Change change, string hostRoot = "/", bool color = false)
    {
        string hostPath = ChangeSet.Join(hostRoot, change.Path);
        string label = change.Path;
        switch (change.Kind)
        {
            case ChangeKind.Deleted:
                return change.HostNode == NodeKind.File ? Text(ReadOrNull(hostPath), "", label, "/dev/null", color) : $"deleted {Describe(change.HostNode)} {label}\n";
            case ChangeKind.MetadataOnly:
                return $"mode or times changed: {label} (now {Convert.ToString(change.Mode, 8)})\n";
        }
        if (change.Node == NodeKind.Symlink)
            return $"symlink {label} -> {change.LinkTarget}\n";
        if (change.Node == NodeKind.Directory)
            return change.Kind == ChangeKind.Replaced ? $"directory {label} replaced: its former contents are gone\n" : $"new directory {label}\n";
        if (change.Node != NodeKind.File)
            return $"special file {label} (not committed)\n";
        string? before = change.HostNode == NodeKind.File ? ReadOrNull(hostPath) : "";
        string? after = ReadOrNull(change.LayerPath!);
        return Text(before, after, change.HostNode == NodeKind.File ? label : "/dev/null", label, color);
    }

    private static string Describe(NodeKind kind) => kind switch
    {
        NodeKind.Directory => "directory",
        NodeKind.Symlink => "symlink",
        NodeKind.Special => "special file",
        _ => "file",
    };

    /// <summary>Reads a text file; null for one that is binary or too large to diff.</summary>
    private static string? ReadOrNull(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length > MaxBytes)
                return null;
            byte[] bytes = File.ReadAllBytes(path);
            if (bytes.AsSpan(0, Math.Min(bytes.Length, 8000)).Contains((byte)0))
                return null;
            return Encoding.UTF8.GetString(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Text(string? before, string? after, string fromLabel, string toLabel, bool color)
    {
        if (before is null || after is null)
            return $"Binary or large files {fromLabel} and {toLabel} differ\n";
        string[] a = SplitLines(before), b = SplitLines(after);
        // Lines split exactly as below, so DiffPlex's indices address these arrays.
        var diff = Differ.Instance.CreateDiffs(before, after, ignoreWhiteSpace: false, ignoreCase: false, new DiffPlex.Chunkers.CustomFunctionChunker(SplitLines));
        if (diff.DiffBlocks.Count == 0)
            return "";
        var sb = new StringBuilder();
        string Paint(string line, string code) => color ? $"\u001b[{code}m{line}\u001b[0m" : line;
        sb.Append(Paint($"--- {(fromLabel == "/dev/null" ? fromLabel : "a" + fromLabel)}", "1")).Append('\n');
        sb.Append(Paint($"+++ {(toLabel == "/dev/null" ? toLabel : "b" + toLabel)}", "1")).Append('\n');
        // Group blocks whose context overlaps into hunks.
        var blocks = diff.DiffBlocks;
        int i = 0;
        while (i < blocks.Count)
        {
            int j = i;
            while (j + 1 < blocks.Count && blocks[j + 1].DeleteStartA - (blocks[j].DeleteStartA + blocks[j].DeleteCountA) <= 2 * Context)
                j++;
            int startA = Math.Max(0, blocks[i].DeleteStartA - Context);
            int startB = Math.Max(0, blocks[i].InsertStartB - Context);
            int endA = Math.Min(a.Length, blocks[j].DeleteStartA + blocks[j].DeleteCountA + Context);
            int endB = Math.Min(b.Length, blocks[j].InsertStartB + blocks[j].InsertCountB + Context);
            sb.Append(Paint($"@@ -{Range(startA, endA - startA)} +{Range(startB, endB - startB)} @@", "36")).Append('\n');
            int posA = startA;
            for (int k = i; k <= j; k++)
            {
                var blk = blocks[k];
                for (; posA < blk.DeleteStartA; posA++)
                    sb.Append(' ').Append(a[posA]).Append('\n');
                for (int d = 0; d < blk.DeleteCountA; d++)
                    sb.Append(Paint("-" + a[blk.DeleteStartA + d], "31")).Append('\n');
                for (int n = 0; n < blk.InsertCountB; n++)
                    sb.Append(Paint("+" + b[blk.InsertStartB + n], "32")).Append('\n');
                posA = blk.DeleteStartA + blk.DeleteCountA;
            }
            for (; posA < endA; posA++)
                sb.Append(' ').Append(a[posA]).Append('\n');
            i = j + 1;
        }
        return sb.ToString();
    }

    private static string Range(int start, int count) => count == 0 ? $"{start},0" : count == 1 ? $"{start + 1}" : $"{start + 1},{count}";

    private static string[] SplitLines(string text)
    {
        if (text.Length == 0)
            return [];
        string[] lines = text.Split('\n');
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }
}
