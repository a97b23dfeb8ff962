using System.Globalization;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Images;

/// <summary>
/// The user an image's config names (<c>User</c>: <c>NAME</c>, <c>UID</c>, <c>NAME:GROUP</c>,
/// <c>UID:GID</c>, ...), resolved through the image's own /etc/passwd and /etc/group: the topmost
/// layer that has the file (or hides it) decides, as the merged tree would show it.
/// </summary>
internal sealed record ImageUser(uint Uid, uint Gid, string Home)
{
    private const ulong Beneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

    /// <summary>Resolves <paramref name="user"/> against the layers (<paramref name="lowers"/>, bottom first).</summary>
    public static ImageUser Resolve(string reference, string? user, IReadOnlyList<string> lowers)
    {
        string spec = user ?? "";
        int colon = spec.IndexOf(':');
        string who = colon < 0 ? spec : spec[..colon];
        string? group = colon < 0 ? null : spec[(colon + 1)..];
        var passwd = ReadMerged(lowers, "etc/passwd");
        if (who.Length == 0)
            who = "0";
        string[]? entry = null;
        uint uid;
        if (uint.TryParse(who, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
            entry = Find(passwd, 2, who);
        else if ((entry = Find(passwd, 0, who)) is null || !uint.TryParse(entry[2], NumberStyles.None, CultureInfo.InvariantCulture, out uid))
            throw new ImageException(reference, $"config: User: no user {who} in the image's /etc/passwd");
        uint gid = entry is not null && uint.TryParse(entry[3], NumberStyles.None, CultureInfo.InvariantCulture, out uint g) ? g : 0;
        if (group is { Length: > 0 })
        {
            if (!uint.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out gid))
            {
                var groups = ReadMerged(lowers, "etc/group");
                if (Find(groups, 0, group) is not { } ge || !uint.TryParse(ge[2], NumberStyles.None, CultureInfo.InvariantCulture, out gid))
                    throw new ImageException(reference, $"config: User: no group {group} in the image's /etc/group");
            }
        }
        string home = entry is { Length: > 5 } && entry[5].StartsWith('/') ? entry[5] : "/";
        return new ImageUser(uid, gid, home);
    }

    private static string[]? Find(string? file, int field, string value) =>
        file?.Split('\n').Select(l => l.Split(':')).FirstOrDefault(f => f.Length > 3 && f[field] == value);

    /// <summary>A small file as the stacked layers show it: from the top, the first layer that has it, whites it out or hides its directory.</summary>
    private static string? ReadMerged(IReadOnlyList<string> lowers, string path)
    {
        string dir = Path.GetDirectoryName(path)!;
        for (int i = lowers.Count - 1; i >= 0; i--)
        {
            int rootFd = Openat2(AT_FDCWD, lowers[i], O_PATH | O_DIRECTORY, 0, 0);
            if (rootFd < 0)
                continue;
            using var root = new SafeFd(rootFd);
            int fd = Openat2(root.Fd, path, O_RDONLY | O_NOFOLLOW, 0, Beneath);
            if (fd >= 0)
            {
                using var file = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read);
                if (TryFstat(fd, out var st) != 0 || (st.Mode & S_IFMT) != S_IFREG || st.Size > 4 << 20)
                    return null;
                return new StreamReader(file).ReadToEnd();
            }
            // A whiteout (or anything but a file) of that name, or an opaque directory above: lower layers do not show.
            if (TryStatAt(root.Fd, path, out _) == 0)
                return null;
            if (GetXattr(Path.Join(lowers[i], dir), LayerApplier.OpaqueXattr) is not null)
                return null;
        }
        return null;
    }
}
