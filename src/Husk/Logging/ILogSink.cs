namespace Husk.Logging;

/// <summary>
/// Where the engine reports what it does for a sandbox (<see cref="SandboxSpec.Log"/>): the planner's
/// decisions, each setup step, the launcher's, the supervisors'. A front door supplies one (the CLI
/// writes lines to a stream); the engine never writes to the console itself. Calls may come from
/// several threads; the engine asks <see cref="IsEnabled"/> before building a line.
/// </summary>
public interface ILogSink
{
    /// <summary>Whether lines of <paramref name="level"/> are wanted.</summary>
    bool IsEnabled(LogLevel level);

    /// <summary>Takes one line.</summary>
    void Write(LogEvent logEvent);
}
