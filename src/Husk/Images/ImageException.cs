namespace Husk.Images;

/// <summary>
/// An image could not be read or unpacked: a malformed manifest or config, a digest that does not
/// match, a missing blob, a layer entry that would leave the layer. The message names the image
/// and the field, blob or layer at fault, as one line.
/// </summary>
public sealed class ImageException : Exception
{
    internal ImageException(string reference, string problem)
        : base($"image {reference}: {problem}")
    {
        Reference = reference;
        Problem = problem;
    }

    /// <summary>The image reference as given (<c>oci:DIR:TAG</c>, ...).</summary>
    public string Reference { get; }

    /// <summary>What was wrong, without the reference.</summary>
    public string Problem { get; }
}
