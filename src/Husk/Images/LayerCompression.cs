using System.IO.Compression;

namespace Husk.Images;

/// <summary>
/// How a layer blob is compressed, told by its first bytes rather than its media type (docker
/// archives give none): gzip (System.IO.Compression), zstd (libzstd) or a plain tar.
/// </summary>
internal static class LayerCompression
{
    /// <summary>The decompressed view of <paramref name="blob"/>, which it takes over.</summary>
    public static Stream Decompress(Stream blob, out string kind)
    {
        var buffered = new BufferedStream(blob, 1 << 16);
        Span<byte> magic = stackalloc byte[4];
        int n = 0;
        // BufferedStream cannot peek: read the magic, then hand a stream that replays it.
        while (n < 4 && buffered.Read(magic[n..]) is int r and > 0)
            n += r;
        var replay = new ReplayStream(magic[..n].ToArray(), buffered);
        if (n >= 2 && magic[0] == 0x1F && magic[1] == 0x8B)
        {
            kind = "gzip";
            return new GZipStream(replay, CompressionMode.Decompress);
        }
        if (n == 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
        {
            kind = "zstd";
            return new ZstdDecompressionStream(replay);
        }
        kind = "tar";
        return replay;
    }

    /// <summary>Gives back bytes already read, then the rest of the stream.</summary>
    private sealed class ReplayStream(byte[] head, Stream rest) : ReadOnlyStream
    {
        private int _position;

        public override int Read(Span<byte> buffer)
        {
            if (_position < head.Length)
            {
                int n = Math.Min(buffer.Length, head.Length - _position);
                head.AsSpan(_position, n).CopyTo(buffer);
                _position += n;
                return n;
            }
            return rest.Read(buffer);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                rest.Dispose();
            base.Dispose(disposing);
        }
    }
}
