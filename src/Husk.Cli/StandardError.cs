using System.Text;
using Husk.Interop;

namespace Husk.Cli;

/// <summary>
/// Husk's own messages, written straight to descriptor 2. Not System.Console: on a terminal, its
/// first use switches the keypad to application mode ("\e[?1h\e=") and installs terminal handling,
/// and the payload shares that terminal.
/// </summary>
internal static class StandardError
{
    public static void WriteLine(string text)
    {
        try
        {
            Interop.Interop.WriteAll(2, Encoding.UTF8.GetBytes(text + "\n"));
        }
        catch (SyscallException)
        {
            // Nowhere left to say it.
        }
    }

    /// <summary>Whether a descriptor is a terminal.</summary>
    public static bool IsTerminal(int fd) => Interop.Interop.IsATty(fd) == 1;
}
