using System.Globalization;
using System.Text;
using Husk.Launch;
using static Husk.Interop.Interop;
using static Husk.Interop.Interop.Clone;

namespace Husk.Cli.Personalities.Bwrap;

/// <summary>
/// Words a failed sandbox setup the way bubblewrap words the same failure. The engine says which
/// op and step failed and with what errno; bubblewrap names paths as its setup saw them
/// (/oldroot/... for the host, /newroot/... for the sandbox) in some messages and as given in others.
/// </summary>
internal sealed class BwrapErrors(BwrapOptions options, IReadOnlyDictionary<MountOp, BwrapOp> origins)
{
    public string Describe(SandboxSetupException e)
    {
        string err = BwrapLog.StrError(e.Errno);
        string mountErr = BwrapLog.MountStrError(e.Errno);
        switch (e.Stage)
        {
            case SandboxSetupStage.Clone:
                return CloneFailure(e.Errno);
            case SandboxSetupStage.IdMapping:
                if (e.Message.Contains("setgroups", StringComparison.Ordinal))
                    return $"error writing to setgroups: {err}";
                return e.Message.Contains("gid map", StringComparison.Ordinal) ? $"setting up gid map: {err}" : $"setting up uid map: {err}";
            case SandboxSetupStage.Start:
                return $"Creating new namespace failed: {err}";
        }
        var op = e.Op;
        if (op is null)
            return Strip(e.Message);
        var origin = op.Origin is MountOp m && origins.TryGetValue(m, out var b) ? b : null;
        if (origin is not null && Mount(e, op, origin, err, mountErr) is { } text)
            return text;
        return op.Kind switch
        {
            OpKind.Exec => $"execvp {options.Command[0]}: {err}",
            OpKind.Chdir => options.ChdirPath is { } dir ? $"Can't chdir to {dir}: {err}" : $"Can't chdir: {err}",
            OpKind.LockFile => e.Errno is Errno.ENOENT or Errno.EACCES or Errno.ENOTDIR or Errno.ELOOP or Errno.EISDIR
                ? $"Unable to open lock file {op.S2}: {err}"
                : $"Unable to lock file {op.S2}: {err}",
            OpKind.SetNs when op.Fd == options.Userns2Fd && (op.A & CLONE_NEWUSER) != 0 && op.Description.Contains("second", StringComparison.Ordinal)
                => $"Setting userns2 failed: {err}",
            OpKind.SetNs when (op.A & CLONE_NEWUSER) != 0 => e.Errno == Errno.EINVAL
                ? "Joining the specified user namespace failed, it might not be a descendant of the current user namespace."
                : $"Joining specified user namespace failed: {err}",
            OpKind.SetNs => $"Setting pidns failed: {err}",
            OpKind.Unshare when op.A == CLONE_NEWPID => $"unshare pid ns: {err}",
            OpKind.Unshare when op.A == CLONE_NEWUSER => $"unshare user ns: {err}",
            OpKind.Unshare => CloneFailure(e.Errno),
            OpKind.Fork when (op.Flags & OpFlags.InitStatus) != 0 => $"Can't fork for pid 1: {err}",
            OpKind.Fork => $"Can't fork for --pidns: {err}",
            OpKind.WriteProc => WriteProc(op, e.Step, err),
            OpKind.ExpectNoUserns => "creation of new user namespaces was not disabled as requested",
            OpKind.SetHostname => $"Can't set hostname to {op.S1}: {err}",
            OpKind.LoopbackUp => $"loopback: Failed RTM_NEWLINK: {err}",
            OpKind.Caps => $"capset failed: {err}",
            OpKind.Prctl => $"prctl(PR_SET_NO_NEW_PRIVS) failed: {err}",
            OpKind.Seccomp => e.Errno == Errno.EINVAL
                ? "Unable to set up system call filtering as requested: prctl(PR_SET_SECCOMP) reported EINVAL. (Hint: this requires a kernel configured with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER.)"
                : $"prctl(PR_SET_SECCOMP): {err}",
            OpKind.SetSid => $"setsid: {err}",
            OpKind.SetId => $"unable to switch to uid {op.A}: {err}",
            OpKind.RootBegin => e.Step switch
            {
                Step.Attributes => $"Failed to make / slave: {mountErr}",
                Step.Mount => $"Failed to mount tmpfs: {mountErr}",
                _ => $"Creating newroot failed: {err}",
            },
            OpKind.RootFinish => e.Step switch
            {
                Step.Attributes => $"Failed to make old root rprivate: {mountErr}",
                Step.Mount => $"unmount old root: {err}",
                _ => $"pivot_root(/newroot): {err}",
            },
            _ => Strip(e.Message),
        };
    }

    internal static string CloneFailure(Errno errno) => errno switch
    {
        Errno.EINVAL => "Creating new namespace failed, likely because the kernel does not support user namespaces.  bwrap must be installed setuid on such systems.",
        Errno.EPERM => "No permissions to create a new namespace, likely because the kernel does not allow non-privileged user namespaces. On e.g. debian this can be enabled with 'sysctl kernel.unprivileged_userns_clone=1'.",
        Errno.ENOSPC => "Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded (ENOSPC)",
        _ => $"Creating new namespace failed: {BwrapLog.StrError(errno)}",
    };

