using System.Globalization;
using System.Text;

namespace Husk.Cli.Personalities.Bwrap;

/// <summary>The JSON bubblewrap writes to --info-fd and --json-status-fd, byte for byte.</summary>
internal static class BwrapStatus
{
    /// <summary>Namespaces reported, in bubblewrap's order; the user namespace is not among them.</summary>
    private static readonly string[] Kinds = ["cgroup", "ipc", "mnt", "net", "pid", "uts"];

    /// <summary>Inode numbers of the sandbox's namespaces that were created for it (the mount namespace always).</summary>
    public static List<(string Kind, ulong Id)> NamespaceIds(int pid, BwrapOptions o)
    {
        var ids = new List<(string, ulong)>();
        foreach (string kind in Kinds)
        {
            bool unshared = kind switch
            {
                "cgroup" => o.UnshareCgroup,
                "ipc" => o.UnshareIpc,
                "net" => o.UnshareNet,
                "pid" => o.UnsharePid,
                "uts" => o.UnshareUts,
                _ => true,
            };
            if (!unshared)
                continue;
            // A namespace that cannot be looked at is left out, as bubblewrap does, and so is one
            // that is still the caller's (made later, owned by a nested user namespace: SpawnPlanner).
            ulong id = Interop.Interop.NamespaceInode(kind, pid);
            if (id != 0 && id != Interop.Interop.NamespaceInode(kind))
                ids.Add((kind, id));
        }
        return ids;
    }

    /// <summary>--info-fd: one indented object.</summary>
    public static string Info(int pid, IEnumerable<(string Kind, ulong Id)> ids)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{{\n    \"child-pid\": {pid}");
        foreach (var (kind, id) in ids)
            sb.Append(CultureInfo.InvariantCulture, $",\n    \"{kind}-namespace\": {id}");
        sb.Append("\n}\n");
        return sb.ToString();
    }

    /// <summary>--json-status-fd's first line.</summary>
    public static string Started(int pid, IEnumerable<(string Kind, ulong Id)> ids)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{{ \"child-pid\": {pid}");
        foreach (var (kind, id) in ids)
            sb.Append(CultureInfo.InvariantCulture, $", \"{kind}-namespace\": {id}");
        sb.Append(" }\n");
        return sb.ToString();
    }

    /// <summary>--json-status-fd's last line, written only when the command was executed.</summary>
    public static string Exited(int code) => string.Create(CultureInfo.InvariantCulture, $"{{ \"exit-code\": {code} }}\n");
}
