using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Resources;

/// <summary>The host's cgroupfs, through plain system calls (<see cref="ProcFile"/>) and System.IO.</summary>
internal sealed class HostCgroupFs : ICgroupFs
{
    public static HostCgroupFs Instance { get; } = new();

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

    public SafeFd? OpenDirectory(string path) => Open(path, O_RDONLY | O_DIRECTORY);
}
