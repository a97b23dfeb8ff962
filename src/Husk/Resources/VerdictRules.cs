using static Husk.Resources.LimitUnits;

namespace Husk.Resources;

/// <summary>
/// Turns how a payload ended into a verdict. A limit counts only when something shows it was the
/// limit: the supervisor killed the tree for it, the cgroup's OOM killer acted, or the kernel's
/// rlimit signal came with the usage to match; a program that kills itself with SIGKILL is a
/// runtime error, not a time limit. (A file cut at the output limit by a process other than the
/// payload, or with SIGXFSZ handled, is found afterwards by <see cref="CutFiles"/>.)
/// </summary>
internal static class VerdictRules
{
    private const int SIGKILL = 9, SIGXCPU = 24, SIGXFSZ = 25, SIGSYS = 31;

    public static (Verdict Verdict, string Message) Decide(SandboxExit exit, ResourceLimits limits, ResourceUsage usage, (Verdict Verdict, string Message)? killedFor)
    {
        if (killedFor is { } k)
            return k;
        if (usage.OomKilled && limits.MemoryBytes is { } mem)
            return (Verdict.MemoryLimit, $"the OOM killer ended the tree at the memory limit of {FormatSize(mem)}");
        if (exit.Signal == SIGXFSZ && limits.OutputBytes is { } output)
            return (Verdict.OutputLimit, $"a write went past the file size limit of {FormatSize(output)} (SIGXFSZ)");
        if (exit.Signal is SIGXCPU or SIGKILL && limits.CpuTime is { } cpu && usage.CpuTime >= cpu)
            return (Verdict.TimeLimit, $"CPU time {FormatDuration(usage.CpuTime)} exceeded the limit of {FormatDuration(cpu)}");
        if (exit.Signal == SIGSYS)
            return (Verdict.RestrictedFunction, "killed by SIGSYS: a system call the policy forbids");
        if (exit.Signal is { } sig)
            return (Verdict.RuntimeError, $"killed by signal {sig} ({SignalName(sig)})");
        if (exit.ExitCode is { } code and not 0)
            return (Verdict.RuntimeError, $"exited with status {code}");
        return (Verdict.OK, "exited with status 0");
    }

    internal static string SignalName(int sig) => sig switch
    {
        1 => "SIGHUP", 2 => "SIGINT", 3 => "SIGQUIT", 4 => "SIGILL", 5 => "SIGTRAP", 6 => "SIGABRT", 7 => "SIGBUS",
        8 => "SIGFPE", 9 => "SIGKILL", 10 => "SIGUSR1", 11 => "SIGSEGV", 12 => "SIGUSR2", 13 => "SIGPIPE",
        14 => "SIGALRM", 15 => "SIGTERM", 16 => "SIGSTKFLT", 17 => "SIGCHLD", 18 => "SIGCONT", 19 => "SIGSTOP",
        20 => "SIGTSTP", 21 => "SIGTTIN", 22 => "SIGTTOU", 23 => "SIGURG", 24 => "SIGXCPU", 25 => "SIGXFSZ",
        26 => "SIGVTALRM", 27 => "SIGPROF", 28 => "SIGWINCH", 29 => "SIGIO", 30 => "SIGPWR", 31 => "SIGSYS",
        _ => $"SIGRT{sig}",
    };
}
