using System.Text;

namespace Husk.Cli.Personalities.Microbox;

/// <summary>microbox's --help: urfave/cli v3.4.1's root command template over microbox's flags, aligned as its tabwriter does.</summary>
internal static class MicroboxHelp
{
    /// <summary>The help text; <paramref name="hostname"/> is the random default this run would have used.</summary>
    public static string Text(string hostname)
    {
        (string Left, string Usage)[] flags =
        [
            ("--fs string", "Root filesystem (host|tmpfs|<directory path>) (default: \"tmpfs\")"),
            ("--net string", "Network mode (none|host|bridge) (default: \"none\")"),
            ("--mount-ro HOST:SANDBOX [ --mount-ro HOST:SANDBOX ]", "Read-only bind mounts from the host (HOST:SANDBOX)"),
            ("--mount-rw HOST:SANDBOX [ --mount-rw HOST:SANDBOX ]", "Read-write bind mounts from the host (HOST:SANDBOX)"),
            ("--readonly", "Whether to mount the root filesystem as read-only (default: false)"),
            ("--env KEY=VALUE [ --env KEY=VALUE ]", "Sets an environment variable as KEY=VALUE in the sandbox"),
            ("--allow-syscall syscall [ --allow-syscall syscall ]", "A syscall to allow in the sandbox"),
            ("--deny-syscall syscall [ --deny-syscall syscall ]", "A syscall to deny in the sandbox"),
            ("--dns string [ --dns string ]", "A DNS nameserver to use in the sandbox"),
            ("--hostname string", $"Sets the hostname of the sandbox (default: \"{hostname}\")"),
            ("--cpus float", "CPU shares to allocate to the sandbox (default: 1)"),
            ("--memory string", "Memory to allocate to the sandbox (e.g., 512MB, 2GB) (default: \"1GB\")"),
            ("--storage string", "Storage space to allocate to the sandbox (e.g., 1GB, 10GB) (default: \"512MB\")"),
            ("--log-level string", "Log verbosity (info|warn|error) (default: \"error\")"),
            ("--log-format string", "Log format (text|json) (default: \"text\")"),
            ("--cap-add string [ --cap-add string ]", "Add a capability to the sandbox (e.g., CAP_NET_ADMIN)"),
            ("--cap-drop string [ --cap-drop string ]", "Drop a capability from the sandbox (e.g., CAP_CHOWN)"),
            ("--userns string", "Specifies the user namespace mode (isolated|host) (default: \"isolated\")"),
            ("--help, -h", "show help"),
            ("--version, -v", "print the version"),
        ];
        int width = flags.Max(f => f.Left.Length) + 2;
        var sb = new StringBuilder();
        sb.Append("NAME:\n   microbox - Lightweight sandboxes for Linux.\n\n");
        sb.Append("USAGE:\n   microbox [global options]\n\n");
        sb.Append("VERSION:\n   ").Append(MicroboxDefaults.Version).Append("\n\n");
        sb.Append("GLOBAL OPTIONS:\n");
        foreach (var (left, usage) in flags)
            sb.Append("   ").Append(left.PadRight(width)).Append(usage).Append('\n');
        return sb.ToString();
    }
}
