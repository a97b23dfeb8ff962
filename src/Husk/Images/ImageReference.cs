namespace Husk.Images;

/// <summary>Where an image is read from.</summary>
internal enum ImageTransport
{
    /// <summary>An OCI image layout directory (<c>oci:DIR[:TAG]</c>), as skopeo and <c>podman save --format oci-dir</c> write it.</summary>
    OciLayout,
    /// <summary>An OCI image layout in a tar file (<c>oci-archive:FILE[:TAG]</c>).</summary>
    OciArchive,
    /// <summary>docker save's tar file (<c>docker-archive:FILE[:NAME:TAG|:@INDEX]</c>).</summary>
    DockerArchive,
}

/// <summary>
/// A parsed image reference, in skopeo's transport syntax: the transport, the path up to the first
/// colon after it, and what selects one image there (a tag, or for docker archives a repository
/// tag or <c>@INDEX</c>).
/// </summary>
internal sealed record ImageReference(ImageTransport Transport, string Path, string? Selector)
{
    /// <summary>The reference as given, for messages.</summary>
    public required string Text { get; init; }

    /// <summary>Parses <paramref name="text"/>; the path is made absolute against <paramref name="workingDirectory"/>.</summary>
    public static ImageReference Parse(string text, string? workingDirectory = null)
    {
        int colon = text.IndexOf(':');
        var transport = colon < 0 ? (ImageTransport?)null : text[..colon] switch
        {
            "oci" => ImageTransport.OciLayout,
            "oci-archive" => ImageTransport.OciArchive,
            "docker-archive" => ImageTransport.DockerArchive,
            _ => null,
        };
        if (transport is null)
            throw new ImageException(text, "unknown transport: write oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]");
        string rest = text[(colon + 1)..];
        int sep = rest.IndexOf(':');
        string path = sep < 0 ? rest : rest[..sep];
        string? selector = sep < 0 ? null : rest[(sep + 1)..];
        if (path.Length == 0)
            throw new ImageException(text, "no path given after the transport");
        if (selector is { Length: 0 })
            selector = null;
        return new ImageReference(transport.Value, System.IO.Path.GetFullPath(path, workingDirectory ?? Directory.GetCurrentDirectory()), selector) { Text = text };
    }
}
