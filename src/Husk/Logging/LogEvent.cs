using System.Collections.Immutable;

namespace Husk.Logging;

/// <summary>One named value of a log line: a string, a whole number or a boolean.</summary>
/// <param name="Name">The field's name (snake_case, as JSON keys).</param>
/// <param name="Value">Its value: <see cref="string"/>, <see cref="long"/>, <see cref="int"/>, <see cref="bool"/> or null.</param>
public readonly record struct LogField(string Name, object? Value);

/// <summary>One line of the engine's log: what happened, when, how much it matters, and its fields.</summary>
/// <param name="Time">When it happened.</param>
/// <param name="Level">How much it matters.</param>
/// <param name="Message">What happened, in a few words, without a program name.</param>
/// <param name="Fields">Its details as named values.</param>
public sealed record LogEvent(DateTimeOffset Time, LogLevel Level, string Message, ImmutableArray<LogField> Fields)
{
    /// <summary>The value of the field named <paramref name="name"/>, or null.</summary>
    public object? this[string name] => Fields.FirstOrDefault(f => f.Name == name).Value;
}
