namespace Husk.Tracing;

/// <summary>What a traced thread is to the trace.</summary>
internal enum TraceeRole
{
    /// <summary>The native stage (or husk-init before it is let go): not reported.</summary>
    Stage,
    /// <summary>The stage's process that will exec the payload, filter installed: only its successful exec is reported.</summary>
    Starting,
    /// <summary>The payload or a descendant: reported.</summary>
    Payload,
}

/// <summary>The tracer's state for one traced thread.</summary>
internal sealed class Tracee(int tid, TraceeRole role)
{
    public int Tid = tid;
    public TraceeRole Role = role;

    /// <summary>The fork event that made it has been seen (until then a first stop is held).</summary>
    public bool LineageKnown = true;

    /// <summary>A stop that came before its parent's fork event, held until that event.</summary>
    public int? HeldStatus;

    /// <summary>Its id in the sandbox's pid namespace, once read (0: not yet).</summary>
    public int NamespacePid;

    // The call it is in, between its seccomp stop and its exit stop.
    public bool InSyscall;
    public int Number;
    public string Name = "";
    public readonly ulong[] Args = new ulong[6];
    public long EntryTimestamp;
    public long EntrySystemTicks;
    public SyscallSignature? Signature;
    public SyscallArgument?[] Decoded = new SyscallArgument?[6];

    /// <summary>Whether the call in progress is reported and counted (a starting process's only its exec).</summary>
    public bool Reported;

    /// <summary>Whether the observer saw the call's entry, and so sees its return.</summary>
    public bool Observed;
}