    private static string Strip(string message) => message.StartsWith("husk: ", StringComparison.Ordinal) ? message[6..] : message;

    private static string NewRoot(string path) => "/newroot/" + path.TrimStart('/');

    private static string OldRoot(string path) => "/oldroot/" + path.TrimStart('/');

    private static string WriteProc(PlannedOp op, int step, string err) => op.S1 switch
    {
        "sys/user/max_user_namespaces" => step == Step.Data
            ? $"sysctl user.max_user_namespaces = 1: {err}"
            : $"cannot open /proc/sys/user/max_user_namespaces: {err}",
        "self/setgroups" => $"error writing to setgroups: {err}",
        "self/gid_map" => $"setting up gid map: {err}",
        _ => $"setting up uid map: {err}",
    };

    /// <summary>A failure inside a filesystem operation, worded for the option it came from.</summary>
    private string? Mount(SandboxSetupException e, PlannedOp op, BwrapOp b, string err, string mountErr)
    {
        int step = e.Step;
        string dest = b.Dest;
        if (step == Step.Parents)
            return $"Can't mkdir parents for {dest}: {err}";
        switch (b.Kind)
        {
            case BwrapOpKind.Bind or BwrapOpKind.ReadOnlyBind or BwrapOpKind.DevBind or BwrapOpKind.BindFd or BwrapOpKind.ReadOnlyBindFd:
                return step switch
                {
                    Step.Source => $"Can't find source path {b.Source}: {err}",
                    Step.Destination => SourceIsDirectory(b) ? $"Can't mkdir {dest}: {err}" : $"Can't create file at {dest}: {err}",
                    Step.Race => "Race condition binding dirfd",
                    Step.Attributes => $"Can't bind mount {OldRoot(Path.GetFullPath(b.Source!))} on {NewRoot(dest)}: Unable to remount destination \"{NewRoot(dest)}\" with correct flags: {mountErr}",
                    _ => $"Can't bind mount {OldRoot(Path.GetFullPath(b.Source!))} on {NewRoot(dest)}: Unable to mount source on destination: {mountErr}",
                };
            case BwrapOpKind.Overlay or BwrapOpKind.TmpOverlay or BwrapOpKind.ReadOnlyOverlay:
                return Overlay(e, op, b, err, mountErr);
            case BwrapOpKind.Proc:
                if (step == Step.Destination)
                    return $"Can't mkdir {dest}: {err}";
                if (op.Kind == OpKind.Mount)
                    return $"Can't mount proc on {NewRoot(dest)}: {mountErr}";
                return op.S1 == "/proc"
                    ? $"Can't bind mount oldroot/proc on {NewRoot(dest)}: Unable to mount source on destination: {mountErr}"
                    : $"Can't bind mount {NewRoot(op.S1!)} on {NewRoot(op.S2!)}: Unable to mount source on destination: {mountErr}";
            case BwrapOpKind.Dev:
                return Dev(op, step, b, err, mountErr);
            case BwrapOpKind.Tmpfs:
                return step == Step.Destination ? $"Can't mkdir {dest}: {err}" : $"Can't mount tmpfs on {NewRoot(dest)}: {mountErr}";
            case BwrapOpKind.Mqueue:
                return step == Step.Destination ? $"Can't mkdir {dest}: {err}" : $"Can't mount mqueue on {NewRoot(dest)}: {mountErr}";
            case BwrapOpKind.Dir:
                return $"Can't mkdir {dest}: {err}";
            case BwrapOpKind.File:
                return step == Step.Data ? $"Can't write data to file {dest}: {err}" : $"Can't create file {dest}: {err}";
            case BwrapOpKind.BindData or BwrapOpKind.ReadOnlyBindData:
                return step switch
                {
                    Step.Data => $"Can't write data to file {dest}: {err}",
                    Step.Destination => $"Can't create file at {dest}: {err}",
                    _ => $"Can't bind mount /bindfile on {NewRoot(dest)}: Unable to mount source on destination: {mountErr}",
                };
            case BwrapOpKind.Symlink:
                if (step == Step.Exists)
                {
                    return e.Detail is { } existing
                        ? $"Can't make symlink at {dest}: existing destination is {existing}"
                        : $"Can't make symlink at {dest}: destination exists and is not a symlink";
                }
                return $"Can't make symlink at {dest}: {err}";
            case BwrapOpKind.RemountReadOnly:
                // mount_setattr refuses a path that is no mount point; bubblewrap looks it up in mountinfo.
                if (step == Step.Attributes && e.Errno == Errno.EINVAL)
                    return $"Can't remount readonly on {NewRoot(dest)}: Unable to find \"{NewRoot(dest)}\" in mount table";
                return step == Step.Attributes
                    ? $"Can't remount readonly on {NewRoot(dest)}: Unable to remount destination \"{NewRoot(dest)}\" with correct flags: {mountErr}"
                    : $"Can't remount readonly on {NewRoot(dest)}: realpath(destination): {err}";
            case BwrapOpKind.Chmod:
                return $"Can't chmod {(b.Perms == 0 ? "0" : "0" + Convert.ToString(b.Perms, 8))} {dest}: {err}";
            default:
                return null;
        }
    }

