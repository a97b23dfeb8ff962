using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using static Husk.Interop.Interop;

namespace Husk.Tracing;

/// <summary>Signals as strace prints them: names (SIGTERM, SIGRTMIN, SIGRT_3), signal sets ([INT TERM]) and siginfo.</summary>
internal static class SignalDecoder
{
    /// <summary>Bytes of a kernel sigset (64 signals).</summary>
    public const int SetSize = 8;

    public static string Name(int sig) => sig switch
    {
        32 => "SIGRTMIN",
        > 32 and <= 64 => "SIGRT_" + (sig - 32).ToString(CultureInfo.InvariantCulture),
        _ => Signals.Name(sig) ?? sig.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>A signal set: [INT TERM], [] or, when more than half is set, ~[the rest].</summary>
    public static string Set(ulong mask)
    {
        bool inverted = ulong.PopCount(mask) > 32;
        ulong shown = inverted ? ~mask : mask;
        var names = new List<string>();
        for (int sig = 1; sig <= 64; sig++)
        {
            if ((shown & (1UL << (sig - 1))) != 0)
                names.Add(Name(sig)[3..]);
        }
        return (inverted ? "~[" : "[") + string.Join(' ', names) + "]";
    }

    /// <summary>A sigset argument (rt_sigprocmask's set and old set).</summary>
    public static SyscallArgument SetAt(ITraceeMemory memory, ulong address)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        return memory.ReadValue<ulong>(address) is { } mask
            ? new SyscallArgument(address, Set(mask))
            : new SyscallArgument(address, StringDecoder.Hex(address));
    }

    private static string? Code(int sig, int code) => code switch
    {
        0 => "SI_USER",
        0x80 => "SI_KERNEL",
        -1 => "SI_QUEUE",
        -2 => "SI_TIMER",
        -3 => "SI_MESGQ",
        -4 => "SI_ASYNCIO",
        -5 => "SI_SIGIO",
        -6 => "SI_TKILL",
        _ => (sig, code) switch
        {
            (17, 1) => "CLD_EXITED",
            (17, 2) => "CLD_KILLED",
            (17, 3) => "CLD_DUMPED",
            (17, 4) => "CLD_TRAPPED",
            (17, 5) => "CLD_STOPPED",
            (17, 6) => "CLD_CONTINUED",
            (11, 1) => "SEGV_MAPERR",
            (11, 2) => "SEGV_ACCERR",
            (11, 3) => "SEGV_BNDERR",
            (11, 4) => "SEGV_PKUERR",
            (7, 1) => "BUS_ADRALN",
            (7, 2) => "BUS_ADRERR",
            (7, 3) => "BUS_OBJERR",
            (4, 1) => "ILL_ILLOPC",
            (4, 2) => "ILL_ILLOPN",
            (4, 3) => "ILL_ILLADR",
            (4, 4) => "ILL_ILLTRP",
            (4, 5) => "ILL_PRVOPC",
            (8, 1) => "FPE_INTDIV",
            (8, 2) => "FPE_INTOVF",
            (8, 3) => "FPE_FLTDIV",
            (5, 1) => "TRAP_BRKPT",
            (5, 2) => "TRAP_TRACE",
            (31, 1) => "SYS_SECCOMP",
            _ => null,
        },
    };

    /// <summary>A siginfo_t (128 bytes as PTRACE_GETSIGINFO gives it): {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3, ...}.</summary>
    public static string Info(ReadOnlySpan<byte> info)
    {
        int signo = BinaryPrimitives.ReadInt32LittleEndian(info);
        int code = BinaryPrimitives.ReadInt32LittleEndian(info[8..]);
        var bytes = info.ToArray();
        int I(int at) => BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
        ulong U(int at) => BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
        var sb = new StringBuilder("{si_signo=").Append(Name(signo)).Append(", si_code=");
        sb.Append(Code(signo, code) ?? code.ToString(CultureInfo.InvariantCulture));
        static string Address(ulong a) => a == 0 ? "NULL" : StringDecoder.Hex(a);
        if (code <= 0 || code == 0x80)
        {
            if (code is 0 or -6 or -1)
                sb.Append(", si_pid=").Append(I(16)).Append(", si_uid=").Append((uint)I(20));
            if (code == -2)
                sb.Append(", si_timerid=").Append(StringDecoder.Hex((uint)I(16))).Append(", si_overrun=").Append(I(20));
        }
        else if (signo == 17)
        {
            int status = I(24);
            sb.Append(", si_pid=").Append(I(16)).Append(", si_uid=").Append((uint)I(20)).Append(", si_status=");
            sb.Append(code is 2 or 3 or 5 or 6 ? Name(status) : status.ToString(CultureInfo.InvariantCulture));
            sb.Append(", si_utime=").Append((long)U(32)).Append(", si_stime=").Append((long)U(40));
        }
        else if (signo is 4 or 5 or 7 or 8 or 11)
        {
            sb.Append(", si_addr=").Append(Address(U(16)));
        }
        else if (signo == 31 && code == 1)
        {
            sb.Append(", si_call_addr=").Append(Address(U(16))).Append(", si_syscall=").Append(I(24))
              .Append(", si_arch=").Append(StringDecoder.Hex((uint)I(28)));
        }
        return sb.Append('}').ToString();
    }
}
