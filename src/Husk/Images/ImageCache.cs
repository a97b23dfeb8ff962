using System.Runtime.InteropServices;
using System.Text.Json;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Images;

/// <summary>
/// The image cache: each layer unpacked once, keyed by its diff id (the digest of its uncompressed
/// tar, which the config names and unpacking verifies), so the same layer from an OCI layout and a
/// docker archive is one entry; and a record per image run, for <c>husk image ls|rm|prune</c>.
/// <code>
/// CACHE/layers/sha256/HEX/root/        the layer's tree, an overlayfs lower layer as it is
/// CACHE/layers/sha256/HEX/layer.json   what unpacking found (LayerRecord)
/// CACHE/images/sha256-HEX.json         an image: its references and layers (ImageRecord)
/// CACHE/tmp/                           unpacking in progress, and entries being deleted
/// </code>
/// A layer is unpacked beside it and renamed into place when complete, so a layer that is there
/// is whole. A run holds a shared lock on each of its layers' directories; <see cref="Remove"/>
/// and <see cref="Prune"/> take an exclusive one and leave layers in use alone.
/// </summary>
internal sealed class ImageCache(string root)
{
    /// <summary>The cache's directory.</summary>
    public string Root { get; } = root;

    private string Layers => Path.Join(Root, "layers");
    private string Images => Path.Join(Root, "images");
    private string Temporary => Path.Join(Root, "tmp");

