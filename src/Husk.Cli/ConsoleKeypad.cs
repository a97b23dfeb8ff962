namespace Husk.Cli;

/// <summary>
/// The terminal's cursor keys and keypad back in normal mode. System.Console, at its first use on a
/// terminal, sends keypad_xmit ("\e[?1h\e=": application cursor keys and keypad) and never the way
/// back, so after a .NET program the shell's arrow keys send other codes (dotnet/runtime#27626); a
/// payload killed on a pseudo-terminal of --tty leaves the same behind. The native CLI resets both
/// (DECCKM and DECKPAM) when it is done with the terminal.
/// </summary>
internal static class ConsoleKeypad
{
    /// <summary>Writes the reset to the terminal System.Console uses (standard output, else input), when this process is in its foreground.</summary>
    public static void Reset()
    {
        int fd = Interop.Interop.IsATty(1) == 1 ? 1 : Interop.Interop.IsATty(0) == 1 ? 0 : -1;
        if (fd < 0 || !Interop.Interop.IsForegroundOf(fd))
            return;
        try
        {
            Interop.Interop.WriteAll(fd, "\e[?1l\e>"u8);
        }
        catch (SyscallException)
        {
            // The terminal is gone: nothing to restore.
        }
    }
}
