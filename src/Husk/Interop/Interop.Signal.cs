using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Signal dispositions and resource limits of the supervisor itself.</summary>
internal static partial class Interop
{
    internal const int RLIMIT_CORE = 4;

    [LibraryImport(Libraries.Libc, EntryPoint = "signal", SetLastError = true)]
    private static partial nint SignalRaw(int sig, nint handler);

    /// <summary>Puts a signal back to the kernel's default action (undoing the runtime's handler).</summary>
    internal static void DefaultSignalAction(int sig) => SignalRaw(sig, 0 /* SIG_DFL */);

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "setrlimit", SetLastError = true)]
    private static unsafe partial int SetRLimitRaw(int resource, RLimit* limit);

    [LibraryImport(Libraries.Libc, EntryPoint = "getrlimit", SetLastError = true)]
    private static unsafe partial int GetRLimitRaw(int resource, RLimit* limit);

    /// <summary>Lowers the soft limit of a resource, keeping the hard one.</summary>
    internal static unsafe void LowerSoftLimit(int resource, ulong value)
    {
        RLimit l;
        if (GetRLimitRaw(resource, &l) != 0)
            return;
        l.Current = Math.Min(l.Current, value);
        SetRLimitRaw(resource, &l);
    }
}
