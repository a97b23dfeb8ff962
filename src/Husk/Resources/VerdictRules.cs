using static Husk.Interop.Interop.Signals;
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
            return (Verdict.RuntimeError, $"killed by signal {sig} ({Name(sig) ?? $"SIGRT{sig}"})");
        if (exit.ExitCode is { } code and not 0)
            return (Verdict.RuntimeError, $"exited with status {code}");
        return (Verdict.OK, "exited with status 0");
    }
}
