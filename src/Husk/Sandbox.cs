using Husk.Launch;

namespace Husk;

/// <summary>Starts sandboxes. Safe to call from any thread, for many sandboxes at once.</summary>
public static class Sandbox
{
    /// <summary>
    /// Starts <paramref name="spec"/> and returns once the payload has been executed. Throws
    /// <see cref="SandboxSpecException"/> for a spec that cannot run (every problem listed) and
    /// <see cref="SandboxSetupException"/> when setting it up failed (naming the step and path).
    /// Dispose the process: a sandbox still running then is killed, and its cgroup removed.
    /// </summary>
    public static SandboxProcess Start(SandboxSpec spec) => Launcher.Start(spec);

    /// <summary>
    /// Runs <paramref name="spec"/> to the end and returns the outcome: exit, usage and verdict.
    /// Standard output and error made pipes (<see cref="StdioMode.Pipe"/>) are captured into the
    /// result (no more than the output limit, or 64 MiB without one); a piped standard input gets
    /// end of file at once. A sandbox that cannot be set up gives <see cref="Verdict.InternalError"/>
    /// with the reason; a spec that cannot run throws <see cref="SandboxSpecException"/>.
    /// Cancellation kills the whole tree, waits for it to end and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public static Task<SandboxResult> RunAsync(SandboxSpec spec, CancellationToken cancellationToken = default) =>
        RunStartedAsync(spec, () => Launcher.Start(spec), cancellationToken);

    /// <summary><see cref="RunAsync(SandboxSpec, CancellationToken)"/> for a sandbox <paramref name="start"/> starts (cold, or from a pool).</summary>
    internal static async Task<SandboxResult> RunStartedAsync(SandboxSpec spec, Func<SandboxProcess> start, CancellationToken cancellationToken)
    {
        SandboxProcess process;
        try
        {
            process = await Task.Run(start, cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxSetupException e)
        {
            return new SandboxResult { Usage = new ResourceUsage(), Verdict = Verdict.InternalError, Message = e.Message, Limits = spec.Limits };
        }
        using (process)
        {
            process.StandardInput?.Dispose();
            long cap = spec.Limits.OutputBytes ?? 64L << 20;
            var stdout = Capture(process.StandardOutput, cap, process, cancellationToken);
            var stderr = Capture(process.StandardError, cap, process, cancellationToken);
            var result = await process.WaitAsync(cancellationToken).ConfigureAwait(false);
            // The tree is gone by now (the wait killed it and saw it end).
            cancellationToken.ThrowIfCancellationRequested();
            return result with { StandardOutput = await stdout.ConfigureAwait(false), StandardError = await stderr.ConfigureAwait(false) };
        }
    }

    /// <summary>Reads a payload's output stream to its end, keeping at most <paramref name="cap"/> bytes.</summary>
    /// <remarks>
    /// A thread of its own while it reads, reading synchronously: the verdict waits for the count,
    /// and thread-pool reads could starve behind the waits of many concurrent sandboxes. The
    /// thread is kept for the next sandbox's output (<see cref="Launch.ReaderThreads"/>).
    /// </remarks>
    private static Task<byte[]?> Capture(Stream? stream, long cap, SandboxProcess process, CancellationToken ct)
    {
        if (stream is null)
            return Task.FromResult<byte[]?>(null);
        return Launch.ReaderThreads.Run(() =>
        {
            var kept = new MemoryStream();
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                using (ct.Register(process.Kill))
                {
                    int n;
                    while ((n = stream.Read(buffer)) > 0)
                    {
                        int keep = (int)Math.Min(n, cap - kept.Length);
                        if (keep > 0)
                            kept.Write(buffer, 0, keep);
                    }
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            return (byte[]?)kept.ToArray();
        });
    }
}
