namespace Husk;

/// <summary>How a supervised run ended, judged against its limits.</summary>
public enum Verdict
{
    /// <summary>The payload exited with status 0 within every limit.</summary>
    OK,

    /// <summary>The tree used more CPU time than allowed.</summary>
    TimeLimit,

    /// <summary>The run took longer than the wall-clock limit.</summary>
    WallTimeLimit,

    /// <summary>The tree used more memory than allowed (killed by the supervisor or the cgroup's OOM killer).</summary>
    MemoryLimit,

    /// <summary>The payload wrote more than allowed (to a file: SIGXFSZ; to its standard output or error).</summary>
    OutputLimit,

    /// <summary>The system call policy killed the payload (SIGSYS).</summary>
    RestrictedFunction,

    /// <summary>The payload exited with a non-zero status, or a signal not caused by a limit killed it.</summary>
    RuntimeError,

    /// <summary>The sandbox could not be set up or supervised.</summary>
    InternalError,
}

/// <summary>A verdict in the terms of other judges' sandboxes.</summary>
internal static class VerdictCodes
{
    /// <summary>
    /// libsandbox's result code: OK, TL (either time limit), ML, OL, RF, RT (killed by a signal),
    /// AT (non-zero exit), IE.
    /// </summary>
    public static string Libsandbox(Verdict verdict, int? signal) => verdict switch
    {
        Verdict.OK => "OK",
        Verdict.TimeLimit or Verdict.WallTimeLimit => "TL",
        Verdict.MemoryLimit => "ML",
        Verdict.OutputLimit => "OL",
        Verdict.RestrictedFunction => "RF",
        Verdict.RuntimeError => signal is not null ? "RT" : "AT",
        _ => "IE",
    };

    /// <summary>
    /// isolate's meta-file status: null for OK (isolate writes none), TO for either time limit, SG
    /// when a signal ended the payload (memory and output limits and the policy kill it with one),
    /// RE for a non-zero exit, XX for an internal error.
    /// </summary>
    public static string? Isolate(Verdict verdict, int? signal) => verdict switch
    {
        Verdict.OK => null,
        Verdict.TimeLimit or Verdict.WallTimeLimit => "TO",
        Verdict.InternalError => "XX",
        Verdict.RuntimeError when signal is null => "RE",
        _ => "SG",
    };
}
