namespace Husk.FileSystem;

/// <summary>What Husk hides from a payload that sees the host's tree, and how.</summary>
internal static class Hiding
{
    /// <summary>Secrets under the home directory, hidden by default (relative to $HOME).</summary>
    internal static IReadOnlyList<string> HomeSecrets { get; } =
    [
        ".ssh", ".gnupg", ".aws", ".azure", ".config/gcloud", ".docker", ".kube", ".netrc", ".git-credentials",
        ".password-store", ".local/share/keyrings", ".pki", ".mozilla", ".thunderbird", ".config/google-chrome",
        ".config/chromium", ".config/BraveSoftware", ".config/gh", ".npmrc", ".pypirc", ".cargo/credentials.toml",
        ".config/rclone", ".vault-token",
    ];

    /// <summary>
    /// The operation that hides <paramref name="path"/>: an empty, private directory over a directory,
    /// an empty unreadable file over anything else; null when nothing is there.
    /// </summary>
    internal static MountOp? Hide(string path, Launch.IHostFileSystem host) => host.KindOf(path) switch
    {
        EntryKind.Directory => new TmpfsMount(path) { Mode = 0x1C0, Size = 1 << 20, IfPresent = true },
        null => null,
        _ => new WriteFile(path) { Mode = 0x100, Placement = FilePlacement.ReadOnlyBind, IfPresent = true },
    };

    /// <summary>Hides the home directory's secrets that exist under <paramref name="home"/>.</summary>
    internal static IEnumerable<MountOp> HideHomeSecrets(string? home, Launch.IHostFileSystem host)
    {
        if (home is not { Length: > 1 })
            yield break;
        foreach (string rel in HomeSecrets)
        {
            if (Hide(Path.Combine(home, rel), host) is { } op)
                yield return op;
        }
    }
}
