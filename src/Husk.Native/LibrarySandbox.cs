using Husk.Cli.Run;
using Husk.Interop;
using Husk.Layers;
using Husk.Policy;
using static Husk.Interop.Interop;

namespace Husk.Native;

/// <summary>
/// One sandbox started through the C ABI: the process, the caller's ends of its "pipe" streams,
/// the threads relaying counted output to the caller, and the overlay layer the run wrote to.
/// </summary>
internal sealed class LibrarySandbox : IDisposable
{
    private readonly SandboxProcess _process;
    private readonly RunArguments _arguments;
    private readonly List<Thread> _relays = [];
    private readonly SafeFd?[] _callerEnds = new SafeFd?[3];
    private readonly object _gate = new();
    private SandboxRoot? _root;
    private bool _rootIsNew;
    private Task<SandboxResult>? _wait;
    private string? _report;

    static LibrarySandbox()
    {
        // The host's ignored signals are its own (Python ignores SIGXFSZ): payloads start with the
        // default dispositions, as subprocess's restore_signals gives them.
        HuskForgetIgnoredSignals();
    }

    private LibrarySandbox(SandboxProcess process, RunArguments arguments)
    {
        _process = process;
        _arguments = arguments;
    }

    /// <summary>The pid of the sandbox's first process.</summary>
    public int Pid => _process.Pid;

