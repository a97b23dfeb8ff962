namespace Husk.Cli.Personalities.MiniSandbox;

/// <summary>mini-sandbox's usage text (Usage() in linux-sandbox-options.cc at 68c2571), printed after a usage error.</summary>
internal static class MiniSandboxHelp
{
    /// <summary>The text after the message, for the program name the caller used.</summary>
    public static string Text(string argv0) =>
        $"\nUsage: {argv0} -- command arg1 @args\n" +
        "\nPossible arguments:\n" +
        "  -W <working-dir>  working directory (uses current directory if not specified)\n" +
        "  -T <timeout>  timeout after which the child process will be terminated with SIGTERM\n" +
        "  -t <timeout>  in case timeout occurs, how long to wait before killing the child with SIGKILL\n" +
        "  -i  on receipt of a SIGINT, forward it to the child process as a SIGTERM first and then as a SIGKILL after the -T timeout\n" +
        "  -w <file>  make a file or directory writable for the sandboxed process\n" +
        "  -e <dir>  mount an empty tmpfs on a directory\n" +
        "  -M/-m <source/target>  directory to mount (bind) inside the sandbox\n" +
        "    Multiple directories can be specified and each of them will be mounted readonly.\n" +
        "    The -M option specifies which directory to mount, the -m option specifies where to\n" +
        "  -H  if set, make hostname in the sandbox equal to 'localhost'\n" +
        "  -n  if set, create a new network namespace\n" +
        "  -N  if set, does not create a new network namespace\n" +
        "        Only one of -n and -N may be specified.\n" +
        "  -R  if set, make the uid/gid be root\n" +
        "  -U  if set, make the uid/gid be nobody\n" +
        "  -P  if set, make the gid be tty and make /dev/pts writable\n" +
        "  -F <firewall-rules-file> if set, reads the firewall rules to enable (only in tap mode)\n" +
        "  -D <debug-file> if set, debug info will be printed to this file\n" +
        "  -d <overlayfs-directory> indicate the base folder to use for overlay, it's meant to be used together with -o\n" +
        "  -o <sandbox-root-directory> enables the use of overlayfs and sets up the sandbox-root-directory. Typically to be used with '-d' to specify the overlayfs directory\n" +
        "  -x if set, activates a default version of the sandbox (w/ overlay, no network, chroot) \n" +
        " -k directory ot mount as overlayfs inside the sanbdox. Only available with -o\n" +
        "  -h <sandbox-dir>  if set, chroot to sandbox-dir and only  mount whats been specified with -M/-m for improved hermeticity.  The working-dir should be a folder inside the sandbox-dir\n" +
        "  @FILE  read newline-separated arguments from FILE\n" +
        "  --  command to run inside sandbox, followed by arguments\n";
}
