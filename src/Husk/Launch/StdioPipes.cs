using Husk.Interop;
using Husk.Resources;
using Microsoft.Win32.SafeHandles;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// The pipes (or /dev/null) behind the payload's standard descriptors when the spec asks for them:
/// the sandbox's ends are mapped onto 0, 1 and 2 and closed here once it has started; the
/// supervisor's ends become <see cref="SandboxProcess"/>'s streams, output counted.
/// </summary>
internal sealed class StdioPipes : IDisposable
{
    private readonly List<SafeFd> _childEnds = [];
    private SafeFd? _stdin, _stdout, _stderr;

    public static StdioPipes Create(SandboxSpec spec, out SandboxSpec withFds)
    {
        var pipes = new StdioPipes();
        var fds = spec.Fds;
        try
        {
            foreach (var (mode, fd) in new[] { (spec.StandardInput, 0), (spec.StandardOutput, 1), (spec.StandardError, 2) })
            {
                switch (mode)
                {
                    case StdioMode.Null:
                    {
                        var devNull = Open("/dev/null", O_RDWR);
                        pipes._childEnds.Add(devNull);
                        fds = fds.Add(new FdMapping(devNull, fd));
                        break;
                    }
                    case StdioMode.Pipe:
                    {
                        var (read, write) = Pipe();
                        var (ours, theirs) = fd == 0 ? (write, read) : (read, write);
                        pipes._childEnds.Add(theirs);
                        fds = fds.Add(new FdMapping(theirs, fd));
                        if (fd == 0)
                            pipes._stdin = ours;
                        else if (fd == 1)
                            pipes._stdout = ours;
                        else
                            pipes._stderr = ours;
                        break;
                    }
                }
            }
        }
        catch
        {
            pipes.Dispose();
            throw;
        }
        withFds = spec with { Fds = fds, StandardInput = StdioMode.Inherit, StandardOutput = StdioMode.Inherit, StandardError = StdioMode.Inherit };
        return pipes;
    }

    /// <summary>The sandbox has its copies now: ours must close, or the payload's output would never reach end of file.</summary>
    public void CloseChildEnds()
    {
        foreach (var fd in _childEnds)
            fd.Dispose();
        _childEnds.Clear();
    }

    /// <summary>The supervisor's ends as streams (stdin, stdout, stderr), output counted by <paramref name="supervisor"/>.</summary>
    public (Stream? In, Stream? Out, Stream? Err) TakeStreams(ResourceSupervisor? supervisor)
    {
        Stream? In = _stdin is null ? null : new FileStream(new SafeFileHandle(_stdin.Release(), true), FileAccess.Write, 0);
        Stream? Out = _stdout is null ? null : new OutputPipeStream(new FileStream(new SafeFileHandle(_stdout.Release(), true), FileAccess.Read, 0), supervisor, stderr: false);
        Stream? Err = _stderr is null ? null : new OutputPipeStream(new FileStream(new SafeFileHandle(_stderr.Release(), true), FileAccess.Read, 0), supervisor, stderr: true);
        _stdin = _stdout = _stderr = null;
        return (In, Out, Err);
    }

    public void Dispose()
    {
        CloseChildEnds();
        _stdin?.Dispose();
        _stdout?.Dispose();
        _stderr?.Dispose();
    }
}

/// <summary>The payload's standard output or error as the supervisor reads it: counted, and cut at the output limit.</summary>
internal sealed class OutputPipeStream : Stream
{
    private readonly FileStream inner;
    private readonly ResourceSupervisor? supervisor;
    private readonly bool stderr;
    private readonly ManualResetEventSlim _ended = new();
    private readonly object _gate = new();
    private bool _reading;
    private bool _over;
    // Bytes the supervisor counted from the pipe before any reader began, not read yet: a reader
    // does not count them again. Past the limit, only _budget of them may pass (-1: no cut).
    private long _precounted;
    private long _budget = -1;

    public OutputPipeStream(FileStream inner, ResourceSupervisor? supervisor, bool stderr)
    {
        this.inner = inner;
        this.supervisor = supervisor;
        this.stderr = stderr;
        supervisor?.Track(this);
    }

    /// <summary>
    /// Waits until a reader that has started has read to the end (the count is then final); false
    /// on timeout. When no reader has begun (its thread not scheduled yet, or none at all), what
    /// waits in the pipe is counted now, from the pipe (FIONREAD): the payload has ended, so that
    /// is what it left unread; a reader that comes later passes it without counting it again.
    /// </summary>
    internal unsafe bool WaitDrained(TimeSpan timeout)
    {
        lock (_gate)
        {
            if (!_reading)
            {
                int pending = 0;
                if (supervisor is not null && Interop.Interop.Ioctl((int)inner.SafeFileHandle.DangerousGetHandle(), FIONREAD, &pending) == 0 && pending > 0)
                {
                    int allowed = supervisor.Account(stderr, pending);
                    _precounted = pending;
                    if (allowed < pending)
                        _budget = allowed;
                }
                return true;
            }
        }
        return _ended.Wait(timeout);
    }

    private const nuint FIONREAD = 0x541B;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_over)
            return 0;
        Begin();
        return Pass(inner.Read(buffer));
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_over)
            return 0;
        Begin();
        return Pass(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>A read begins: from now on the supervisor waits for the reader's count.</summary>
    private void Begin()
    {
        lock (_gate)
            _reading = true;
    }

    /// <summary>What may pass of <paramref name="n"/> bytes just read; past the limit, the stream ends.</summary>
    private int Pass(int n)
    {
        if (n > 0)
        {
            long counted;
            lock (_gate)
            {
                counted = Math.Min(n, _precounted);
                _precounted -= counted;
                if (_budget >= 0)
                {
                    // Counted from the pipe past the limit: what was allowed passes, then the end.
                    n = (int)Math.Min(n, _budget);
                    _budget -= n;
                    if (_budget == 0)
                        _over = true;
                    counted = n;
                }
            }
            if (n > counted && supervisor is not null)
            {
                int allowed = supervisor.Account(stderr, (int)(n - counted));
                if (allowed < n - counted)
                    _over = true;
                n = (int)counted + allowed;
            }
        }
        if (n <= 0 || _over)
            _ended.Set();
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            _ended.Set();
        }
        base.Dispose(disposing);
    }
}
