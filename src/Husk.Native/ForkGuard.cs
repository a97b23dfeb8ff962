using System.Runtime.InteropServices;
using System.Text;

namespace Husk.Native;

/// <summary>
/// Refuses calls from a forked child of the process that loaded the library: only the forking
/// thread exists in the child, so anything of the runtime that waits for another thread (the
/// finalizer, the thread pool, a lock held at the fork) would hang forever. The check reads the
/// pid from the kernel (the runtime caches its own) and allocates nothing.
/// </summary>
internal static unsafe class ForkGuard
{
    private static readonly int LoadedIn = Interop.Interop.GetPid();

    /// <summary>The message of a refused call, made before any fork so that returning it allocates nothing.</summary>
    internal static readonly byte* Message = NativeText.Allocate(
        "called from a forked child of the process that loaded libhusk: the runtime inside cannot survive a fork; call it from the parent, or start a fresh process (multiprocessing's spawn or forkserver)");

    /// <summary>True in a forked child.</summary>
    internal static bool Forked => Interop.Interop.GetPid() != LoadedIn;
}

/// <summary>UTF-8 strings in native memory.</summary>
internal static unsafe class NativeText
{
    /// <summary>A NUL-terminated copy in memory from malloc (the caller frees it with husk_string_free).</summary>
    internal static byte* Allocate(string text)
    {
        int n = Encoding.UTF8.GetByteCount(text);
        byte* p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        fixed (char* c = text)
            Encoding.UTF8.GetBytes(c, text.Length, p, n);
        p[n] = 0;
        return p;
    }

    /// <summary>A NUL-terminated UTF-8 string from C, or null for a NULL pointer.</summary>
    internal static string? Read(byte* text) => text is null ? null : Marshal.PtrToStringUTF8((nint)text);
}

/// <summary>The last error of each thread, as husk_last_error returns it.</summary>
internal static unsafe class LastError
{
    [ThreadStatic]
    private static nint _text;

    private static readonly byte* Empty = NativeText.Allocate("");

    /// <summary>This thread's message ("" when the last call did not fail).</summary>
    internal static byte* Current => _text == 0 ? Empty : (byte*)_text;

    internal static void Set(string message)
    {
        Clear();
        _text = (nint)NativeText.Allocate(message);
    }

    internal static void Clear()
    {
        if (_text != 0)
            NativeMemory.Free((void*)_text);
        _text = 0;
    }
}
