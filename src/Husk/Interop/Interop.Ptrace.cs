using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>ptrace, wait4 and process_vm_readv: what the tracer thread needs.</summary>
internal static partial class Interop
{
    internal static class Ptrace
    {
        internal const int PTRACE_POKEUSER = 6;
        internal const int PTRACE_CONT = 7;
        internal const int PTRACE_DETACH = 17;
        internal const int PTRACE_SYSCALL = 24;
        internal const int PTRACE_GETEVENTMSG = 0x4201;
        internal const int PTRACE_GETSIGINFO = 0x4202;
        internal const int PTRACE_GETREGSET = 0x4204;
        internal const int PTRACE_SETREGSET = 0x4205;
        internal const int PTRACE_SEIZE = 0x4206;
        internal const int PTRACE_LISTEN = 0x4208;
        internal const int PTRACE_GET_SYSCALL_INFO = 0x420e;

        internal const int PTRACE_O_TRACESYSGOOD = 0x1;
        internal const int PTRACE_O_TRACEFORK = 0x2;
        internal const int PTRACE_O_TRACEVFORK = 0x4;
        internal const int PTRACE_O_TRACECLONE = 0x8;
        internal const int PTRACE_O_TRACEEXEC = 0x10;
        internal const int PTRACE_O_TRACESECCOMP = 0x80;
        internal const int PTRACE_O_EXITKILL = 0x100000;

        internal const int PTRACE_EVENT_FORK = 1;
        internal const int PTRACE_EVENT_VFORK = 2;
        internal const int PTRACE_EVENT_CLONE = 3;
        internal const int PTRACE_EVENT_EXEC = 4;
        internal const int PTRACE_EVENT_SECCOMP = 7;
        internal const int PTRACE_EVENT_STOP = 128;

        internal const byte PTRACE_SYSCALL_INFO_ENTRY = 1;
        internal const byte PTRACE_SYSCALL_INFO_EXIT = 2;
        internal const byte PTRACE_SYSCALL_INFO_SECCOMP = 3;

        /// <summary>wait4's flag: only children and tracees of the calling thread, never another thread's child.</summary>
        internal const int __WNOTHREAD = 0x20000000;

        /// <summary>NT_ARM_SYSTEM_CALL: the syscall number register set of aarch64.</summary>
        internal const int NT_ARM_SYSTEM_CALL = 0x404;
    }

    /// <summary>
    /// struct ptrace_syscall_info (linux/ptrace.h): a header, then one of entry (nr, args), exit
    /// (rval, is_error) or seccomp (nr, args, ret_data), which share their storage.
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 88)]
    internal unsafe struct PtraceSyscallInfo
    {
        [FieldOffset(0)] public byte Op;
        [FieldOffset(4)] public uint Arch;
        [FieldOffset(8)] public ulong InstructionPointer;
        [FieldOffset(16)] public ulong StackPointer;
        [FieldOffset(24)] public ulong Nr;
        [FieldOffset(24)] public long ReturnValue;
        [FieldOffset(32)] public byte IsError;
        [FieldOffset(32)] public fixed ulong Args[6];
        [FieldOffset(80)] public uint RetData;
    }

    private static long SysPtrace => IsArm64 ? 117 : 101;

    /// <summary>The raw ptrace system call (glibc's wrapper is variadic and rewrites the PEEK requests).</summary>
    internal static long PtraceRaw(int request, int pid, nint addr, nint data) => Syscall5(SysPtrace, request, pid, addr, data, 0);

    [LibraryImport(Libraries.Libc, EntryPoint = "wait4", SetLastError = true)]
    internal static unsafe partial int Wait4(int pid, int* status, int options, RUsage* usage);

    [LibraryImport(Libraries.Libc, EntryPoint = "process_vm_readv", SetLastError = true)]
    internal static unsafe partial nint ProcessVmReadv(int pid, IoVec* local, nuint localCount, IoVec* remote, nuint remoteCount, nuint flags);
}
