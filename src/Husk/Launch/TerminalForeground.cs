using System.Runtime.InteropServices;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// The caller's terminal lent to a sandbox (<see cref="SandboxSpec.ForegroundTerminal"/>), as a
/// shell lends it to a job: the sandbox's process group is the terminal's foreground group while
/// it runs. When the payload stops (Ctrl-Z), the supervisor takes the terminal back and stops with
/// the same signal, so the caller's shell sees its job stopped; once continued, it lends the
/// terminal again if it has it (fg, not bg) and continues the sandbox.
/// </summary>
internal sealed class TerminalForeground
{
    private const int SIGSTOP = 19, SIGCONT = 18, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;
    private readonly int _fd;
    private readonly int _caller;
    private readonly int _sandbox;
    private readonly object _gate = new();
    private bool _lent;
    private bool _ended;

    // .NET answers SIGCONT by putting back its own terminal modes (System.Native's
    // ReinitializeTerminal), on its signal thread, racing the lend below: once the sandbox's group
    // has the terminal again, that tcsetattr comes from a background group, the kernel sends the
    // supervisor SIGTTOU and it stops again right after fg. While a terminal is lent, SIGCONT is
    // handled here and the runtime's reinitialization cancelled; the terminal's modes are the
    // payload's, and the continue itself is the kernel's.
    private static readonly object s_registrationGate = new();
    private static PosixSignalRegistration? s_continued;
    private static int s_lends;

    private TerminalForeground(int fd, int caller, int sandbox)
    {
        _fd = fd;
        _caller = caller;
        _sandbox = sandbox;
    }

    /// <summary>
    /// Puts the sandbox's first process, which has not started the payload yet, in a process group
    /// of its own (its children inherit it) and lends that group the terminal on <paramref name="fd"/>
    /// when the caller's group is its foreground group. Null when the group cannot be made.
    /// </summary>
    public static TerminalForeground? Lend(int fd, int childPid)
    {
        if (SetPgid(childPid, childPid) != 0)
            return null;
        lock (s_registrationGate)
        {
            if (s_lends++ == 0)
                s_continued = PosixSignalRegistration.Create(PosixSignal.SIGCONT, static context => context.Cancel = true);
        }
        var lent = new TerminalForeground(fd, GetPgrp(), childPid);
        if (IsForegroundOf(fd))
            lent._lent = SetTerminalForeground(fd, childPid);
        return lent;
    }

    /// <summary>
    /// Gives the caller's group the terminal back, unless the caller's shell (the session leader's
    /// group) has taken it meanwhile, which happens when the supervisor itself was stopped.
    /// </summary>
    public void Return()
    {
        lock (_gate)
        {
            int now = TcGetPgrp(_fd);
            if (_lent && now != _caller && now != GetSid(0))
                SetTerminalForeground(_fd, _caller);
            _lent = false;
        }
    }

    /// <summary>The sandbox is done with the terminal: <see cref="Return"/> it, for good.</summary>
    public void End()
    {
        Return();
        lock (_gate)
        {
            if (_ended)
                return;
            _ended = true;
        }
        lock (s_registrationGate)
        {
            if (--s_lends == 0)
            {
                s_continued?.Dispose();
                s_continued = null;
            }
        }
    }

    /// <summary>The payload stopped with <paramref name="signal"/>: stop with it, then continue it.</summary>
    public void Stopped(int signal)
    {
        // Where the caller holds the terminal already, its shell continued it (fg) after stopping it
        // some other way: the sandbox stopped on reading the terminal in the background, and goes on.
        if (TcGetPgrp(_fd) != _caller)
        {
            Return();
            // Returns once continued, or at once in an orphaned process group, where the kernel
            // discards stop signals (nobody could continue it).
            Raise(signal is SIGTSTP or SIGTTIN or SIGTTOU ? signal : SIGSTOP);
        }
        lock (_gate)
        {
            if (TcGetPgrp(_fd) == _caller)
                _lent = SetTerminalForeground(_fd, _sandbox);
        }
        Kill(-_sandbox, SIGCONT);
    }
}
