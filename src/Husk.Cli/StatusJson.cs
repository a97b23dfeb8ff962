using System.Globalization;
using System.Text;
using Husk.Interop;

namespace Husk.Cli;

/// <summary>bubblewrap's --info-fd and --json-status-fd formats, which scripts and tests parse.</summary>
internal static class StatusJson
{
    private static readonly (NamespaceKinds Kind, string Name)[] Reported =
    [
        (NamespaceKinds.Cgroup, "cgroup"), (NamespaceKinds.Ipc, "ipc"), (NamespaceKinds.Mount, "mnt"),
        (NamespaceKinds.Net, "net"), (NamespaceKinds.Pid, "pid"), (NamespaceKinds.Uts, "uts"),
    ];

    /// <summary>The namespaces the sandbox got its own of, with their inode numbers.</summary>
    private static IEnumerable<(string Name, ulong Inode)> Namespaces(int pid, NamespaceKinds created)
    {
        foreach (var (kind, name) in Reported)
        {
            if (!created.HasFlag(kind))
                continue;
            // Still the caller's: made once the sandbox runs (a network namespace owned by a nested
            // user namespace, see SpawnPlanner), so its number is not known yet.
            ulong ino = Interop.Interop.NamespaceInode(name, pid);
            if (ino != 0 && ino != Interop.Interop.NamespaceInode(name))
                yield return (name, ino);
        }
    }

    /// <summary>The multi-line object bwrap writes to --info-fd.</summary>
    public static string Info(int pid, NamespaceKinds created) => ChildPid(pid, created, "{\n    ", ",\n    ", "\n}\n");

    /// <summary>The first line bwrap writes to --json-status-fd.</summary>
    public static string ChildPidLine(int pid, NamespaceKinds created) => ChildPid(pid, created, "{ ", ", ", " }\n");

    private static string ChildPid(int pid, NamespaceKinds created, string open, string separator, string close)
    {
        var sb = new StringBuilder(open);
        sb.Append(CultureInfo.InvariantCulture, $"\"child-pid\": {pid}");
        foreach (var (name, ino) in Namespaces(pid, created))
            sb.Append(separator).Append(CultureInfo.InvariantCulture, $"\"{name}-namespace\": {ino}");
        return sb.Append(close).ToString();
    }

    /// <summary>The last line: the payload's status, 128+N when a signal killed it.</summary>
    public static string ExitLine(int status) => string.Create(CultureInfo.InvariantCulture, $"{{ \"exit-code\": {status} }}\n");

    /// <summary>Writes to a descriptor the caller passed; a closed or bad one is ignored, as bwrap does.</summary>
    public static void Write(int fd, string text)
    {
        try
        {
            Interop.Interop.WriteAll(fd, Encoding.UTF8.GetBytes(text));
        }
        catch (SyscallException)
        {
        }
    }
}