    /// <summary>
    /// $XDG_CACHE_HOME/husk/images, else ~/.cache/husk/images; for root without XDG_CACHE_HOME,
    /// /var/cache/husk/images.
    /// </summary>
    public static string DefaultLocation()
    {
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg && xdg.StartsWith('/'))
            return Path.Join(xdg, "husk", "images");
        if (GetUid() == 0)
            return "/var/cache/husk/images";
        string home = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Join(home, ".cache", "husk", "images");
    }

    /// <summary>Where a layer lives in the cache.</summary>
    internal string LayerDirectory(Digest diffId) => Path.Join(Layers, diffId.Algorithm, diffId.Hex);

    /// <summary>The tree of a cached layer (the overlay's lower directory).</summary>
    internal string LayerTree(Digest diffId) => Path.Join(LayerDirectory(diffId), "root");

    private void CreateDirectories()
    {
        foreach (string dir in new[] { Root, Layers, Images, Temporary })
        {
            if (!Directory.Exists(dir))
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>
    /// Reads the image, unpacks the layers the cache lacks, and locks every layer for the run:
    /// the result's lowers can be mounted until it is disposed.
    /// </summary>
    public PreparedImage Prepare(string reference, string? workingDirectory = null, Action<string>? progress = null)
    {
        var parsed = ImageReference.Parse(reference, workingDirectory);
        using var files = ImageFiles.Open(parsed);
        var image = parsed.Transport == ImageTransport.DockerArchive
            ? DockerArchiveReader.Read(files, parsed.Selector)
            : OciLayoutReader.Read(files, parsed.Selector);
        CreateDirectories();
        bool keepOwners = GetUid() == 0;
        var locks = new List<SafeFd>();
        var records = new Dictionary<Digest, LayerRecord>();
        try
        {
            foreach (var layer in image.Layers)
            {
                if (records.ContainsKey(layer.DiffId))
                    continue;
                var (fd, record) = LockLayer(layer.DiffId) is { } held ? held : Unpack(files, image, layer, keepOwners, progress);
                locks.Add(fd);
                records[layer.DiffId] = record;
            }
        }
        catch
        {
            foreach (var fd in locks)
                fd.Dispose();
            throw;
        }
        Record(image, parsed.Text);
        // A layer repeated higher up is kept only there: everything the lower copy holds, the upper one holds again above it.
        var order = image.Layers.Select(l => l.DiffId).Reverse().Distinct().Reverse().ToList();
        return new PreparedImage(image, [.. order.Select(LayerTree)], [.. order.Select(d => records[d])], locks);
    }

    /// <summary>A cached layer's directory, locked shared, with its record; null when the cache does not hold it.</summary>
    private (SafeFd, LayerRecord)? LockLayer(Digest diffId)
    {
        string dir = LayerDirectory(diffId);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var fd = OpenLocked(dir, LOCK_SH);
            if (fd is null)
                return null;
            // Locked: but if a prune renamed it away before the lock, it is no longer the cache's.
            if (TryStat(dir, out var st, followSymlinks: false) == 0 && TryFstat(fd.Fd, out var held) == 0 && st.Ino == held.Ino && st.DevMajor == held.DevMajor && st.DevMinor == held.DevMinor)
            {
                if (ReadRecord(dir) is { } record)
                    return (fd, record);
                fd.Dispose();
                return null;
            }
            fd.Dispose();
        }
        return null;
    }

    /// <summary>Opens a directory and takes a flock on it (blocking for shared, not for exclusive); null when it is missing or busy.</summary>
    private static SafeFd? OpenLocked(string dir, int operation)
    {
        int fd = Openat2(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, 0);
        if (fd < 0)
            return null;
        var handle = new SafeFd(fd);
        if (Flock(handle.Fd, operation) != 0)
        {
            handle.Dispose();
            return null;
        }
        return handle;
    }

    private static LayerRecord? ReadRecord(string dir)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(Path.Join(dir, "layer.json")), ImageJson.Default.LayerRecord);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Unpacks one layer beside the cache, verifying it, and moves it into place.</summary>
    private (SafeFd, LayerRecord) Unpack(ImageFiles files, ResolvedImage image, ImageLayer layer, bool keepOwners, Action<string>? progress)
    {
        progress?.Invoke($"unpacking {layer.Name} of {image.Layers.Count}");
        string work = Path.Join(Temporary, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using (var busy = OpenLocked(work, LOCK_EX | LOCK_NB))
        {
            try
            {
                string tree = Path.Join(work, "root");
                Directory.CreateDirectory(tree);
                var record = UnpackInto(files, image.Reference, layer, tree, keepOwners);
                File.WriteAllBytes(Path.Join(work, "layer.json"), JsonSerializer.SerializeToUtf8Bytes(record, ImageJson.Default.LayerRecord));
                string target = LayerDirectory(layer.DiffId);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                if (Renameat2(AT_FDCWD, work, AT_FDCWD, target, RENAME_NOREPLACE) != 0)
                {
                    int e = Marshal.GetLastPInvokeError();
                    // Another run unpacked the same layer meanwhile: theirs is as good.
                    if (e is not ((int)Errno.EEXIST or (int)Errno.ENOTEMPTY))
                        throw new SyscallException("rename", target, (Errno)e);
                    FileSystem.FileTree.Delete(work);
                }
            }
            catch
            {
                if (Directory.Exists(work))
                    FileSystem.FileTree.Delete(work);
                throw;
            }
        }
        return LockLayer(layer.DiffId) ?? throw new ImageException(image.Reference, $"{layer.Name}: unpacked, but the cache lost it at once (a prune at the same time?): run again");
    }

    /// <summary>Reads the blob through its decompressor into <paramref name="tree"/>, checking the blob's digest and the diff id.</summary>
    internal static LayerRecord UnpackInto(ImageFiles files, string reference, ImageLayer layer, string tree, bool keepOwners)
    {
        using var blob = new HashingStream(files.Open(layer.BlobName), (layer.BlobDigest ?? layer.DiffId).NewHash());
        LayerStats stats;
        string compression;
        HashingStream tar;
        try
        {
            tar = new HashingStream(LayerCompression.Decompress(blob, out compression), layer.DiffId.NewHash());
        }
        catch (DllNotFoundException)
        {
            throw new ImageException(reference, $"{layer.Name}: zstd-compressed, and libzstd.so.1 is not installed (Debian: libzstd1)");
        }
        using (tar)
        {
            try
            {
                stats = LayerApplier.Apply(tar, tree, reference, layer.Name, keepOwners);
                tar.Drain();
            }
            catch (DllNotFoundException)
            {
                throw new ImageException(reference, $"{layer.Name}: zstd-compressed, and libzstd.so.1 is not installed (Debian: libzstd1)");
            }
            catch (InvalidDataException e)
            {
                throw new ImageException(reference, $"{layer.Name}: damaged {compression} data ({ErrorText.Reason(e)})");
            }
            blob.Drain();
            if (layer.BlobDigest is { } want && blob.Hex() != want.Hex)
                throw new ImageException(reference, $"{layer.Name}: blob {layer.BlobName} does not match its digest {want}");
            if (tar.Hex() != layer.DiffId.Hex)
                throw new ImageException(reference, $"{layer.Name}: the uncompressed layer does not match the config's diff id {layer.DiffId}");
        }
        return new LayerRecord
        {
            DiffId = layer.DiffId.ToString(),
            Blob = layer.BlobDigest?.ToString(),
            Compression = compression,
            Entries = stats.Entries,
            Bytes = stats.Bytes,
            OtherOwners = stats.OtherOwners,
            OwnersKept = keepOwners,
            DevicesSkipped = stats.DevicesSkipped,
            SetuidStripped = stats.SetuidStripped,
            Unpacked = DateTimeOffset.UtcNow,
        };
    }

    private string RecordPath(string id) => Path.Join(Images, id.Replace(':', '-') + ".json");

    /// <summary>Notes the image and the reference it was run by, for <c>husk image ls</c>.</summary>
    private void Record(ResolvedImage image, string reference)
    {
        string path = RecordPath(image.Id.ToString());
        var now = DateTimeOffset.UtcNow;
        var record = ReadImage(path) ?? new ImageRecord { Id = image.Id.ToString(), Created = now };
        if (!record.References.Contains(reference))
            record.References.Add(reference);
        record.Layers = [.. image.Layers.Select(l => l.DiffId.ToString())];
        record.LastUsed = now;
        string temp = path + "." + Guid.NewGuid().ToString("N");
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(record, ImageJson.Default.ImageRecord));
        File.Move(temp, path, overwrite: true);
    }

    private static ImageRecord? ReadImage(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ImageJson.Default.ImageRecord);
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The images the cache has records of, most recently used first.</summary>
    public IReadOnlyList<ImageRecord> List()
    {
        if (!Directory.Exists(Images))
            return [];
        return [.. Directory.EnumerateFiles(Images, "*.json").Select(ReadImage).OfType<ImageRecord>().OrderByDescending(r => r.LastUsed)];
    }

    /// <summary>The bytes of file content a layer holds, as unpacking counted them (0 when not cached).</summary>
    public long LayerBytes(string diffId) =>
        Digest.TryParse(diffId, out var d) && ReadRecord(LayerDirectory(d)) is { } r ? r.Bytes : 0;

    /// <summary>Whether the cache holds a layer.</summary>
    public bool HasLayer(string diffId) => Digest.TryParse(diffId, out var d) && Directory.Exists(LayerDirectory(d));

    /// <summary>What a removal or prune did.</summary>
    public sealed record Removal(IReadOnlyList<string> Images, IReadOnlyList<string> Layers, IReadOnlyList<string> Busy, long Bytes);

    /// <summary>
    /// Forgets the images <paramref name="selector"/> names (a reference as run, or an id or its
    /// prefix) and deletes their layers that no other image uses; null when none matches.
    /// </summary>
    public Removal? Remove(string selector)
    {
        var matches = List().Where(r => r.References.Contains(selector) || Matches(r.Id, selector)).ToList();
        if (matches.Count == 0)
            return null;
        foreach (var record in matches)
            File.Delete(RecordPath(record.Id));
        var removal = DeleteUnused();
        return removal with { Images = [.. matches.Select(m => m.Id)] };
    }

    private static bool Matches(string id, string selector)
    {
        string hex = id[(id.IndexOf(':') + 1)..];
        string want = selector.Contains(':') ? selector[(selector.IndexOf(':') + 1)..] : selector;
        return want.Length >= 4 && (selector.Contains(':') ? id.StartsWith(selector, StringComparison.Ordinal) : hex.StartsWith(want, StringComparison.Ordinal));
    }

    /// <summary>Deletes layers no image record uses and what unpacking left behind; with <paramref name="all"/>, every image first.</summary>
    public Removal Prune(bool all = false)
    {
        var forgotten = new List<string>();
        if (all)
        {
            foreach (var record in List())
            {
                File.Delete(RecordPath(record.Id));
                forgotten.Add(record.Id);
            }
        }
        return DeleteUnused() with { Images = forgotten };
    }

    private Removal DeleteUnused()
    {
        var used = List().SelectMany(r => r.Layers).ToHashSet(StringComparer.Ordinal);
        var deleted = new List<string>();
        var busy = new List<string>();
        long bytes = 0;
        if (Directory.Exists(Layers))
        {
            foreach (string algDir in Directory.EnumerateDirectories(Layers))
            {
                foreach (string dir in Directory.EnumerateDirectories(algDir))
                {
                    string id = $"{Path.GetFileName(algDir)}:{Path.GetFileName(dir)}";
                    if (used.Contains(id))
                        continue;
                    long size = ReadRecord(dir)?.Bytes ?? 0;
                    if (DeleteLocked(dir))
                    {
                        deleted.Add(id);
                        bytes += size;
                    }
                    else
                    {
                        busy.Add(id);
                    }
                }
            }
        }
        if (Directory.Exists(Temporary))
        {
            foreach (string dir in Directory.EnumerateDirectories(Temporary))
                DeleteLocked(dir);
        }
        return new Removal([], deleted, busy, bytes);
    }

    /// <summary>Deletes a directory unless a run or an unpack holds a lock on it: moved out of the cache first, so it is never half there.</summary>
    private bool DeleteLocked(string dir)
    {
        using var fd = OpenLocked(dir, LOCK_EX | LOCK_NB);
        if (fd is null)
            return !Directory.Exists(dir);
        string doomed = Path.Join(Temporary, "deleting-" + Guid.NewGuid().ToString("N"));
        if (!dir.StartsWith(Temporary + "/", StringComparison.Ordinal))
        {
            Directory.CreateDirectory(Temporary);
            if (Renameat2(AT_FDCWD, dir, AT_FDCWD, doomed, RENAME_NOREPLACE) != 0)
                return false;
            dir = doomed;
        }
        FileSystem.FileTree.Delete(dir);
        return true;
    }
}
