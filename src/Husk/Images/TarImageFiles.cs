using System.Formats.Tar;

namespace Husk.Images;

/// <summary>
/// An image's files in an uncompressed tar archive (oci-archive, docker-archive), read in place:
/// one pass notes where each file's data lies, then files are read as windows of the archive.
/// Symlinks inside the archive (docker save links shared layers) are followed within it.
/// </summary>
internal sealed class TarImageFiles : ImageFiles
{
    private readonly string _path;
    private readonly Dictionary<string, (long Offset, long Length)> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _links = new(StringComparer.Ordinal);

    private TarImageFiles(string reference, string path)
        : base(reference) => _path = path;

    public static TarImageFiles Open(string reference, string path)
    {
        var files = new TarImageFiles(reference, path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageException(reference, $"{path}: {ErrorText.Reason(e)}");
        }
        using (stream)
        {
            Span<byte> magic = stackalloc byte[4];
            int n = stream.Read(magic);
            stream.Position = 0;
            if (n >= 2 && magic[0] == 0x1F && magic[1] == 0x8B)
                throw new ImageException(reference, $"{path}: a compressed archive: decompress it first (gunzip)");
            try
            {
                using var reader = new TarReader(stream, leaveOpen: true);
                while (reader.GetNextEntry(copyData: false) is { } entry)
                {
                    string name = Normalize(entry.Name);
                    // On a seekable stream the reader has already skipped the data and its padding to the next 512-byte block.
                    if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile)
                        files._files[name] = (stream.Position - ((entry.Length + 511) & ~511L), entry.Length);
                    else if (entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                        files._links[name] = entry.EntryType == TarEntryType.HardLink ? "/" + Normalize(entry.LinkName) : entry.LinkName;
                }
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
            {
                throw new ImageException(reference, $"{path}: not a tar archive, or a damaged one");
            }
        }
        return files;
    }

    /// <summary>The regular file <paramref name="name"/> names, following links within the archive, or null.</summary>
    private string? Resolve(string name)
    {
        string current = Normalize(name);
        for (int hops = 0; hops < 16; hops++)
        {
            if (_files.ContainsKey(current))
                return current;
            if (!_links.TryGetValue(current, out string? target))
                return null;
            string dir = current.Contains('/') ? current[..current.LastIndexOf('/')] : "";
            var parts = new List<string>();
            foreach (string part in (target.StartsWith('/') ? target : dir + "/" + target).Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                if (part == "..")
                {
                    if (parts.Count == 0)
                        return null;
                    parts.RemoveAt(parts.Count - 1);
                }
                else if (part != ".")
                {
                    parts.Add(part);
                }
            }
            current = string.Join('/', parts);
        }
        return null;
    }

    public override long? SizeOf(string name) => Resolve(CheckName(name, "file")) is { } file ? _files[file].Length : null;

    public override Stream Open(string name)
    {
        string clean = CheckName(name, "file");
        if (Resolve(clean) is not { } file)
            throw new ImageException(Reference, $"{clean}: missing");
        var (offset, length) = _files[file];
        var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        stream.Position = offset;
        return new WindowStream(stream, length);
    }

    /// <summary>A read-only window of <paramref name="length"/> bytes from the stream's position.</summary>
    private sealed class WindowStream(Stream inner, long length) : ReadOnlyStream
    {
        private long _left = length;

        public override long Length { get; } = length;

        public override int Read(Span<byte> buffer)
        {
            if (_left <= 0)
                return 0;
            int n = inner.Read(buffer[..(int)Math.Min(buffer.Length, _left)]);
            if (n == 0)
                throw new EndOfStreamException();
            _left -= n;
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
