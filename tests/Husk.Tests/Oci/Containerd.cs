using System.Diagnostics;

namespace Husk.Tests.Oci;

/// <summary>
/// A containerd daemon of a test's own: its config, root, state and socket in an
/// <see cref="EngineScratch"/>, its log beside them. Stopped with SIGTERM, as its service would be.
/// </summary>
internal sealed class Containerd : IDisposable
{
    private readonly Process _process;

    public Containerd(EngineScratch scratch, string config)
    {
        Socket = Path.Combine(scratch.Directory, "containerd.sock");
        string log = Path.Combine(scratch.Directory, "containerd.log");
        // Through sh, so that its output goes to a file: a pipe nobody reads would fill.
        _process = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", "exec containerd --config \"$0\" >\"$1\" 2>&1", config, log])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
        })!;
        var wait = Stopwatch.StartNew();
        while (!File.Exists(Socket))
        {
            if (_process.HasExited || wait.Elapsed > TimeSpan.FromSeconds(30))
                Assert.Fail($"containerd {(_process.HasExited ? "exited" : "did not listen")}: {(File.Exists(log) ? File.ReadAllText(log) : "")}");
            Thread.Sleep(50);
        }
    }

    /// <summary>Its gRPC socket, for ctr -a.</summary>
    public string Socket { get; }

    /// <summary>SIGTERM, then waits for it to exit.</summary>
    public void Stop()
    {
        if (_process.HasExited)
            return;
        using (var pidfd = Husk.Interop.Interop.PidfdOpen(_process.Id))
        {
            if (pidfd is not null)
                Husk.Interop.Interop.PidfdSendSignal(pidfd, Husk.Interop.Interop.Signals.SIGTERM);
        }
        if (!_process.WaitForExit(30_000))
            _process.Kill();
        _process.WaitForExit();
    }

    public void Dispose()
    {
        Stop();
        _process.Dispose();
    }
}
