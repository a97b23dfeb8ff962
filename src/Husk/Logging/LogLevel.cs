namespace Husk.Logging;

/// <summary>How much a log line matters, most important first: a sink at a level takes that level and those above it.</summary>
public enum LogLevel
{
    /// <summary>Something failed that nothing else reports.</summary>
    Error,
    /// <summary>Something was refused, skipped or done otherwise than asked (a fallback).</summary>
    Warn,
    /// <summary>The decisions of a run: the backends chosen, what was hidden, the network, the exit.</summary>
    Info,
    /// <summary>Every setup step, one line each.</summary>
    Debug,
}
