namespace Husk.Tracing;

/// <summary>A wait status as strace prints it: [{WIFEXITED(s) &amp;&amp; WEXITSTATUS(s) == 0}].</summary>
internal static class WaitStatusDecoder
{
    public static string Decode(int status)
    {
        int sig = status & 0x7f;
        string inner;
        if (sig == 0)
            inner = $"WIFEXITED(s) && WEXITSTATUS(s) == {(status >> 8) & 0xff}";
        else if (sig == 0x7f)
            inner = status == 0xffff ? "WIFCONTINUED(s)" : $"WIFSTOPPED(s) && WSTOPSIG(s) == {SignalDecoder.Name((status >> 8) & 0xff)}";
        else
            inner = $"WIFSIGNALED(s) && WTERMSIG(s) == {SignalDecoder.Name(sig)}" + ((status & 0x80) != 0 ? " && WCOREDUMP(s)" : "");
        return "[{" + inner + "}]";
    }

    /// <summary>wait4's status pointer after the call: decoded when a child was reported.</summary>
    public static SyscallArgument At(ITraceeMemory memory, ulong address, long returned)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        if (returned <= 0 || memory.ReadValue<int>(address) is not { } status)
            return new SyscallArgument(address, StringDecoder.Hex(address));
        return new SyscallArgument(address, Decode(status));
    }
}
