using System.Globalization;
using System.Text.Json;

namespace Husk.FileSystem;

/// <summary>
/// A sandbox root on disk: <c>upperdir/&lt;absolute path&gt;</c> holds the sandbox's writes,
/// <c>workdir/</c> overlayfs's work directories (try's layout), and <c>husk.json</c> when the first
/// session began (the baseline for conflicts) and what overlays it. Running again with the same
/// root resumes on top of it.
/// </summary>
public sealed class SandboxRoot
{
    private SandboxRoot(string path, DateTimeOffset since)
    {
        Path = path;
        Since = since;
    }

    /// <summary>The root directory.</summary>
    public string Path { get; }

    /// <summary>The sandbox's writes, at their absolute paths.</summary>
    public string UpperDir => System.IO.Path.Join(Path, "upperdir");

    /// <summary>Overlayfs's work directories.</summary>
    public string WorkDir => System.IO.Path.Join(Path, "workdir");

    /// <summary>When the first session on this root began: host changes after it are conflicts.</summary>
    public DateTimeOffset Since { get; }

    private string MetadataPath => System.IO.Path.Join(Path, "husk.json");

    /// <summary>A new root's default place: the user's runtime directory, else /var/tmp (never /tmp, which sandboxes replace).</summary>
    public static string DefaultLocation(string id)
    {
        string? runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        string parent = runtime is { Length: > 0 } && Directory.Exists(runtime)
            ? System.IO.Path.Join(runtime, "husk", "roots")
            : $"/var/tmp/husk-{Interop.Interop.GetUid()}/roots";
        return System.IO.Path.Join(parent, id);
    }

    /// <summary>Opens a root, creating it (private to the caller) when it does not exist yet.</summary>
    public static SandboxRoot CreateOrOpen(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        if (Open(path) is { } existing)
            return existing;
        string? parent = System.IO.Path.GetDirectoryName(path);
        if (parent is not null && !Directory.Exists(parent))
            Directory.CreateDirectory(parent, mode);
        Directory.CreateDirectory(path, mode);
        if (Directory.EnumerateFileSystemEntries(path).Any(e => System.IO.Path.GetFileName(e) is not ("upperdir" or "workdir" or "temproot")))
            throw new IOException($"{path} is not empty and not a sandbox root: choose an empty or new directory");
        Directory.CreateDirectory(System.IO.Path.Join(path, "upperdir"));
        Directory.CreateDirectory(System.IO.Path.Join(path, "workdir"));
        var root = new SandboxRoot(path, DateTimeOffset.UtcNow);
        root.Save();
        return root;
    }

