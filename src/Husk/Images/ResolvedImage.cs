namespace Husk.Images;

/// <summary>One layer as the manifest names it: where its blob is, the blob's digest and size when known, and its diff id.</summary>
/// <param name="Index">Its place, bottom first, counting from 1 (for messages).</param>
/// <param name="BlobName">The file holding the blob in the image.</param>
/// <param name="BlobDigest">The digest of the blob as stored (compressed), when the format gives one.</param>
/// <param name="Size">The blob's size as the manifest says it, when it does.</param>
/// <param name="DiffId">The digest of the uncompressed tar (the config's <c>rootfs.diff_ids</c>): the layer cache's key.</param>
internal sealed record ImageLayer(int Index, string BlobName, Digest? BlobDigest, long? Size, Digest DiffId)
{
    /// <summary>How messages name the layer.</summary>
    public string Name => $"layer {Index} ({(BlobDigest ?? DiffId).Short})";
}

/// <summary>
/// An image read and checked from its format: the config (verified against its digest, and the
/// manifest against its own where the format has one) and the layers to stack, bottom first.
/// </summary>
internal sealed record ResolvedImage(string Reference, Digest Id, ImageConfig Config, IReadOnlyList<ImageLayer> Layers);
