using Husk.Interop;

namespace Husk.Resources;

/// <summary>
/// The files the cgroup drivers read and write: cgroupfs, and the two files that locate it
/// (/proc/self/mountinfo, /proc/self/cgroup). <see cref="HostCgroupFs"/> in production; tests
/// give a tree of their own, so the drivers and the backend choice run without cgroupfs.
/// </summary>
internal interface ICgroupFs
{
    /// <summary>The file's text, or null when it cannot be read.</summary>
    string? ReadText(string path);

    /// <summary>Writes a value the way cgroup files want it (one write, no truncation); 0 or the errno.</summary>
    int TryWrite(string path, string value);

    bool DirectoryExists(string path);

    /// <summary>Creates a directory and its missing parents; throws as <see cref="Directory.CreateDirectory(string)"/>.</summary>
    void CreateDirectory(string path);

    /// <summary>Removes an empty cgroup; throws as <see cref="Directory.Delete(string)"/> (IOException while processes leave).</summary>
    void RemoveDirectory(string path);

    /// <summary>The subdirectories of <paramref name="path"/> whose names match <paramref name="pattern"/> (a "prefix*" glob).</summary>
    IReadOnlyList<string> Directories(string path, string pattern);

    /// <summary>The owner of a file, or null when it cannot be seen.</summary>
    uint? Owner(string path);

    /// <summary>The caller may write the file (access(2) with W_OK).</summary>
    bool CanWrite(string path);

    /// <summary>A directory descriptor for CLONE_INTO_CGROUP, or null where there is none (a test's tree).</summary>
    SafeFd? OpenDirectory(string path);

    /// <summary>
    /// Whether the mount table may have changed since the last call: the cgroup mounts are parsed
    /// again only then. Always true where changes cannot be told (the default).
    /// </summary>
    bool MountsChanged() => true;

    /// <summary>"key value" lines (cpu.stat, memory.events) as a dictionary; empty when the file cannot be read.</summary>
    Dictionary<string, long> ReadKeyed(string path) => ProcFile.ParseKeyed(ReadText(path));

    /// <summary>The first number in the file ("max" and a missing file give null).</summary>
    long? ReadNumber(string path) => ProcFile.ParseNumber(ReadText(path));

    /// <summary>Writes or throws a <see cref="SyscallException"/> naming the file.</summary>
    void Write(string path, string value)
    {
        int err = TryWrite(path, value);
        if (err != 0)
            throw new SyscallException("write", path, (Errno)err);
    }
}
