using System.Text;
using Husk.Interop;

namespace Husk.Tracing;

/// <summary>
/// Where trace lines go: a descriptor of the caller's (written at once, line by line, so they
/// interleave with the program's own output there as they happened) or a file (buffered, and
/// flushed at least every 100 ms, so a reader following it is not far behind).
/// </summary>
internal sealed class TraceWriter : IDisposable
{
    private readonly object _gate = new();
    private readonly SafeFd? _file;
    private readonly int _fd;
    private readonly bool _immediate;
    private readonly MemoryStream _buffer = new();
    private readonly Timer? _timer;
    private bool _failed;

    private TraceWriter(int fd, SafeFd? file, bool immediate)
    {
        _fd = fd;
        _file = file;
        _immediate = immediate;
        if (!immediate)
            _timer = new Timer(_ => Flush(), null, 100, 100);
    }

    /// <summary>Lines to the caller's descriptor <paramref name="fd"/>, which stays the caller's.</summary>
    public static TraceWriter ToDescriptor(int fd) => new(fd, null, immediate: true);

    /// <summary>Lines to <paramref name="path"/>, created or truncated; throws <see cref="SyscallException"/>.</summary>
    public static TraceWriter ToFile(string path)
    {
        var file = Interop.Interop.Open(path, Interop.Interop.O_WRONLY | Interop.Interop.O_CREAT | Interop.Interop.O_TRUNC | Interop.Interop.O_CLOEXEC, 0x1B6);
        return new TraceWriter(file.Fd, file, immediate: false);
    }

    public void Write(string text)
    {
        int count = Encoding.UTF8.GetByteCount(text);
        lock (_gate)
        {
            int at = (int)_buffer.Length;
            _buffer.SetLength(at + count);
            Encoding.UTF8.GetBytes(text, _buffer.GetBuffer().AsSpan(at, count));
            if (_immediate || _buffer.Length >= 64 * 1024)
                FlushLocked();
        }
    }

    public void Flush()
    {
        lock (_gate)
            FlushLocked();
    }

    private void FlushLocked()
    {
        if (_buffer.Length == 0)
            return;
        if (!_failed)
        {
            try
            {
                Interop.Interop.WriteAll(_fd, _buffer.GetBuffer().AsSpan(0, (int)_buffer.Length));
            }
            catch (SyscallException)
            {
                // A reader that went away (EPIPE) or a full disk must not stop the program: lines are dropped.
                _failed = true;
            }
        }
        _buffer.SetLength(0);
    }

    public void Dispose()
    {
        _timer?.Dispose();
        Flush();
        _file?.Dispose();
    }
}