    /// <summary>
    /// Starts <paramref name="spec"/>. A policy decides the calls <see cref="LibrarySpec.Syscalls"/> names.
    /// </summary>
    /// <exception cref="LibrarySpecException">The spec cannot run as given.</exception>
    /// <exception cref="SandboxSetupException">Setting the sandbox up failed.</exception>
    /// <param name="pool">The pool the sandbox starts from, or null for a cold start.</param>
    public static LibrarySandbox Start(LibrarySpec spec, Func<SyscallRequest, SyscallDecision>? policy, bool blocking, SandboxPool? pool = null)
    {
        if (policy is null && spec.Syscalls.Length > 0)
            throw new LibrarySpecException(["syscalls are decided by a policy callback: pass one, or drop syscalls"]);
        if (policy is not null && spec.Syscalls.Length == 0)
            throw new LibrarySpecException(["a policy callback needs the system calls it decides: list them in syscalls"]);
        if (blocking && spec.Streams.Any(s => s.Choice == StreamChoice.Pipe))
            throw new LibrarySpecException(["a \"pipe\" stream needs husk_start: husk_run has nobody to read or write it"]);

        var s = spec.Sandbox;
        if (policy is not null)
            s = s with { SyscallCallback = new SyscallCallback(spec.Syscalls, policy) { Traced = spec.TracePolicy } };
        var targets = new (int Fd, SafeFd? Owned)?[3];
        var callerEnds = new SafeFd?[3];
        try
        {
            s = ApplyStreams(s, spec.Streams, targets, callerEnds);
            var (root, rootIsNew) = OpenLayer(s);
            SandboxProcess process;
            try
            {
                process = pool is null ? Sandbox.Start(s) : pool.Start(s);
            }
            catch
            {
                if (root is not null && rootIsNew && root.Changes().Count == 0)
                    TryDelete(root);
                throw;
            }
            var sandbox = new LibrarySandbox(process, spec.Arguments) { _root = root, _rootIsNew = rootIsNew };
            if (spec.Streams[0].Choice == StreamChoice.Pipe && process.StandardInput is FileStream stdin)
            {
                // The caller writes the payload's input itself: our end is handed over, and ours closed.
                int fd = Fcntl((int)stdin.SafeFileHandle.DangerousGetHandle(), F_DUPFD_CLOEXEC, 3);
                stdin.Dispose();
                if (fd < 0)
                    throw SyscallException.FromLastError("fcntl", "stdin");
                callerEnds[0] = new SafeFd(fd);
            }
            else
            {
                process.StandardInput?.Dispose();
            }
            for (int i = 0; i < 3; i++)
            {
                sandbox._callerEnds[i] = callerEnds[i];
                callerEnds[i] = null;
            }
            sandbox.Relay(process.StandardOutput, targets[1]);
            sandbox.Relay(process.StandardError, targets[2]);
            return sandbox;
        }
        catch
        {
            // Nothing was handed over: the pipes made for the caller go.
            foreach (var end in callerEnds)
                end?.Dispose();
            foreach (var t in targets)
                t?.Owned?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The streams as the spec says, on top of what the options asked: the caller's standard
    /// output and error, when husk counts them (an output limit), stay a pipe to us and are
    /// relayed; a descriptor the caller names is the payload's own.
    /// </summary>
    private static SandboxSpec ApplyStreams(SandboxSpec s, IReadOnlyList<StreamSpec> streams, (int Fd, SafeFd? Owned)?[] targets, SafeFd?[] callerEnds)
    {
        var stdin = streams[0];
        s = stdin.Choice switch
        {
            StreamChoice.Null => s with { StandardInput = StdioMode.Null },
            StreamChoice.Pipe => s with { StandardInput = StdioMode.Pipe },
            StreamChoice.Descriptor when stdin.Fd != 0 => s with { Fds = s.Fds.Add(new FdMapping(Descriptors.Borrow(stdin.Fd), 0)) },
            _ => s,
        };
        for (int fd = 1; fd <= 2; fd++)
        {
            var want = streams[fd];
            bool counted = (fd == 1 ? s.StandardOutput : s.StandardError) == StdioMode.Pipe;
            StdioMode mode = counted ? StdioMode.Pipe : StdioMode.Inherit;
            switch (want.Choice)
            {
                case StreamChoice.Null:
                    mode = StdioMode.Null;
                    break;
                case StreamChoice.Pipe:
                {
                    var (read, write) = Pipe();
                    callerEnds[fd] = read;
                    targets[fd] = (write.Fd, write);
                    mode = StdioMode.Pipe;
                    break;
                }
                case StreamChoice.Inherit when counted:
                    targets[fd] = (fd, null);
                    break;
                case StreamChoice.Descriptor:
                    // The caller's own descriptor is the payload's, as is: husk counts nothing
                    // through it (an output limit still caps regular files, by RLIMIT_FSIZE).
                    mode = StdioMode.Inherit;
                    if (want.Fd != fd)
                        s = s with { Fds = s.Fds.Add(new FdMapping(Descriptors.Borrow(want.Fd), fd)) };
                    break;
            }
            s = fd == 1 ? s with { StandardOutput = mode } : s with { StandardError = mode };
        }
        return s;
    }

    /// <summary>The overlay mode's layer: made or resumed here, kept or removed when the run ends.</summary>
    private static (SandboxRoot? Root, bool IsNew) OpenLayer(SandboxSpec s)
    {
        if (s.FileSystem is not HostOverlayFileSystem overlay || !s.Namespaces.HasFlag(NamespaceKinds.Mount))
            return (null, false);
        bool isNew = SandboxRoot.Open(overlay.Root) is null;
        try
        {
            return (SandboxRoot.CreateOrOpen(overlay.Root), isNew);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LibrarySpecException([$"--root {overlay.Root}: {ErrorText.Detail(e, overlay.Root)}"]);
        }
    }

    /// <summary>Copies counted output to the caller's descriptor; a caller that stopped reading does not block the payload.</summary>
    private void Relay(Stream? from, (int Fd, SafeFd? Owned)? target)
    {
        if (from is null)
            return;
        var t = new Thread(() =>
        {
            // A reader that went away must not kill the host with SIGPIPE: the write fails instead.
            BlockSignalOnThisThread(Signals.SIGPIPE);
            byte[] buffer = new byte[64 * 1024];
            bool open = target is not null;
            int n;
            try
            {
                while ((n = from.Read(buffer)) > 0)
                {
                    if (!open)
                        continue;
                    try
                    {
                        WriteAll(target!.Value.Fd, buffer.AsSpan(0, n));
                    }
                    catch (SyscallException)
                    {
                        open = false;
                    }
                }
            }
            finally
            {
                target?.Owned?.Dispose();
            }
        }) { IsBackground = true, Name = "husk-relay" };
        t.Start();
        _relays.Add(t);
    }

    /// <summary>The caller's end of a "pipe" stream, once.</summary>
    public int TakeStream(int fd)
    {
        lock (_gate)
        {
            if (fd is < 0 or > 2 || _callerEnds[fd] is not { } end)
                return -1;
            _callerEnds[fd] = null;
            return end.Release();
        }
    }

    /// <summary>Sends a signal; SIGKILL kills the whole tree.</summary>
    public void Signal(int signal)
    {
        if (signal == Signals.SIGKILL)
            _process.Kill();
        else
            _process.Signal(signal);
    }

    /// <summary>The result as JSON once the sandbox has ended, or null when it still runs after <paramref name="timeout"/>.</summary>
    public string? Wait(TimeSpan timeout)
    {
        Task<SandboxResult> wait;
        lock (_gate)
            wait = _wait ??= _process.WaitAsync();
        if (timeout != Timeout.InfiniteTimeSpan ? !wait.Wait(timeout) : !wait.Wait(-1))
            return null;
        lock (_gate)
        {
            if (_report is not null)
                return _report;
            var result = wait.Result;
            foreach (var relay in _relays)
                relay.Join();
            string? layer = FinishLayer();
            return _report = ResultReport.ToJson(result, layer);
        }
    }

    /// <summary>
    /// What the options said for the layer (--commit, --discard, --keep); otherwise, as husk run
    /// does without a terminal, it is kept when it holds changes. Returns the kept root, or null.
    /// </summary>
    private string? FinishLayer()
    {
        if (_root is not { } root)
            return null;
        try
        {
            _process.MergeLayerStorage();
        }
        catch (IOException)
        {
            return root.Path; // left where it is: the caller can still look at it
        }
        finally
        {
            _process.DisposeLayerStorage();
        }
        var changes = root.Changes();
        switch (_arguments.AfterRun)
        {
            case LayerFate.Discard:
                return TryDelete(root) ? null : root.Path;
            case LayerFate.Commit when changes.Count > 0:
                var report = Committer.Apply(changes);
                return report.Complete && TryDelete(root) ? null : root.Path;
            case LayerFate.Keep:
                return root.Path;
            default:
                if (changes.Count == 0 && _rootIsNew)
                    return TryDelete(root) ? null : root.Path;
                return changes.Count == 0 ? null : root.Path;
        }
    }

    private static bool TryDelete(SandboxRoot root)
    {
        try
        {
            root.Delete();
            return true;
        }
        catch (SyscallException)
        {
            return false;
        }
    }

    /// <summary>Kills a sandbox still running, waits for it, and lets everything go.</summary>
    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill();
        try
        {
            Wait(Timeout.InfiniteTimeSpan);
        }
        catch (Exception e) when (e is AggregateException or SyscallException or IOException)
        {
            // Freeing must not fail: the sandbox is gone either way.
        }
        foreach (var end in _callerEnds)
            end?.Dispose();
        _process.Dispose();
    }
}
