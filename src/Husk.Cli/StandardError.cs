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
    public static void WriteLine(string text) => Write(text + "\n");

    /// <summary>Text as it is, without a newline (a prompt).</summary>
    public static void Write(string text)
    {
        try
        {
            Interop.Interop.WriteAll(2, Encoding.UTF8.GetBytes(text));
        }
        catch (SyscallException)
        {
            // Nowhere left to say it.
        }
    }

    /// <summary>Whether a descriptor is a terminal.</summary>
    public static bool IsTerminal(int fd) => Interop.Interop.IsATty(fd) == 1;
}
