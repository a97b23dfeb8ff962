using System.Runtime.InteropServices;
using Husk.Launch;
using static Husk.Interop.Interop;
using static Husk.Interop.Interop.Signals;

namespace Husk.Cli;

/// <summary>
/// Runs a spec to completion for a command-line front door: starts it, forwards signals, waits.
/// Signals the terminal sends to the whole foreground group (SIGINT, SIGQUIT) already reach a
/// payload that shares our process group, so they are forwarded only to one in a new session or
/// a process group of its own (which holds the terminal: those reaching us were sent by someone).
/// </summary>
internal static class SandboxRunner
{
    public static SandboxExit Run(SandboxSpec spec, LaunchHooks? hooks = null, Action<SandboxProcess>? started = null, HostContext? host = null) =>
        RunToResult(spec, hooks, started, host).Exit!;

    /// <summary>As <see cref="Run"/>, with the usage and verdict.</summary>
    public static SandboxResult RunToResult(SandboxSpec spec, LaunchHooks? hooks = null, Action<SandboxProcess>? started = null, HostContext? host = null)
    {
        SandboxProcess? process = null;
        var gate = new object();
        void Forward(PosixSignalContext ctx)
        {
            int sig = FromPosixSignal(ctx.Signal);
            if ((sig == SIGINT || sig == SIGQUIT) && !spec.NewSession && spec.ForegroundTerminal is null)
            {
                ctx.Cancel = true; // the payload (or the child still setting up) got it from the terminal itself
                return;
            }
            lock (gate)
            {
                // Before the payload runs there is nobody to forward to: the signal's default action
                // ends the supervisor, and the child, still setting up, dies with it.
                ctx.Cancel = process is not null;
                process?.Signal(sig);
            }
        }
        // husk-init's list, but SIGWINCH: a window change reaches the payload through its terminal
        // (TtyRunner resizes the sandbox's own).
        // A plain loop: LINQ's Select over ints costs a generic virtual method lookup on a cold start.
        var registrations = new List<PosixSignalRegistration>();
        foreach (int sig in InMask(ForwardedSignals & ~Bit(SIGWINCH)))
            registrations.Add(PosixSignalRegistration.Create(ToPosixSignal(sig), Forward));
        try
        {
            var p = Launcher.Start(spec, hooks, host);
            p.LeaveZombie = true;
            lock (gate)
                process = p;
            started?.Invoke(p);
            return p.WaitForResult();
        }
        finally
        {
            foreach (var r in registrations)
                r.Dispose();
        }
    }
}
