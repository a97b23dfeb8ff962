namespace Husk.Tracing;

/// <summary>One row of strace -c's table: a system call, how often it was made, how often it failed, and its time.</summary>
/// <param name="Name">The call's name.</param>
/// <param name="Number">The call's number on this architecture.</param>
/// <param name="Calls">How many times the whole tree made it.</param>
/// <param name="Errors">How many of those failed.</param>
/// <param name="Time">System (kernel) time of the callers while inside it, as strace -c measures it.</param>
/// <param name="WallTime">Wall-clock time from its entry to its return as the tracer saw them (strace -w).</param>
public sealed record SyscallCount(string Name, int Number, long Calls, long Errors, TimeSpan Time, TimeSpan WallTime)
{
    /// <summary>The average system time of a call, in whole microseconds (strace's usecs/call).</summary>
    public long MicrosecondsPerCall => Calls == 0 ? 0 : (long)(Time.TotalMicroseconds / Calls);
}
