using Husk.Cli.Run;
using Husk.Interop;

namespace Husk.Cli.Registry;

/// <summary>
/// <c>husk enter ID [CMD...]</c>: a new process in a running sandbox's namespaces (joined at once
/// through a pidfd), with the same walls as its payload: the seccomp filter, Landlock rules,
/// capabilities and no_new_privs the registry recorded when the sandbox started.
/// </summary>
internal static class EnterCommand
{
    private static readonly (NamespaceKinds Kind, string Name)[] Kinds =
    [
        (NamespaceKinds.User, "user"), (NamespaceKinds.Mount, "mnt"), (NamespaceKinds.Pid, "pid"), (NamespaceKinds.Ipc, "ipc"),
        (NamespaceKinds.Uts, "uts"), (NamespaceKinds.Net, "net"), (NamespaceKinds.Cgroup, "cgroup"), (NamespaceKinds.Time, "time"),
    ];

    public static int Execute(string id, string[] command, string? chdir, bool tty)
    {
        try
        {
            var entry = SandboxRegistry.Find(id);
            using var pidfd = SandboxRegistry.Open(entry);
            // Join only what the sandbox does not share with us (joining one's own user namespace is refused).
            NamespaceKinds join = 0;
            foreach (var (kind, name) in Kinds)
            {
                ulong theirs = Interop.Interop.NamespaceInode(name, entry.Pid);
                if (theirs != 0 && theirs != Interop.Interop.NamespaceInode(name))
                    join |= kind;
            }
            if (command.Length == 0)
                command = [Environment.GetEnvironmentVariable("SHELL") is { Length: > 0 } sh ? sh : "/bin/sh"];
            if (entry.Policy is not { } policy)
            {
                Console.Error.WriteLine($"husk enter: {entry.Id}: this sandbox did not record its policy (started by an older husk): cannot enter it with the same restrictions");
                return 1;
            }
            var spec = policy.ApplyTo(new SandboxSpec
            {
                Command = [.. command],
                Namespaces = NamespaceKinds.None,
                JoinProcessFd = pidfd,
                JoinNamespaces = join,
                Identity = join.HasFlag(NamespaceKinds.User) ? new Identity { Uid = entry.Uid, Gid = entry.Gid } : new Identity(),
                FileSystem = FileSystemSpec.Inherit,
                Environment = Husk.SandboxSpecBuilder.CallerEnvironment(),
                WorkingDirectory = chdir ?? "/",
                NewSession = !tty,
            });
            var session = new RunSession(new RunArguments { Tty = tty }, SandboxRegistry.NewId());
            return tty ? TtyRunner.Run(spec, session) : session.Run(spec);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }
}

/// <summary><c>husk kill ID</c>: signals a sandbox's pid 1 through a pidfd.</summary>
internal static class KillCommand
{
    public static int Execute(string id, string signal)
    {
        try
        {
            int sig = Interop.Interop.Signals.Parse(signal) ?? throw new UsageException($"husk kill: unknown signal {signal}");
            var entry = SandboxRegistry.Find(id);
            using var pidfd = SandboxRegistry.Open(entry);
            int err = Interop.Interop.PidfdSendSignal(pidfd, sig);
            if (err != 0)
            {
                Console.Error.WriteLine($"husk kill: {entry.Id}: {SyscallException.Describe((Errno)err)}");
                return 1;
            }
            return 0;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }
}
