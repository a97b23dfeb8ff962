using static Husk.Interop.Interop;

namespace Husk.Images;

/// <summary>A read-only stream that decompresses zstd frames from another (libzstd's streaming API).</summary>
internal sealed unsafe class ZstdDecompressionStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly byte[] _input = new byte[1 << 17];
    private int _inputLength, _inputPosition;
    private nint _stream;
    private nuint _lastHint;
    private bool _innerDone;

    public ZstdDecompressionStream(Stream inner)
    {
        _inner = inner;
        _stream = Zstd.CreateDStream();
        if (_stream == 0)
            throw new OutOfMemoryException("ZSTD_createDStream");
        Zstd.InitDStream(_stream);
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0)
            return 0;
        while (true)
        {
            if (_inputPosition == _inputLength && !_innerDone)
            {
                _inputLength = _inner.Read(_input);
                _inputPosition = 0;
                _innerDone = _inputLength == 0;
            }
            if (_inputPosition == _inputLength && _innerDone)
            {
                // A hint of 0 means the last frame ended; anything else is a cut-off stream.
                if (_lastHint != 0)
                    throw new InvalidDataException("zstd: the compressed data ends in the middle of a frame");
                return 0;
            }
            fixed (byte* src = _input)
            fixed (byte* dst = buffer)
            {
                var input = new Zstd.InBuffer { Source = src, Size = (nuint)_inputLength, Position = (nuint)_inputPosition };
                var output = new Zstd.OutBuffer { Destination = dst, Size = (nuint)buffer.Length, Position = 0 };
                nuint hint = Zstd.DecompressStream(_stream, &output, &input);
                if (Zstd.IsError(hint) != 0)
                    throw new InvalidDataException("zstd: " + Zstd.ErrorName(hint));
                _lastHint = hint;
                _inputPosition = (int)input.Position;
                if (output.Position > 0)
                    return (int)output.Position;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (_stream != 0)
        {
            Zstd.FreeDStream(_stream);
            _stream = 0;
        }
        if (disposing)
            _inner.Dispose();
        base.Dispose(disposing);
    }
}
