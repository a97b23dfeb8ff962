using Husk.Interop;

namespace Husk.Cli;

/// <summary>How a front door ends once its payload has.</summary>
internal static class ExitStatus
{
    /// <summary>
    /// Ends this process the way the payload ended, as if it had exec'd the payload itself: the
    /// same exit code, or death by the same signal (without a second core dump). Returns the
    /// shell-style status only if the signal does not kill us.
    /// </summary>
    public static int DieLike(SandboxExit exit)
    {
        if (exit.Signal is not { } sig)
            return exit.ExitCode ?? 1;
        Interop.Interop.LowerSoftLimit(Interop.Interop.RLIMIT_CORE, 0);
        Interop.Interop.DefaultSignalAction(sig);
        Interop.Interop.Kill(Interop.Interop.GetPid(), sig);
        // A stop signal, or one that a thread of ours has blocked: report it as a shell would.
        Thread.Sleep(100);
        return exit.ShellStatus;
    }
}
