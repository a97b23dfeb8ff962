using System.Globalization;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>A host directory the supervisor clones and idmaps for the child.</summary>
/// <param name="Path">The host directory.</param>
/// <param name="Writable">Upper and work directories live beneath it: cloned with the mounts below it, and it must be idmapped.</param>
internal sealed record IdmappedSource(string Path, bool Writable);

/// <summary>
/// Root's payload is a subordinate range, never the host's uid 0, so host files of root show as
/// nobody to it and overlayfs cannot copy them up. The overlay layers from the host are therefore
/// seen through idmapped mounts: ids as the sandbox's user namespace maps them, host root as the
/// sandbox's root, and copy-up into an idmapped upper writes the host's own ids. Only the
/// supervisor can make them (idmapping a host filesystem needs CAP_SYS_ADMIN in the user namespace
/// that mounted it), once the child's maps are written; the child receives each and attaches it
/// under its build base, where the overlay takes it as a layer. Planned here, made by <see cref="IdmappedViews"/>.
/// </summary>
internal sealed class IdmappedLayers(bool enabled)
{
    private readonly List<IdmappedSource> _sources = [];
    private readonly Dictionary<IdmappedSource, string> _attached = [];

    /// <summary>Root's payload runs in a subordinate range: layers from the host are idmapped.</summary>
    public bool Enabled { get; } = enabled;

    /// <summary>What the supervisor makes, in the order the child's attach ops receive them.</summary>
    public IReadOnlyList<IdmappedSource> Sources => _sources;

    /// <summary>Where the idmapped view of <paramref name="source"/> is in the build base; plans its attach op the first time.</summary>
    public string Attach(List<PlannedOp> ops, IdmappedSource source, bool optional, MountOp origin)
    {
        if (_attached.TryGetValue(source, out string? at))
            return at;
        at = "/idmapped/" + _sources.Count.ToString(CultureInfo.InvariantCulture);
        _sources.Add(source);
        _attached[source] = at;
        ops.Add(new PlannedOp(OpKind.AttachMount, $"attach the idmapped view of {source.Path}")
        {
            S2 = at,
            Origin = origin,
            Flags = OpRoots.S2(OpRoot.Base) | (optional ? OpFlags.Try : 0),
        });
        return at;
    }

    /// <summary>The deepest directory holding both paths ("/" at least).</summary>
    public static string CommonDirectory(string a, string b)
    {
        string[] x = a.Split('/', StringSplitOptions.RemoveEmptyEntries), y = b.Split('/', StringSplitOptions.RemoveEmptyEntries);
        int n = 0;
        while (n < x.Length && n < y.Length && x[n] == y[n])
            n++;
        return "/" + string.Join('/', x.Take(n));
    }

    /// <summary><paramref name="path"/> seen from where <paramref name="directory"/> is attached.</summary>
    public static string Beneath(string attachedAt, string directory, string path) =>
        path == directory ? attachedAt : attachedAt + path[(directory == "/" ? 0 : directory.Length)..];
}
