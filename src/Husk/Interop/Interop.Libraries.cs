namespace Husk.Interop;

internal static partial class Interop
{
    /// <summary>Names of the native libraries Husk calls.</summary>
    internal static class Libraries
    {
        /// <summary>The native stage: libhusk.so for JIT runs, statically linked into the AOT binary.</summary>
        internal const string Husk = "husk";

        internal const string Libc = "libc";
    }
}
