namespace Husk.Cli.Personalities.Bwrap;

/// <summary>The --help text: bubblewrap's first line and option set, described in Husk's words.</summary>
internal static class BwrapUsage
{
    public const string Version = "bubblewrap 0.11.1";

    public static string Text(string? argv0) =>
        $"usage: {argv0 ?? "bwrap"} [OPTIONS...] [--] COMMAND [ARGS...]\n\n" + Options;

    private const string Options =
        """
            --help                       Show this help and exit
            --version                    Show the version and exit
            --args FD                    Read more options from FD, separated by NUL bytes
            --argv0 VALUE                Run COMMAND with VALUE as its argv[0]
            --level-prefix               Start each message with its syslog level, e.g. <3>
            --unshare-all                New namespaces of every kind (user and cgroup if possible)
            --share-net                  Keep the network namespace (undoes --unshare-all's)
            --unshare-user               New user namespace (implied when run by a user other than root)
            --unshare-user-try           New user namespace when the system allows one
            --unshare-ipc                New IPC namespace
            --unshare-pid                New PID namespace
            --unshare-net                New network namespace with only a loopback interface
            --unshare-uts                New UTS namespace (hostname)
            --unshare-cgroup             New cgroup namespace
            --unshare-cgroup-try         New cgroup namespace when the kernel has them
            --userns FD                  Join the user namespace FD instead of creating one
            --userns2 FD                 Switch to user namespace FD once set up (with --userns)
            --disable-userns             Make new user namespaces impossible inside the sandbox
            --assert-userns-disabled     Fail unless new user namespaces are already impossible
            --pidns FD                   Join the PID namespace FD (the parent of a new one with --unshare-pid)
            --uid UID                    User id inside (needs --unshare-user or --userns)
            --gid GID                    Group id inside (needs --unshare-user or --userns)
            --hostname NAME              Hostname inside (needs --unshare-uts)
            --chdir DIR                  Working directory inside
            --clearenv                   Start from an empty environment (PWD is still set)
            --setenv VAR VALUE           Set VAR to VALUE
            --unsetenv VAR               Remove VAR
            --lock-file DEST             Hold a lock on DEST while the sandbox runs
            --sync-fd FD                 Hold FD open while the sandbox runs
            --bind SRC DEST              Bind the host's SRC on DEST
            --bind-try SRC DEST          Like --bind, skipped when SRC does not exist
            --dev-bind SRC DEST          Like --bind, with device nodes usable
            --dev-bind-try SRC DEST      Like --dev-bind, skipped when SRC does not exist
            --ro-bind SRC DEST           Bind the host's SRC on DEST read-only
            --ro-bind-try SRC DEST       Like --ro-bind, skipped when SRC does not exist
            --bind-fd FD DEST            Bind the directory or path open as FD on DEST
            --ro-bind-fd FD DEST         Bind the directory or path open as FD on DEST read-only
            --remount-ro DEST            Make the mount at DEST read-only (not its submounts)
            --overlay-src SRC            Add SRC as a lower layer of the next overlay (the last is on top)
            --overlay RWSRC WORKDIR DEST Overlay on DEST whose writes go to RWSRC; WORKDIR is an empty
                                         directory on RWSRC's filesystem
            --tmp-overlay DEST           Overlay on DEST whose writes go to a hidden tmpfs
            --ro-overlay DEST            Read-only overlay on DEST (at least two --overlay-src)
            --exec-label LABEL           SELinux label of COMMAND
            --file-label LABEL           SELinux label of files the sandbox setup creates
            --proc DEST                  New procfs on DEST
            --dev DEST                   New minimal /dev on DEST
            --tmpfs DEST                 New tmpfs on DEST
            --mqueue DEST                New mqueue filesystem on DEST
            --dir DEST                   Create the directory DEST
            --file FD DEST               Create the file DEST with the contents of FD
            --bind-data FD DEST          Bind a file with the contents of FD on DEST
            --ro-bind-data FD DEST       Bind a read-only file with the contents of FD on DEST
            --symlink SRC DEST           Create the symlink DEST pointing at SRC
            --seccomp FD                 Install the seccomp program read from FD (once)
            --add-seccomp-fd FD          Install the seccomp program read from FD (repeatable)
            --block-fd FD                Wait until FD is readable before running COMMAND
            --userns-block-fd FD         Wait until FD is readable while someone else maps the ids
            --info-fd FD                 Write the sandbox's pid and namespaces to FD as JSON
            --json-status-fd FD          Write JSON status lines to FD: the pid, then the exit code
            --new-session                Run COMMAND in a new session (setsid)
            --die-with-parent            Kill COMMAND with SIGKILL when bwrap or its parent dies
            --as-pid-1                   COMMAND is pid 1 itself, with no reaper above it
            --cap-add CAP                Keep capability CAP (or ALL)
            --cap-drop CAP               Drop capability CAP (or ALL)
            --perms OCTAL                Mode of what the next option creates (--dir, --file, --tmpfs, ...)
            --size BYTES                 Size of the next --tmpfs
            --chmod OCTAL PATH           Change the mode of the existing PATH

        """;
}
