using System.Runtime.InteropServices;

namespace Husk.Interop;

internal static partial class Interop
{
    /// <summary>A raw system call with three arguments (Landlock's ABI query has no libc wrapper).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall3(long nr, nint a0, nint a1, nint a2);
}