    /// <summary>Opens an existing root; null when <paramref name="path"/> is not one.</summary>
    public static SandboxRoot? Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(System.IO.Path.Join(path, "upperdir")))
            return null;
        var since = File.GetCreationTimeUtc(System.IO.Path.Join(path, "upperdir"));
        string meta = System.IO.Path.Join(path, "husk.json");
        if (File.Exists(meta))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllBytes(meta));
                if (doc.RootElement.TryGetProperty("since", out var s))
                    return new SandboxRoot(path, DateTimeOffset.Parse(s.GetString()!, CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
            {
            }
        }
        // A root made by try (or an older Husk): its upperdir's age is the best baseline there is.
        return new SandboxRoot(path, new DateTimeOffset(DateTime.SpecifyKind(since, DateTimeKind.Utc)));
    }

    private void Save()
    {
        using var stream = new FileStream(MetadataPath, FileMode.Create, FileAccess.Write);
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteNumber("version", 1);
        w.WriteString("since", Since.ToString("O", CultureInfo.InvariantCulture));
        w.WriteEndObject();
    }

    /// <summary>Creates the upper and work directories of the layers, the uppers with the host directory's mode.</summary>
    public void PrepareLayers(IEnumerable<OverlayLayer> layers, (uint Uid, uint Gid)? owner = null)
    {
        foreach (var layer in layers)
        {
            // The directories on the way to a layer are in the change set's view too: they get the
            // host's modes and times, or they would read as metadata changes (and a commit would
            // chmod the host's /tmp or home directory).
            CreateLikeHost(layer.Directory);
            foreach (string dir in new[] { layer.Upper, layer.Work })
            {
                if (!Directory.Exists(dir))
                    Directory.CreateDirectory(dir);
            }
            File.SetUnixFileMode(layer.Upper, (UnixFileMode)(layer.Mode & 0xFFF));
        }
        if (owner is { } o)
            Chown(Path, o.Uid, o.Gid);
    }

    /// <summary>
    /// Creates, in the layer, the directories on the way to <paramref name="paths"/> (the working
    /// directory, the home directory). Overlayfs must copy a directory up before writing below it,
    /// and copying up keeps the owner, which an unprivileged user namespace cannot do for root's
    /// directories (EOVERFLOW): /home is root's, /home/me is not. Present in the layer already, they
    /// need no copy-up; they merge with the host's and are not changes.
    /// </summary>
    public void PrepareAncestors(IEnumerable<OverlayLayer> layers, IEnumerable<string> paths)
    {
        var list = layers.ToList();
        foreach (string target in paths)
        {
            var layer = list.Where(l => HostMounts.IsUnder(target, l.Directory)).MaxBy(l => l.Directory.Length);
            if (layer is null)
                continue;
            string dir = layer.Directory;
            foreach (string part in target[dir.TrimEnd('/').Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                dir = dir.TrimEnd('/') + "/" + part;
                if (Interop.Interop.TryStat(dir, out var st, followSymlinks: false) != 0 || (st.Mode & Interop.Interop.S_IFMT) != Interop.Interop.S_IFDIR)
                    break;
                string upper = System.IO.Path.Join(UpperDir, dir);
                if (Directory.Exists(upper))
                    continue;
                Directory.CreateDirectory(upper);
                File.SetUnixFileMode(upper, (UnixFileMode)(st.Mode & 0xFFF));
                Utime(upper, st);
            }
        }
    }

    /// <summary>
    /// After a run: removes the upper directories of layers that stayed empty and mean nothing (not
    /// opaque, still the mode they were prepared with), so that a host directory removed meanwhile (a build's temporary
    /// directory in /tmp) does not come back as a new one at commit.
    /// </summary>
    public void PruneLayers(IEnumerable<OverlayLayer> layers)
    {
        foreach (var layer in layers)
        {
            try
            {
                if (!Directory.Exists(layer.Upper) || Directory.EnumerateFileSystemEntries(layer.Upper).Any())
                    continue;
                if (Interop.Interop.ListXattrs(layer.Upper).Any(x => x.EndsWith(".opaque", StringComparison.Ordinal)))
                    continue;
                // Still the mode it was given from the host at the start: the payload did not chmod it
                // (the host's may have changed meanwhile, which is not the sandbox's change).
                if (Interop.Interop.TryStat(layer.Upper, out var up) == 0 && (up.Mode & 0xFFF) != (layer.Mode & 0xFFF))
                    continue;
                Directory.Delete(layer.Upper);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Creates UpperDir/&lt;ancestors of hostDir&gt; that are missing, each with its host directory's mode and times.</summary>
    private void CreateLikeHost(string hostDir)
    {
        string dir = "";
        foreach (string part in hostDir.Split('/', StringSplitOptions.RemoveEmptyEntries).SkipLast(1))
        {
            dir += "/" + part;
            string upper = System.IO.Path.Join(UpperDir, dir);
            if (Directory.Exists(upper))
                continue;
            Directory.CreateDirectory(upper);
            if (Interop.Interop.TryStat(dir, out var st) == 0)
            {
                File.SetUnixFileMode(upper, (UnixFileMode)(st.Mode & 0xFFF));
                Utime(upper, st);
            }
        }
    }

    /// <summary>The host directory's times, so the prepared directory is not a metadata change.</summary>
    private static unsafe void Utime(string path, Interop.Interop.Statx st)
    {
        Interop.Interop.TimeSpec* times = stackalloc Interop.Interop.TimeSpec[2];
        times[0] = new Interop.Interop.TimeSpec { Seconds = st.AtimeSec, Nanoseconds = st.AtimeNsec };
        times[1] = new Interop.Interop.TimeSpec { Seconds = st.MtimeSec, Nanoseconds = st.MtimeNsec };
        Interop.Interop.Utimensat(Interop.Interop.AT_FDCWD, path, times, 0);
    }

    /// <summary>Gives the whole tree to the sandbox's mapped ids (root's sandboxes run as a subordinate id).</summary>
    private static void Chown(string path, uint uid, uint gid)
    {
        Lchown(path, uid, gid);
        foreach (string entry in Directory.EnumerateFileSystemEntries(path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            Lchown(entry, uid, gid);
    }

    private static void Lchown(string path, uint uid, uint gid) => Interop.Interop.Lchown(path, uid, gid);

    /// <summary>The changes recorded in this root.</summary>
    public List<Change> Changes() => ChangeSet.Scan(UpperDir, "/", Since);

    /// <summary>Removes the root and everything in it (overlayfs leaves its work/work unreadable: that is handled).</summary>
    public void Delete()
    {
        foreach (string d in Directory.EnumerateDirectories(Path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Prepend(Path))
        {
            try
            {
                File.SetUnixFileMode(d, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        Directory.Delete(Path, recursive: true);
    }
}
