namespace Husk.Images;

/// <summary>
/// The files of an image as its format names them (<c>index.json</c>, <c>blobs/sha256/HEX</c>,
/// <c>manifest.json</c>, docker's <c>ID/layer.tar</c>), in a directory or a tar archive. Names come
/// from the image itself, so a name that would leave it (<c>..</c>, an absolute path) is refused.
/// </summary>
internal abstract class ImageFiles : IDisposable
{
    protected ImageFiles(string reference) => Reference = reference;

    /// <summary>The image reference, for messages.</summary>
    public string Reference { get; }

    /// <summary>The size of <paramref name="name"/>, or null when the image has no such file.</summary>
    public abstract long? SizeOf(string name);

    /// <summary>Opens <paramref name="name"/> for reading; a missing file is an <see cref="ImageException"/> naming it.</summary>
    public abstract Stream Open(string name);

    /// <summary>Small JSON files are read whole; past this they are refused rather than held in memory.</summary>
    public const int MaxJsonBytes = 16 << 20;

    /// <summary>Reads a small file (a manifest, a config) whole, or null when it is not there.</summary>
    public byte[]? ReadSmall(string name)
    {
        long? size = SizeOf(name);
        if (size is null)
            return null;
        if (size > MaxJsonBytes)
            throw new ImageException(Reference, $"{name}: {size} bytes, more than a manifest or config can be ({MaxJsonBytes})");
        using var stream = Open(name);
        var buffer = new MemoryStream((int)size.Value);
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>A file name from the image made relative and checked: no <c>..</c>, nothing empty.</summary>
    public string CheckName(string name, string what)
    {
        string clean = Normalize(name);
        if (clean.Length == 0 || clean.Split('/').Contains(".."))
            throw new ImageException(Reference, $"{what}: {name}: a file name that leaves the image");
        return clean;
    }

    /// <summary>"./a//b/" as "a/b"; a leading slash is dropped (the archive's root is the image's).</summary>
    internal static string Normalize(string name)
    {
        var parts = name.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");
        return string.Join('/', parts);
    }

    /// <summary>Opens the files of <paramref name="reference"/>.</summary>
    public static ImageFiles Open(ImageReference reference) => reference.Transport switch
    {
        ImageTransport.OciLayout => new DirectoryImageFiles(reference.Text, reference.Path),
        _ => TarImageFiles.Open(reference.Text, reference.Path),
    };

    public virtual void Dispose()
    {
    }
}
