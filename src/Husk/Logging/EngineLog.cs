using System.Collections.Immutable;

namespace Husk.Logging;

/// <summary>
/// The engine's side of an <see cref="ILogSink"/>: cheap when nothing listens (no sink, or a level
/// below the sink's), so call sites need no checks of their own unless building a line costs.
/// </summary>
internal readonly struct EngineLog(ILogSink? sink)
{
    private readonly ILogSink? _sink = sink;

    /// <summary>Whether lines of <paramref name="level"/> go anywhere.</summary>
    public bool On(LogLevel level) => _sink is not null && _sink.IsEnabled(level);

    public void Write(LogLevel level, string message, params LogField[] fields)
    {
        if (On(level))
            _sink!.Write(new LogEvent(DateTimeOffset.Now, level, message, [.. fields]));
    }

    public void Write(LogEvent e)
    {
        if (On(e.Level))
            _sink!.Write(e);
    }

    public void Error(string message, params LogField[] fields) => Write(LogLevel.Error, message, fields);
    public void Warn(string message, params LogField[] fields) => Write(LogLevel.Warn, message, fields);
    public void Info(string message, params LogField[] fields) => Write(LogLevel.Info, message, fields);
    public void Debug(string message, params LogField[] fields) => Write(LogLevel.Debug, message, fields);

    /// <summary>A line for later (the planner's, which only describes): no time of its own until it is written.</summary>
    public static LogEvent Event(LogLevel level, string message, params LogField[] fields) => new(default, level, message, ImmutableArray.Create(fields));
}
