using System.IO.Enumeration;

namespace Husk.Resources;

/// <summary>
/// The trace a file write past the output limit leaves when the payload itself was not killed for
/// it: a child killed by SIGXFSZ (the shell goes on), or a program that ignores SIGXFSZ (Python
/// does) and gets EFBIG. RLIMIT_FSIZE is set one byte above the limit (<see cref="Rlimit"/>), so
/// the kernel cuts such a write at limit + 1 bytes, while a file written to exactly the limit
/// stays at the limit: a file modified during the run that is longer than the limit was written
/// past it. Looked for in the upper directories of persistent overlays on the host (husk run's
/// layer), which hold the sandbox's writes and nothing else, at most <see cref="MaxEntries"/>
/// entries in all. Not seen: files on the sandbox's tmpfs mounts and temporary overlays (they
/// vanish with it); files in writable bind mounts (shared with the host, whose own writes could
/// not be told from the sandbox's); a write refused outright at a file already past the limit,
/// which changes nothing. A file already longer than the limit that the run rewrote in place,
/// within its first bytes, would be taken for a cut one.
/// </summary>
internal static class CutFiles
{
    /// <summary>How many directory entries are looked at, at most, over every place.</summary>
    public const int MaxEntries = 100_000;

    /// <summary>RLIMIT_FSIZE for an output limit: one byte more, so that reaching the limit and passing it differ.</summary>
    public static ulong Rlimit(long outputBytes) => (ulong)outputBytes + 1;

    /// <summary>Where files the sandbox writes stay visible on the host: (upper directory, the overlay's place in the sandbox).</summary>
    public static List<(string Host, string Sandbox)> Places(IEnumerable<MountOp> mounts) =>
        [.. mounts.OfType<OverlayMount>()
            .Where(o => o is { Kind: OverlayKind.Persistent, UpperRoot: SourceRoot.Host, Upper: not null })
            .Select(o => (o.Upper!, o.Destination))];

    /// <summary>
    /// The sandbox path of the first regular file under <paramref name="places"/> modified at or
    /// after <paramref name="since"/> and longer than <paramref name="limit"/> bytes, or null;
    /// <paramref name="exhausted"/> tells that the look stopped at <see cref="MaxEntries"/>.
    /// Symbolic links are not followed.
    /// </summary>
    public static string? Find(IEnumerable<(string Host, string Sandbox)> places, long limit, DateTime since, out bool exhausted)
    {
        int budget = MaxEntries;
        exhausted = false;
        foreach (var (host, sandbox) in places)
        {
            if (!Directory.Exists(host))
                continue;
            var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
            var files = new FileSystemEnumerable<string?>(host,
                (ref FileSystemEntry e) => !e.IsDirectory && e.Length > limit && e.LastWriteTimeUtc >= since ? e.ToFullPath() : null, options);
            try
            {
                foreach (string? file in files)
                {
                    if (--budget < 0)
                    {
                        exhausted = true;
                        return null;
                    }
                    if (file is not null)
                        return sandbox.TrimEnd('/') + file[host.TrimEnd('/').Length..];
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The tree changed under us or cannot be read: what was seen is what there is.
            }
        }
        return null;
    }
}
