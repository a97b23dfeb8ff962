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
    internal static MountOp? Hide(string path, Launch.IHostFileSystem host) => Hide(path, host, 0x100);

    /// <summary>Whether <paramref name="op"/> is one of the operations <see cref="Hide(string, Launch.IHostFileSystem)"/> makes (for the log's "hidden" lines).</summary>
    internal static bool IsHiding(MountOp op) =>
        op is TmpfsMount { Mode: FileModes.Private, Size: 1 << 20, IfPresent: true } or WriteFile { Placement: FilePlacement.ReadOnlyBind, IfPresent: true };

    /// <summary><see cref="Hide(string, Launch.IHostFileSystem)"/> with the mode of the empty file put over a file.</summary>
    private static MountOp? Hide(string path, Launch.IHostFileSystem host, int fileMode) => host.KindOf(path) switch
    {
        EntryKind.Directory => new TmpfsMount(path) { Mode = FileModes.Private, Size = 1 << 20, IfPresent = true },
        null => null,
        _ => new WriteFile(path) { Mode = (UnixFileMode)(fileMode), Placement = FilePlacement.ReadOnlyBind, IfPresent = true },
    };

    /// <summary>
    /// The system's secrets, hidden from root's sandboxes: their layers show the host's root files
    /// as the sandbox root's (idmapped), so its payload could read files only root may read.
    /// </summary>
    internal static IReadOnlyList<string> SystemSecrets { get; } =
        ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssl/private", "/etc/krb5.keytab"];

    /// <summary>Hides <see cref="SystemSecrets"/> and the SSH host keys (for root's sandboxes; others cannot read them anyway).</summary>
    internal static IEnumerable<MountOp> HideSystemSecrets(Launch.IHostFileSystem host)
    {
        var hostKeys = host.List("/etc/ssh")
            .Where(e => e.Kind == EntryKind.File && e.Name.StartsWith("ssh_host_", StringComparison.Ordinal) && e.Name.EndsWith("_key", StringComparison.Ordinal))
            .Select(e => "/etc/ssh/" + e.Name).Order(StringComparer.Ordinal);
        foreach (string path in SystemSecrets.Concat(hostKeys))
        {
            // Mode 000: the payload is root (of the sandbox) and would own a readable stand-in.
            if (Hide(path, host, 0) is { } op)
                yield return op;
        }
    }

    /// <summary>
    /// The running program's own binary, read-only wherever the host's tree is writable: a payload
    /// must not leave a changed engine in the layer for a commit to install (CVE-2019-5736's target).
    /// </summary>
    internal static MountOp? ProtectEngine(string? engine, Launch.IHostFileSystem host) =>
        engine is not null && host.KindOf(engine) == EntryKind.File ? new BindMount(engine, engine) { ReadOnly = true, Optional = true, IfPresent = true } : null;

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
