using Husk.FileSystem;
using System.Globalization;
using System.Text.Json;

namespace Husk.Layers;

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
        // A root made by try (or an older Husk): its upperdir's birth is the best baseline there is.
        // Not File.GetCreationTimeUtc: on Linux .NET answers with the last change of the directory,
        // which moves whenever an entry is added at the top of the layer, after a host edit too.
        string upper = System.IO.Path.Join(path, "upperdir");
        var since = Interop.Interop.BirthTime(upper) ?? new DateTimeOffset(Directory.GetLastWriteTimeUtc(upper), TimeSpan.Zero);
        return new SandboxRoot(path, since);
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

    /// <summary>
    /// Creates the upper and work directories of the layers. An upper's own attributes are what
    /// the sandbox sees for the overlaid directory, and it is owned by the caller, not by the host
    /// directory's owner; so that the sandbox may not write where the caller may not (/usr), its
    /// owner bits are the caller's access to the host directory.
    /// </summary>
    /// <param name="layers">The plan's layers.</param>
    /// <param name="hostModes">Give the host's modes as they are (try's view: the caller may write everywhere).</param>
    /// <param name="hostOwners">The host owners root's idmapped layers show as themselves, or null (see <see cref="OwnLikeHost"/>).</param>
    internal void PrepareLayers(IEnumerable<OverlayLayer> layers, bool hostModes = false, Func<uint, uint, bool>? hostOwners = null)
    {
        var prepared = Prepared();
        // A layer can lie in another's upper (a directory with mounts below it has a layer, and so
        // have those mounts), and a mode may close a directory to the caller: modes, times and
        // owners are given once every directory exists.
        var finish = new Dictionary<string, (string? Host, int Mode, bool Times)>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            bool fresh = !prepared.ContainsKey(layer.Directory);
            // The directories on the way to a layer are in the change set's view too: they get the
            // host's modes and times, or they would read as metadata changes (and a commit would
            // chmod the host's /tmp or home directory).
            CreateLikeHost(layer.Directory, finish);
            if (!Directory.Exists(layer.Upper))
                CreateInLayer(layer.Upper, finish);
            if (!Directory.Exists(layer.Work))
                Directory.CreateDirectory(layer.Work);
            int mode = !hostModes ? CallerView(layer.Directory, layer.Mode) : layer.Mode & 0xFFF;
            finish[layer.Upper] = (layer.Directory, mode, fresh);
            prepared[layer.Directory] = mode;
        }
        foreach (var (upper, (host, mode, times)) in finish)
        {
            File.SetUnixFileMode(upper, (UnixFileMode)mode);
            if (host is not null && Interop.Interop.TryStat(host, out var st) == 0)
            {
                if (times)
                    Utime(upper, st);
                OwnLikeHost(upper, st, hostOwners);
            }
        }
        SavePrepared(prepared);
    }

    /// <summary>
    /// Creates a directory of the layer whose parent exists; a parent closed to the caller (an
    /// upper given a host directory's r-x mode) is opened until <paramref name="finish"/> gives
    /// it its mode again.
    /// </summary>
    private static void CreateInLayer(string dir, Dictionary<string, (string? Host, int Mode, bool Times)> finish)
    {
        string parent = System.IO.Path.GetDirectoryName(dir)!;
        if (Interop.Interop.TryStat(parent, out var ps) == 0 && (ps.Mode & 0x1C0) != 0x1C0)
        {
            finish.TryAdd(parent, (null, ps.Mode & 0xFFF, false));
            File.SetUnixFileMode(parent, (UnixFileMode)((ps.Mode & 0xFFF) | 0x1C0));
        }
        Directory.CreateDirectory(dir);
    }

    /// <summary>
    /// Root's layers are seen through idmapped mounts (host ids as they are, see
    /// Launch.IdmappedLayers): a directory Husk creates there gets the host directory's owner, as
    /// overlayfs would have copied it up, when the sandbox maps that owner. Otherwise it is the
    /// caller's: a merged directory (a layer nested in its parent's, over a stand-in) whose upper
    /// has an owner the sandbox does not map cannot be looked up (EACCES, try's single id) or
    /// written in (through idmapped layers). Layers that are not idmapped belong to the caller,
    /// the one id they map; root's are given back to it on resume, should a run have given them away.
    /// </summary>
    private static void OwnLikeHost(string upper, Interop.Interop.Statx host, Func<uint, uint, bool>? hostOwners)
    {
        if (hostOwners is not null && hostOwners(host.Uid, host.Gid))
            Interop.Interop.Lchown(upper, host.Uid, host.Gid);
        else if (Interop.Interop.GetEuid() == 0)
            Interop.Interop.Lchown(upper, 0, 0);
    }

    /// <summary>
    /// Creates, in the layer, the directories on the way to <paramref name="paths"/> (the working
    /// directory, the home directory). Overlayfs must copy a directory up before writing below it,
    /// and copying up keeps the owner, which an unprivileged user namespace cannot do for root's
    /// directories (EOVERFLOW): /home is root's, /home/me is not. Present in the layer already, they
    /// need no copy-up; they merge with the host's and are not changes. Their modes follow
    /// <see cref="CallerView"/> unless <paramref name="hostModes"/>.
    /// </summary>
    internal void PrepareAncestors(IEnumerable<OverlayLayer> layers, IEnumerable<string> paths, bool hostModes = false, Func<uint, uint, bool>? hostOwners = null)
    {
        var list = layers.ToList();
        var prepared = Prepared();
        // A prepared directory may be closed to the caller (r-x): modes and times are set once everything exists.
        var finish = new Dictionary<string, (string Host, int Mode)>(StringComparer.Ordinal);
        foreach (string target in paths)
        {
            var layer = list.Where(l => HostMounts.IsUnder(target, l.Directory)).MaxBy(l => l.Directory.Length);
            if (layer is null)
                continue;
            string dir = layer.Directory;
            foreach (string part in target[dir.TrimEnd('/').Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                string parentDir = dir;
                dir = dir.TrimEnd('/') + "/" + part;
                if (Interop.Interop.TryStat(dir, out var st, followSymlinks: false) != 0 || (st.Mode & Interop.Interop.S_IFMT) != Interop.Interop.S_IFDIR)
                    break;
                string upper = System.IO.Path.Join(UpperDir, dir);
                if (Directory.Exists(upper))
                    continue;
                string parent = System.IO.Path.GetDirectoryName(upper)!;
                if (Interop.Interop.TryStat(parent, out var ps) == 0 && !finish.ContainsKey(parent))
                {
                    finish[parent] = (parentDir, ps.Mode & 0xFFF);
                    File.SetUnixFileMode(parent, (UnixFileMode)((ps.Mode & 0xFFF) | 0x1C0));
                }
                Directory.CreateDirectory(upper);
                int mode = hostModes ? st.Mode & 0xFFF : CallerView(dir, st.Mode & 0xFFF);
                finish[upper] = (dir, mode);
                prepared[dir] = mode;
            }
        }
        foreach (var (upper, (host, mode)) in finish)
        {
            File.SetUnixFileMode(upper, (UnixFileMode)mode);
            if (Interop.Interop.TryStat(host, out var st) == 0)
            {
                Utime(upper, st);
                OwnLikeHost(upper, st, hostOwners);
            }
        }
        SavePrepared(prepared);
    }

    /// <summary>
    /// The mode a directory Husk creates in the layer gets: the host's, with the owner's write bit
    /// (the caller owns it in the layer) set as the caller may write the host directory or not. Root's
    /// payload runs as root inside and keeps the host's mode. Read and search stay the host owner's:
    /// the overlay checks the host directory with the mounter's rights anyway, and tools that walk
    /// the layer must get in.
    /// </summary>
    internal static int CallerView(string hostDir, int hostMode)
    {
        if (Interop.Interop.GetEuid() == 0)
            return hostMode & 0xFFF;
        bool writable = Interop.Interop.Access(hostDir, 2) == 0; // W_OK
        return writable ? (hostMode & 0xFFF) | 0x80 : hostMode & 0xF7F;
    }

    private string PreparedPath => System.IO.Path.Join(Path, "prepared.tsv");

    /// <summary>
    /// The directories Husk created in the layer (overlay roots, ancestors) with the mode it gave
    /// them: that mode is not a change the sandbox made.
    /// </summary>
    public Dictionary<string, int> Prepared()
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!File.Exists(PreparedPath))
            return map;
        foreach (string line in File.ReadLines(PreparedPath))
        {
            int tab = line.IndexOf('\t');
            if (tab > 0 && int.TryParse(line.AsSpan(0, tab), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int mode))
                map[Unescape(line[(tab + 1)..])] = mode;
        }
        return map;
    }

    /// <summary>Takes over what another root prepared (its layer was copied into this one).</summary>
    public void AdoptPrepared(SandboxRoot other)
    {
        var prepared = Prepared();
        foreach (var (path, mode) in other.Prepared())
            prepared.TryAdd(path, mode);
        SavePrepared(prepared);
    }

    private void SavePrepared(Dictionary<string, int> prepared)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var (path, mode) in prepared.OrderBy(p => p.Key, StringComparer.Ordinal))
            sb.Append(mode.ToString("x", CultureInfo.InvariantCulture)).Append('\t').Append(Escape(path)).Append('\n');
        File.WriteAllText(PreparedPath, sb.ToString());
    }

    /// <summary>
    /// After a run: removes the upper directories of layers that stayed empty and mean nothing (not
    /// opaque, still the mode they were prepared with), so that a host directory removed meanwhile (a build's temporary
    /// directory in /tmp) does not come back as a new one at commit.
    /// </summary>
    internal void PruneLayers(IEnumerable<OverlayLayer> layers)
    {
        var prepared = Prepared();
        foreach (var layer in layers)
        {
            try
            {
                if (!Directory.Exists(layer.Upper) || Directory.EnumerateFileSystemEntries(layer.Upper).Any())
                    continue;
                if (Interop.Interop.ListXattrs(layer.Upper).Any(x => x.EndsWith(".opaque", StringComparison.Ordinal)))
                    continue;
                // Still the mode it was given at the start: the payload did not chmod it
                // (the host's may have changed meanwhile, which is not the sandbox's change).
                int given = prepared.TryGetValue(layer.Directory, out int m) ? m : layer.Mode & 0xFFF;
                if (Interop.Interop.TryStat(layer.Upper, out var up) == 0 && (up.Mode & 0xFFF) != given)
                    continue;
                Directory.Delete(layer.Upper);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Creates UpperDir/&lt;ancestors of hostDir&gt; that are missing, each with its host directory's mode and times.</summary>
    private void CreateLikeHost(string hostDir, Dictionary<string, (string? Host, int Mode, bool Times)> finish)
    {
        string dir = "";
        foreach (string part in hostDir.Split('/', StringSplitOptions.RemoveEmptyEntries).SkipLast(1))
        {
            dir += "/" + part;
            string upper = System.IO.Path.Join(UpperDir, dir);
            if (Directory.Exists(upper))
                continue;
            CreateInLayer(upper, finish);
            if (Interop.Interop.TryStat(dir, out var st) == 0)
                finish[upper] = (dir, st.Mode & 0xFFF, true);
        }
    }

    /// <summary>The host directory's times, so the prepared directory is not a metadata change.</summary>
    private static void Utime(string path, Interop.Interop.Statx st) => Interop.Interop.SetTimes(path, st);

    private string ManifestPath => System.IO.Path.Join(Path, "manifest.tsv");

    /// <summary>
    /// Records the content hash of every regular file under <paramref name="dirs"/> (mbox's -m),
    /// so that a host file changed during the session is a conflict even when its ctime says
    /// otherwise. Bounded: at most <paramref name="maxFiles"/> files.
    /// </summary>
    public int HashOriginals(IEnumerable<string> dirs, int maxFiles = 50_000)
    {
        var sb = new System.Text.StringBuilder();
        int count = 0;
        foreach (string dir in dirs)
        {
            var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
            foreach (string file in Directory.EnumerateFiles(dir, "*", options))
            {
                if (count >= maxFiles || file.StartsWith(Path + "/", StringComparison.Ordinal))
                    continue;
                if (HashOf(file) is not { } hash)
                    continue;
                sb.Append(Escape(file)).Append('\t').Append(hash).Append('\n');
                count++;
            }
        }
        File.WriteAllText(ManifestPath, sb.ToString());
        return count;
    }

    private static string Escape(string path) => path.Replace("\\", "\\\\").Replace("\t", "\\t").Replace("\n", "\\n");

    private static string Unescape(string path) =>
        System.Text.RegularExpressions.Regex.Replace(path, @"\\(.)", m => m.Groups[1].Value switch { "t" => "\t", "n" => "\n", var x => x });

    internal static string? HashOf(string file)
    {
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16);
            return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The manifest written by <see cref="HashOriginals"/>, if any.</summary>
    public IReadOnlyDictionary<string, string>? Manifest()
    {
        if (!File.Exists(ManifestPath))
            return null;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(ManifestPath))
        {
            int tab = line.LastIndexOf('\t');
            if (tab > 0)
                map[Unescape(line[..tab])] = line[(tab + 1)..];
        }
        return map;
    }

    /// <summary>The changes recorded in this root.</summary>
    public List<Change> Changes() => ChangeSet.Scan(UpperDir, "/", Since, Manifest(), Prepared());

    /// <summary>
    /// Removes the root and everything in it, never following a link in it (overlayfs leaves its
    /// work/work unreadable: that is opened up first).
    /// </summary>
    /// <exception cref="SyscallException">Something in it could not be deleted; the message names it.</exception>
    public void Delete() => FileTree.Delete(Path);
}
