using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>
/// libzstd's streaming decompressor (zstd-compressed image layers): .NET 10's System.IO.Compression
/// has gzip, deflate and brotli but no zstd. The library is loaded on first use (Debian's libzstd1,
/// which dpkg itself depends on); where it is missing the first call throws DllNotFoundException.
/// </summary>
internal static partial class Interop
{
    internal static partial class Zstd
    {
        private const string Library = "libzstd.so.1";

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct InBuffer
        {
            public byte* Source;
            public nuint Size;
            public nuint Position;
        }

        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct OutBuffer
        {
            public byte* Destination;
            public nuint Size;
            public nuint Position;
        }

        [LibraryImport(Library, EntryPoint = "ZSTD_createDStream")]
        internal static partial nint CreateDStream();

        [LibraryImport(Library, EntryPoint = "ZSTD_freeDStream")]
        internal static partial nuint FreeDStream(nint stream);

        [LibraryImport(Library, EntryPoint = "ZSTD_initDStream")]
        internal static partial nuint InitDStream(nint stream);

        [LibraryImport(Library, EntryPoint = "ZSTD_decompressStream")]
        internal static unsafe partial nuint DecompressStream(nint stream, OutBuffer* output, InBuffer* input);

        [LibraryImport(Library, EntryPoint = "ZSTD_isError")]
        internal static partial uint IsError(nuint code);

        [LibraryImport(Library, EntryPoint = "ZSTD_getErrorName")]
        internal static partial nint GetErrorName(nuint code);

        /// <summary>The library's words for an error code.</summary>
        internal static string ErrorName(nuint code) => Marshal.PtrToStringUTF8(GetErrorName(code)) ?? "unknown zstd error";
    }
}
