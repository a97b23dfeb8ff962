using System.Security.Cryptography;

namespace Husk.Images;

/// <summary>
/// A content digest as OCI writes it, <c>ALGORITHM:HEX</c> (sha256 or sha512, lower-case hex of the
/// full length). Parsing refuses anything else, so a digest is always safe as a file name.
/// </summary>
internal readonly record struct Digest(string Algorithm, string Hex)
{
    public override string ToString() => $"{Algorithm}:{Hex}";

    /// <summary>The first 12 hex digits, as image tools show ids.</summary>
    public string Short => Hex[..12];

    /// <summary>Parses <paramref name="text"/>, or returns false.</summary>
    public static bool TryParse(string? text, out Digest digest)
    {
        digest = default;
        if (text is null)
            return false;
        int colon = text.IndexOf(':');
        if (colon <= 0)
            return false;
        string algorithm = text[..colon], hex = text[(colon + 1)..];
        int length = algorithm switch { "sha256" => 64, "sha512" => 128, _ => 0 };
        if (length == 0 || hex.Length != length || !hex.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
            return false;
        digest = new Digest(algorithm, hex);
        return true;
    }

    /// <summary>A running hash of this digest's algorithm.</summary>
    public IncrementalHash NewHash() => IncrementalHash.CreateHash(Algorithm == "sha512" ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256);

    /// <summary>The sha256 digest of <paramref name="data"/>.</summary>
    public static Digest Sha256(ReadOnlySpan<byte> data) => new("sha256", Convert.ToHexStringLower(SHA256.HashData(data)));

    /// <summary>The digest of <paramref name="data"/> in this digest's algorithm.</summary>
    public Digest Of(ReadOnlySpan<byte> data)
    {
        using var hash = NewHash();
        hash.AppendData(data);
        return new Digest(Algorithm, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
