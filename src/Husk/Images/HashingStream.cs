using System.Security.Cryptography;

namespace Husk.Images;

/// <summary>Passes reads through while hashing every byte, so a blob is verified as it is consumed.</summary>
internal sealed class HashingStream(Stream inner, IncrementalHash hash) : ReadOnlyStream
{
    /// <summary>Bytes read so far.</summary>
    public long Count { get; private set; }

    public override int Read(Span<byte> buffer)
    {
        int n = inner.Read(buffer);
        hash.AppendData(buffer[..n]);
        Count += n;
        return n;
    }

    /// <summary>Reads what is left (tar's trailing padding, say), so the hash covers the whole stream.</summary>
    public void Drain()
    {
        byte[] buffer = new byte[1 << 16];
        while (Read(buffer) > 0)
        {
        }
    }

    /// <summary>The hash of everything read, as lower-case hex.</summary>
    public string Hex() => Convert.ToHexStringLower(hash.GetHashAndReset());

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
