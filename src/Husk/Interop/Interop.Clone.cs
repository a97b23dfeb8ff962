namespace Husk.Interop;

/// <summary>Flags of clone3, unshare and setns.</summary>
internal static partial class Interop
{
    /// <summary>The namespace flags (CLONE_NEW*) and the few others Husk names.</summary>
    internal static class Clone
    {
        /// <summary>Only for unshare and setns: in clone's flags 0x80 is part of the exit signal.</summary>
        public const ulong CLONE_NEWTIME = 0x80;
        public const ulong CLONE_THREAD = 0x10000;
        public const ulong CLONE_NEWNS = 0x20000;
        public const ulong CLONE_NEWCGROUP = 0x02000000;
        public const ulong CLONE_NEWUTS = 0x04000000;
        public const ulong CLONE_NEWIPC = 0x08000000;
        public const ulong CLONE_NEWUSER = 0x10000000;
        public const ulong CLONE_NEWPID = 0x20000000;
        public const ulong CLONE_NEWNET = 0x40000000;
    }
}
