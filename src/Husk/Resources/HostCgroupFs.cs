using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Resources;

/// <summary>The host's cgroupfs, through plain system calls (<see cref="ProcFile"/>) and System.IO.</summary>
internal sealed class HostCgroupFs : ICgroupFs
{
    public static HostCgroupFs Instance { get; } = new();

    private const short POLLPRI = 0x2;

    private readonly object _watchGate = new();
    /// <summary>/proc/self/mountinfo, kept open to be polled: the kernel marks it POLLPRI after a mount or unmount.</summary>
    private SafeFd? _mountWatch;
    private bool _unwatchable;

    private HostCgroupFs()
    {
    }

    public string? ReadText(string path) => ProcFile.ReadText(path);

    public int TryWrite(string path, string value) => ProcFile.TryWrite(path, value);

    public bool DirectoryExists(string path) => Directory.Exists(path);

    public void CreateDirectory(string path) => Directory.CreateDirectory(path);

    public void RemoveDirectory(string path) => Directory.Delete(path, recursive: false);

    public IReadOnlyList<string> Directories(string path, string pattern) => Directory.EnumerateDirectories(path, pattern).ToList();

    public uint? Owner(string path) => TryStat(path, out Statx st) == 0 ? st.Uid : null;

    public bool CanWrite(string path) => Access(path, 2 /* W_OK */) == 0;

    public unsafe bool MountsChanged()
    {
        lock (_watchGate)
        {
            if (_mountWatch is null)
            {
                // The first call: from now on a change of this mount namespace's table is told by poll.
                if (!_unwatchable && TryOpen("/proc/self/mountinfo", O_RDONLY, out _mountWatch) != 0)
                    _unwatchable = true;
                return true;
            }
            // Each poll that reports the change also resets it (mounts_poll), so a change is told once.
            var pfd = new PollFd { Fd = _mountWatch.Fd, Events = POLLPRI };
            bool changed = Poll(&pfd, 1, 0) != 0;
            GC.KeepAlive(_mountWatch);
            return changed;
        }
    }

    public SafeFd? OpenDirectory(string path) => Open(path, O_RDONLY | O_DIRECTORY);
}
