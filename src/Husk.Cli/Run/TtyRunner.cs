using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Cli.Run;

/// <summary>
/// <c>husk run --tty</c>: the payload gets a pseudo-terminal from the sandbox's own devpts as its
/// controlling terminal, so it can neither inject input into the caller's terminal nor change its
/// modes. The supervisor relays bytes between the two and passes window-size changes on.
/// </summary>
internal static unsafe class TtyRunner
{
    internal const int TermiosSize = 128; // glibc's struct termios is 60 bytes; room to spare

    public static int Run(SandboxSpec spec, RunSession session)
    {
        WinSize ws = default;
        bool haveSize = Ioctl(1, TIOCGWINSZ, &ws) == 0 || Ioctl(0, TIOCGWINSZ, &ws) == 0;
        spec = spec with
        {
            Terminal = haveSize ? new TerminalSize(ws.Rows, ws.Cols) : new TerminalSize(24, 80),
            NewSession = true,
        };
        bool raw = IsATty(0) == 1;
        byte* saved = stackalloc byte[TermiosSize];
        if (raw)
            raw = MakeRaw(0, saved);
        int master = -1;
        Thread? output = null;
        using var winch = PosixSignalRegistration.Create(PosixSignal.SIGWINCH, ctx =>
        {
            ctx.Cancel = true;
            WinSize w;
            if (master >= 0 && (Ioctl(1, TIOCGWINSZ, &w) == 0 || Ioctl(0, TIOCGWINSZ, &w) == 0))
                Ioctl(master, TIOCSWINSZ, &w);
        });
        void Restore()
        {
            // The output pump ends with EIO once every process holding the terminal is gone.
            output?.Join(TimeSpan.FromSeconds(2));
            output = null;
            if (raw)
                TcSetAttr(0, TCSANOW, saved);
            raw = false;
            // The payload may have left the cursor keys and keypad in application mode (smkx),
            // above all when it was killed before it could say rmkx.
            ConsoleKeypad.Reset();
        }
        try
        {
            return session.Run(spec, started: p =>
            {
                master = p.TerminalMaster!.Fd;
                int m = master;
                new Thread(() => Pump(0, m)) { IsBackground = true, Name = "husk-tty-in" }.Start();
                output = new Thread(() => Pump(m, 1)) { IsBackground = true, Name = "husk-tty-out" };
                output.Start();
            }, ended: Restore);
        }
        finally
        {
            // Also when the run ended in an error before the payload's end was seen.
            Restore();
        }
    }

    /// <summary>Puts a terminal in raw mode, its modes saved to <paramref name="saved"/> (<see cref="TermiosSize"/> bytes); false when it is none.</summary>
    internal static bool MakeRaw(int fd, byte* saved)
    {
        if (TcGetAttr(fd, saved) != 0)
            return false;
        byte* t = stackalloc byte[TermiosSize];
        new Span<byte>(saved, TermiosSize).CopyTo(new Span<byte>(t, TermiosSize));
        CfMakeRaw(t);
        return TcSetAttr(fd, TCSANOW, t) == 0;
    }

    /// <summary>Copies from one descriptor to another until end of file or an error.</summary>
    internal static void Pump(int from, int to)
    {
        byte* buf = stackalloc byte[8192];
        while (true)
        {
            nint n = Read(from, buf, 8192);
            if (n <= 0)
                return;
            try
            {
                WriteAll(to, new ReadOnlySpan<byte>(buf, (int)n));
            }
            catch (SyscallException)
            {
                return;
            }
        }
    }
}
