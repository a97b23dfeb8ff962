namespace Husk.Cli;

/// <summary>
/// Every front door's last line of defence: an exception nothing else handled becomes one line,
/// <c>husk: internal error: ...</c>, and exit status 1, never a .NET stack trace (and never the
/// runtime's abort, status 134).
/// </summary>
internal static class LastResort
{
    /// <summary>Runs a front door; an exception that escapes it is reported in one line and gives 1.</summary>
    public static int Run(Func<int> frontDoor, Action<string>? write = null)
    {
        try
        {
            return frontDoor();
        }
        catch (Exception e)
        {
            (write ?? StandardError.WriteLine)(Line(e));
            return 1;
        }
    }

    /// <summary>
    /// The same for exceptions on other threads (output relays, the spawn thread, the thread pool):
    /// the line, then exit 1 at once. The runtime's global handler rather than AppDomain's event,
    /// whose first use builds AppContext's data store: a measurable part of every cold start.
    /// </summary>
    public static void Install() => System.Runtime.ExceptionServices.ExceptionHandling.SetUnhandledExceptionHandler(e =>
    {
        StandardError.WriteLine(Line(e));
        Interop.Interop.ExitNow(1);
        return true;
    });

    /// <summary>The one line: what went wrong in our words, and what kind of failure it was.</summary>
    internal static string Line(Exception e) => $"husk: internal error: {ErrorText.Of(e)} ({e.GetType().Name})" + (Environment.GetEnvironmentVariable("HUSK_DEBUG_TRACE") == "1" ? "\n" + e : "");
}
