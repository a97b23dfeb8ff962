namespace Husk.FileSystem;

/// <summary>What Husk hides from a payload that sees the host's tree, and how.</summary>
public static class Hiding
{
    /// <summary>Secrets under the home directory, hidden by default (relative to $HOME).</summary>
    public static IReadOnlyList<string> HomeSecrets { get; } =
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
    public static MountOp? Hide(string path) => Hide(path, 0x100);

    /// <summary><see cref="Hide(string)"/> with the mode of the empty file put over a file.</summary>
    private static MountOp? Hide(string path, int fileMode)
    {
        if (Directory.Exists(path))
            return new TmpfsMount(path) { Mode = 0x1C0, Size = 1 << 20, IfPresent = true };
        if (new FileInfo(path).Exists)
            return new WriteFile(path) { Mode = fileMode, Placement = FilePlacement.ReadOnlyBind, IfPresent = true };
        return null;
    }

    /// <summary>
    /// The system's secrets, hidden from root's sandboxes: their layers show the host's root files
    /// as the sandbox root's (idmapped), so its payload could read files only root may read.
    /// </summary>
    public static IReadOnlyList<string> SystemSecrets { get; } =
        ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssl/private", "/etc/krb5.keytab"];

    /// <summary>Hides <see cref="SystemSecrets"/> and the SSH host keys when the caller is root; others cannot read them anyway.</summary>
    public static IEnumerable<MountOp> HideSystemSecrets()
    {
        if (Interop.Interop.GetEuid() != 0)
            yield break;
        IEnumerable<string> hostKeys;
        try
        {
            hostKeys = Directory.EnumerateFiles("/etc/ssh", "ssh_host_*_key").Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            hostKeys = [];
        }
        foreach (string path in SystemSecrets.Concat(hostKeys))
        {
            // Mode 000: the payload is root (of the sandbox) and would own a readable stand-in.
            if (Hide(path, 0) is { } op)
                yield return op;
        }
    }

    /// <summary>
    /// The running program's own binary, read-only wherever the host's tree is writable: a payload
    /// must not leave a changed engine in the layer for a commit to install (CVE-2019-5736's target).
    /// </summary>
    public static MountOp? ProtectEngine() =>
        Environment.ProcessPath is { } exe && File.Exists(exe) ? new BindMount(exe, exe) { ReadOnly = true, Optional = true, IfPresent = true } : null;

    /// <summary>Hides the home directory's secrets that exist under <paramref name="home"/>.</summary>
    public static IEnumerable<MountOp> HideHomeSecrets(string? home)
    {
        if (home is not { Length: > 1 })
            yield break;
        foreach (string rel in HomeSecrets)
        {
            if (Hide(Path.Combine(home, rel)) is { } op)
                yield return op;
        }
    }
}
