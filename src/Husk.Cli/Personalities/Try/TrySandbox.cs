using System.Diagnostics;
using System.Globalization;
using System.Text;
using Husk.FileSystem;
using Husk.Layers;

namespace Husk.Cli.Personalities.Try;

/// <summary>
/// A try sandbox directory, in try's layout: <c>upperdir/&lt;absolute path&gt;</c> (the changes),
/// <c>workdir/</c>, <c>temproot/</c> (empty directories named after the top-level ones: try
/// builds its root there, and a file in it makes the sandbox invalid), <c>hidedir/</c> (whiteouts
/// of the -i paths), and the pattern files <c>hide</c>, <c>include</c> and <c>exclude</c> of the
/// last run. Husk reads and writes it with its own engine: the change set, and the committer.
/// </summary>
internal sealed class TrySandbox
{
    public TrySandbox(string path) => Path = path;

    /// <summary>The directory, absolute.</summary>
    public string Path { get; }

    public string UpperDir => System.IO.Path.Join(Path, "upperdir");
    public string HideDir => System.IO.Path.Join(Path, "hidedir");
    public string TempRoot => System.IO.Path.Join(Path, "temproot");

    /// <summary>A new sandbox as try's <c>mktemp -d --suffix .try-EXECID</c> makes one.</summary>
    public static TrySandbox CreateTemporary(string execId)
    {
        string parent = Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } t ? t : "/tmp";
        const string letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (int attempt = 0; attempt < 100; attempt++)
        {
            var name = new StringBuilder("tmp.");
            for (int i = 0; i < 10; i++)
                name.Append(letters[Random.Shared.Next(letters.Length)]);
            string dir = System.IO.Path.Join(System.IO.Path.GetFullPath(parent), name + ".try-" + execId);
            // mkdir, never an existing one: mktemp's guarantee.
            if (Interop.Interop.Mkdirat(Interop.Interop.AT_FDCWD, dir, 0x1C0) == 0)
                return new TrySandbox(dir);
            if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != (int)Errno.EEXIST)
                break;
        }
        throw new TryExit(1, $"failed to create directory via template '{parent}/tmp.XXXXXXXXXX.try-{execId}'");
    }

    /// <summary>try's sandbox_valid_or_empty: a used sandbox may hold nothing but directories in temproot.</summary>
    public bool IsValidOrEmpty()
    {
        if (!Directory.Exists(UpperDir) && !Directory.Exists(System.IO.Path.Join(Path, "workdir")) && !Directory.Exists(TempRoot))
            return true;
        if (!Directory.Exists(TempRoot))
            return true;
        try
        {
            return !Directory.EnumerateFileSystemEntries(TempRoot, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = true })
                .Any(e => Interop.Interop.TryStat(e, out var st, followSymlinks: false) == 0 && (st.Mode & Interop.Interop.S_IFMT) != Interop.Interop.S_IFDIR);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>upperdir, workdir and temproot with a directory for each top-level one of the host.</summary>
    public void PrepareLayout()
    {
        foreach (string d in new[] { "upperdir", "workdir", "temproot" })
            Directory.CreateDirectory(System.IO.Path.Join(Path, d));
        foreach (string entry in TopLevelDirectories())
        {
            string dir = System.IO.Path.Join(TempRoot, entry);
            if (!Directory.Exists(dir))
            {
                Directory.CreateDirectory(dir);
                File.SetUnixFileMode(dir, (UnixFileMode)OverlayPlanner.HostMode(entry));
            }
        }
    }

    private static IEnumerable<string> TopLevelDirectories() =>
        Directory.EnumerateFileSystemEntries("/").Where(e => new FileInfo(e).LinkTarget is null && Directory.Exists(e)).Order(StringComparer.Ordinal);

    /// <summary>Writes the pattern files of this run (try moves its temporary ones into the sandbox).</summary>
    public void WritePatterns(TryArguments args)
    {
        WriteLines("hide", args.Hide);
        WriteLines("include", args.Include);
        WriteLines("exclude", args.Exclude);
    }

    private void WriteLines(string name, IEnumerable<string> lines)
    {
        var sb = new StringBuilder();
        foreach (string line in lines)
            sb.Append(line).Append('\n');
        File.WriteAllText(System.IO.Path.Join(Path, name), sb.ToString());
    }

    /// <summary>
    /// The hide layer: a whiteout (a 0:0 character device, which any user may create) for each
    /// path, in hidedir/&lt;path&gt;. Relative paths are taken from <paramref name="startDir"/>.
    /// </summary>
    public List<string> PrepareHideLayer(IEnumerable<string> paths, string startDir)
    {
        var hidden = new List<string>();
        foreach (string raw in paths)
        {
            if (raw.Length == 0)
                continue;
            string path = Canonical(raw.StartsWith('/') ? raw : startDir.TrimEnd('/') + "/" + raw);
            if (path == "/")
                throw new TryExit(2, "cannot hide /");
            string target = System.IO.Path.Join(HideDir, path);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            if (Interop.Interop.TryStat(target, out _, followSymlinks: false) != 0 &&
                Interop.Interop.Mknodat(Interop.Interop.AT_FDCWD, target, (int)Interop.Interop.S_IFCHR, 0) != 0)
                throw new TryExit(1, $"could not create whiteout for hidden path '{path}'");
            hidden.Add(path);
        }
        return hidden;
    }

    /// <summary>As <c>readlink -m</c>: absolute, no . or .., symlinks of existing components resolved.</summary>
    internal static string Canonical(string path)
    {
        var parts = new List<string>();
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == ".")
                continue;
            if (part == "..")
            {
                if (parts.Count > 0)
                    parts.RemoveAt(parts.Count - 1);
                continue;
            }
            string current = "/" + string.Join('/', parts.Append(part));
            string? target = null;
            try
            {
                target = new FileInfo(current).LinkTarget;
            }
            catch (IOException)
            {
            }
            if (target is not null && links++ < 40)
            {
                if (target.StartsWith('/'))
                    parts.Clear();
                foreach (string t in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                    pending.Push(t);
                continue;
            }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>The changes of the layer, as try would list them: its patterns applied to SANDBOX/upperdir/PATH.</summary>
    public List<Change> Changes(TryPatterns include, TryPatterns exclude)
    {
        var root = SandboxRoot.Open(Path) ?? throw new TryExit(1, $"could not find directory {UpperDir}");
        return [.. root.Changes().Where(c =>
        {
            string line = UpperDir + c.Path;
            return (include.IsEmpty || include.Matches(line)) && !exclude.Matches(line);
        })];
    }

    /// <summary>try's summary label of a change.</summary>
    public static string Label(Change c) => c.Kind switch
    {
        _ when c.Node == NodeKind.Symlink => "symlink",
        ChangeKind.Deleted => "deleted",
        ChangeKind.Added when c.Node == NodeKind.Directory => "created dir",
        ChangeKind.Added => "added",
        ChangeKind.Replaced => "replaced with dir",
        ChangeKind.TypeChanged when c.Node == NodeKind.Directory => "replaced with dir",
        _ => "modified",
    };

    /// <summary>The summary text (try prints it on stdout for <c>try summary</c>, on stderr before asking).</summary>
    public static string Summary(IEnumerable<Change> changes)
    {
        var sb = new StringBuilder();
        sb.Append("\nChanges detected in the following files:\n\n");
        foreach (var c in changes)
            sb.Append(CultureInfo.InvariantCulture, $"{Review.LayerCommands.Escape(c.Path)} ({Label(c)})\n");
        return sb.ToString();
    }

    /// <summary>
    /// Commits the changes with Husk's committer: every host path resolved beneath / with openat2,
    /// files written beside their target and renamed; directories deleted or replaced recursively,
    /// FIFOs and sockets recreated, as try does; a host path changed since the session began is
    /// left alone. Returns try's status: 0, or 1 when something could not be committed.
    /// </summary>
    public int Commit(IReadOnlyList<Change> changes, string command)
    {
        var report = Committer.Apply(changes, "/", force: false, recursive: true, specials: true);
        foreach (var c in report.Conflicts)
            StandardError.WriteLine($"{command}: couldn't commit {Review.LayerCommands.Escape(UpperDir + c.Path)}: {c.ConflictReason}; left alone");
        foreach (var (c, why) in report.Failed)
            StandardError.WriteLine($"{command}: couldn't commit {Review.LayerCommands.Escape(UpperDir + c.Path)}: {why}");
        return report.Complete ? 0 : 1;
    }

    /// <summary>
    /// try's -L with -N and no command: the changes of the lower sandboxes, rightmost first, are
    /// merged into this one's upperdir, so that it holds their union.
    /// </summary>
    public void MaterializeStack(IReadOnlyList<string> lowers, TryPatterns include, TryPatterns exclude)
    {
        foreach (string d in new[] { "upperdir", "workdir", "temproot" })
            Directory.CreateDirectory(System.IO.Path.Join(Path, d));
        foreach (string lower in lowers.Reverse())
        {
            string upper = System.IO.Path.Join(lower, "upperdir");
            if (!Directory.Exists(upper))
                throw new TryExit(1, $"could not find directory {upper}");
            Merge(upper, UpperDir, "", include, exclude);
            if (SandboxRoot.Open(lower) is { } lowerRoot)
                (SandboxRoot.Open(Path) ?? throw new TryExit(1, $"could not find directory {UpperDir}")).AdoptPrepared(lowerRoot);
        }
    }

    private static void Merge(string from, string to, string rel, TryPatterns include, TryPatterns exclude)
    {
        foreach (string name in Directory.EnumerateFileSystemEntries(System.IO.Path.Join(from, rel)).Select(System.IO.Path.GetFileName).Order(StringComparer.Ordinal).ToList()!)
        {
            string path = rel + "/" + name!;
            string source = from + path, target = to + path;
            string line = from + path;
            if ((!include.IsEmpty && !include.Matches(line)) || exclude.Matches(line))
                continue;
            bool sourceIsDir = Interop.Interop.TryStat(source, out var st, followSymlinks: false) == 0 && (st.Mode & Interop.Interop.S_IFMT) == Interop.Interop.S_IFDIR;
            bool targetIsDir = Interop.Interop.TryStat(target, out var tt, followSymlinks: false) == 0 && (tt.Mode & Interop.Interop.S_IFMT) == Interop.Interop.S_IFDIR;
            bool opaque = Interop.Interop.GetXattr(source, "user.overlay.opaque") is [(byte)'y', ..];
            if (sourceIsDir && targetIsDir && !opaque)
            {
                Merge(from, to, path, include, exclude);
                continue;
            }
            Exec("rm", "-rf", target);
            Exec("cp", "-a", source, target);
        }
    }

    private static void Exec(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
    }
}