    private static bool SourceIsDirectory(BwrapOp b)
    {
        string? source = b.Source;
        if (source is null)
            return false;
        return TryStat(Path.GetFullPath(source), out Statx st) == 0 && (st.Mode & S_IFMT) == S_IFDIR;
    }

    private static string Dev(PlannedOp op, int step, BwrapOp b, string err, string mountErr)
    {
        string dest = b.Dest.TrimEnd('/');
        string name = op.S2 is { } s2 ? Path.GetFileName(s2) : "";
        switch (op.Kind)
        {
            case OpKind.Mount when op.S1 == "devpts":
                return $"Can't mount devpts on {NewRoot(op.S2!)}: {mountErr}";
            case OpKind.Mount:
                return step == Step.Destination ? $"Can't mkdir {b.Dest}: {err}" : $"Can't mount tmpfs on {NewRoot(b.Dest)}: {mountErr}";
            case OpKind.Mkdir:
                return name == "pts" ? $"Can't create {dest}/devpts: {err}" : $"Can't create {dest}/{name}: {err}";
            case OpKind.Symlink:
                return name == "ptmx" ? $"Can't make symlink at {dest}/ptmx: {err}" : $"Can't create symlink {dest}/{name}: {err}";
            case OpKind.Bind when name == "console":
                return step is Step.Destination or Step.Parents
                    ? $"creating {dest}/console: {err}"
                    : $"Can't bind mount {OldRoot(op.S1!)} on {NewRoot(op.S2!)}: Unable to mount source on destination: {mountErr}";
            case OpKind.Bind:
                return step is Step.Destination or Step.Parents
                    ? $"Can't create file {dest}/{name}: {err}"
                    : $"Can't bind mount {OldRoot(op.S1!)} on {NewRoot(op.S2!)}: Unable to mount source on destination: {mountErr}";
            default:
                return $"Can't mount tmpfs on {NewRoot(b.Dest)}: {mountErr}";
        }
    }

    private string Overlay(SandboxSetupException e, PlannedOp op, BwrapOp b, string err, string mountErr)
    {
        if (op.Kind == OpKind.Mkdir)
        {
            return op.S2 is { } dir && dir.Contains("-work-", StringComparison.Ordinal)
                ? $"Creating --tmp-overlay workdir failed: {err}"
                : $"Creating --tmp-overlay upperdir failed: {err}";
        }
        if (e.Step == Step.Destination)
            return $"Can't mkdir {b.Dest}: {err}";
        // A layer that cannot be found is reported as bubblewrap's realpath() of it would be.
        if (e.Step == Step.Option && e.Option is { } option && option.IndexOf('=') is int eq and > 0
            && e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.EACCES or Errno.ELOOP)
        {
            string full = option[(eq + 1)..];
            string given = new[] { b.Source, b.WorkDir }.Concat(b.Lowers)
                .FirstOrDefault(p => p is not null && Path.GetFullPath(p) == full) ?? full;
            return $"Can't find source path {given}: {err}";
        }
        string options = OverlayOptions(b);
        if (e.Errno == Errno.ELOOP)
            return $"Can't make overlay mount on {NewRoot(b.Dest)} with options {options}: Overlay directories may not overlap";
        return $"Can't make overlay mount on {NewRoot(b.Dest)} with options {options}: {mountErr}";
    }

    /// <summary>The option string bubblewrap would have passed to mount(2), for its error message.</summary>
    private string OverlayOptions(BwrapOp b)
    {
        var sb = new StringBuilder();
        if (b.Kind == BwrapOpKind.Overlay)
        {
            sb.Append("upperdir=/oldroot").Append(Escape(Path.GetFullPath(b.Source!)));
            sb.Append(",workdir=/oldroot").Append(Escape(Path.GetFullPath(b.WorkDir!))).Append(',');
        }
        else if (b.Kind == BwrapOpKind.TmpOverlay)
        {
            int index = options.Ops.TakeWhile(o => !ReferenceEquals(o, b)).Count(o => o.Kind == BwrapOpKind.TmpOverlay);
            sb.Append(CultureInfo.InvariantCulture, $"upperdir=/tmp-overlay-upper-{index},workdir=/tmp-overlay-work-{index},");
        }
        sb.Append("lowerdir=/oldroot");
        for (int i = b.Lowers.Count - 1; i >= 0; i--)
        {
            if (i != b.Lowers.Count - 1)
                sb.Append(":/oldroot");
            sb.Append(Escape(Path.GetFullPath(b.Lowers[i])));
        }
        sb.Append(",userxattr");
        return sb.ToString();
    }

    private static string Escape(string path)
    {
        var sb = new StringBuilder();
        foreach (char c in path)
        {
            if (c is '\\' or ',' or ':')
                sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }
}
