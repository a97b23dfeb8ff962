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
                return e.Role switch
                {
                    SetupRole.Setgroups => $"error writing to setgroups: {err}",
                    SetupRole.GidMap => $"setting up gid map: {err}",
                    _ => $"setting up uid map: {err}",
                };
            case SandboxSetupStage.Start:
                return $"Creating new namespace failed: {err}";
        }
        if (e.Origin is { } m && origins.TryGetValue(m, out var origin) && Mount(e, origin, err, mountErr) is { } text)
            return text;
        return e.Role switch
        {
            SetupRole.Exec => $"execvp {options.Command[0]}: {err}",
            SetupRole.Chdir => options.ChdirPath is { } dir ? $"Can't chdir to {dir}: {err}" : $"Can't chdir: {err}",
            SetupRole.LockFile => e.Errno is Errno.ENOENT or Errno.EACCES or Errno.ENOTDIR or Errno.ELOOP or Errno.EISDIR
                ? $"Unable to open lock file {e.Path}: {err}"
                : $"Unable to lock file {e.Path}: {err}",
            SetupRole.SecondUserNamespace => $"Setting userns2 failed: {err}",
            SetupRole.JoinUserNamespace => e.Errno == Errno.EINVAL
                ? "Joining the specified user namespace failed, it might not be a descendant of the current user namespace."
                : $"Joining specified user namespace failed: {err}",
            SetupRole.JoinPidNamespace or SetupRole.JoinNamespaces => $"Setting pidns failed: {err}",
            SetupRole.CreatePidNamespace => $"unshare pid ns: {err}",
            SetupRole.NestedUserNamespace => $"unshare user ns: {err}",
            SetupRole.CreateNamespaces => CloneFailure(e.Errno),
            SetupRole.ForkInit => $"Can't fork for pid 1: {err}",
            SetupRole.EnterPidNamespace => $"Can't fork for --pidns: {err}",
            SetupRole.MaxUserNamespaces => e.Step == SetupStep.Data
                ? $"sysctl user.max_user_namespaces = 1: {err}"
                : $"cannot open /proc/sys/user/max_user_namespaces: {err}",
            SetupRole.NestedSetgroups => $"error writing to setgroups: {err}",
            SetupRole.NestedGidMap => $"setting up gid map: {err}",
            SetupRole.NestedUidMap => $"setting up uid map: {err}",
            SetupRole.ExpectNoUserNamespaces => "creation of new user namespaces was not disabled as requested",
            SetupRole.Hostname => $"Can't set hostname to {options.Hostname}: {err}",
            SetupRole.Loopback => $"loopback: Failed RTM_NEWLINK: {err}",
            SetupRole.Capabilities => $"capset failed: {err}",
            SetupRole.NoNewPrivileges => $"prctl(PR_SET_NO_NEW_PRIVS) failed: {err}",
            SetupRole.Seccomp => e.Errno == Errno.EINVAL
                ? "Unable to set up system call filtering as requested: prctl(PR_SET_SECCOMP) reported EINVAL. (Hint: this requires a kernel configured with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER.)"
                : $"prctl(PR_SET_SECCOMP): {err}",
            SetupRole.NewSession => $"setsid: {err}",
            SetupRole.SetIds => $"unable to switch to uid {options.SandboxUid}: {err}",
            SetupRole.RootBegin => e.Step switch
            {
                SetupStep.Attributes => $"Failed to make / slave: {mountErr}",
                SetupStep.Mount => $"Failed to mount tmpfs: {mountErr}",
                _ => $"Creating newroot failed: {err}",
            },
            SetupRole.RootFinish => e.Step switch
            {
                SetupStep.Attributes => $"Failed to make old root rprivate: {mountErr}",
                SetupStep.Mount => $"unmount old root: {err}",
                _ => $"pivot_root(/newroot): {err}",
            },
            _ => e.Message,
        };
    }

    internal static string CloneFailure(Errno errno) => errno switch
    {
        Errno.EINVAL => "Creating new namespace failed, likely because the kernel does not support user namespaces.  bwrap must be installed setuid on such systems.",
        Errno.EPERM => "No permissions to create a new namespace, likely because the kernel does not allow non-privileged user namespaces. On e.g. debian this can be enabled with 'sysctl kernel.unprivileged_userns_clone=1'.",
        Errno.ENOSPC => "Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded (ENOSPC)",
        _ => $"Creating new namespace failed: {BwrapLog.StrError(errno)}",
    };

    private static string NewRoot(string path) => "/newroot/" + path.TrimStart('/');

    private static string OldRoot(string path) => "/oldroot/" + path.TrimStart('/');

    /// <summary>A failure inside a filesystem operation, worded for the option it came from.</summary>
    private string? Mount(SandboxSetupException e, BwrapOp b, string err, string mountErr)
    {
        var step = e.Step;
        string dest = b.Dest;
        if (step == SetupStep.Parents)
            return $"Can't mkdir parents for {dest}: {err}";
        switch (b.Kind)
        {
            case BwrapOpKind.Bind or BwrapOpKind.ReadOnlyBind or BwrapOpKind.DevBind or BwrapOpKind.BindFd or BwrapOpKind.ReadOnlyBindFd:
                return step switch
                {
                    SetupStep.Source => $"Can't find source path {b.Source}: {err}",
                    SetupStep.Destination => SourceIsDirectory(b) ? $"Can't mkdir {dest}: {err}" : $"Can't create file at {dest}: {err}",
                    SetupStep.Race => "Race condition binding dirfd",
                    SetupStep.Attributes => $"Can't bind mount {OldRoot(Path.GetFullPath(b.Source!))} on {NewRoot(dest)}: Unable to remount destination \"{NewRoot(dest)}\" with correct flags: {mountErr}",
                    _ => $"Can't bind mount {OldRoot(Path.GetFullPath(b.Source!))} on {NewRoot(dest)}: Unable to mount source on destination: {mountErr}",
                };
            case BwrapOpKind.Overlay or BwrapOpKind.TmpOverlay or BwrapOpKind.ReadOnlyOverlay:
                return Overlay(e, b, err, mountErr);
            case BwrapOpKind.Proc:
                if (step == SetupStep.Destination)
                    return $"Can't mkdir {dest}: {err}";
                return e.Role switch
                {
                    SetupRole.ProcMount => $"Can't mount proc on {NewRoot(dest)}: {mountErr}",
                    SetupRole.ProcBind => $"Can't bind mount oldroot/proc on {NewRoot(dest)}: Unable to mount source on destination: {mountErr}",
                    _ => $"Can't bind mount {NewRoot(e.SourcePath!)} on {NewRoot(e.Path!)}: Unable to mount source on destination: {mountErr}",
                };
            case BwrapOpKind.Dev:
                return Dev(e, b, err, mountErr);
            case BwrapOpKind.Tmpfs:
                return step == SetupStep.Destination ? $"Can't mkdir {dest}: {err}" : $"Can't mount tmpfs on {NewRoot(dest)}: {mountErr}";
            case BwrapOpKind.Mqueue:
                return step == SetupStep.Destination ? $"Can't mkdir {dest}: {err}" : $"Can't mount mqueue on {NewRoot(dest)}: {mountErr}";
            case BwrapOpKind.Dir:
                return $"Can't mkdir {dest}: {err}";
            case BwrapOpKind.File:
                return step == SetupStep.Data ? $"Can't write data to file {dest}: {err}" : $"Can't create file {dest}: {err}";
            case BwrapOpKind.BindData or BwrapOpKind.ReadOnlyBindData:
                return step switch
                {
                    SetupStep.Data => $"Can't write data to file {dest}: {err}",
                    SetupStep.Destination => $"Can't create file at {dest}: {err}",
                    _ => $"Can't bind mount /bindfile on {NewRoot(dest)}: Unable to mount source on destination: {mountErr}",
                };
            case BwrapOpKind.Symlink:
                if (step == SetupStep.Exists)
                {
                    return e.Detail is { } existing
                        ? $"Can't make symlink at {dest}: existing destination is {existing}"
                        : $"Can't make symlink at {dest}: destination exists and is not a symlink";
                }
                return $"Can't make symlink at {dest}: {err}";
            case BwrapOpKind.RemountReadOnly:
                // mount_setattr refuses a path that is no mount point; bubblewrap looks it up in mountinfo.
                if (step == SetupStep.Attributes && e.Errno == Errno.EINVAL)
                    return $"Can't remount readonly on {NewRoot(dest)}: Unable to find \"{NewRoot(dest)}\" in mount table";
                return step == SetupStep.Attributes
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

    private static string Dev(SandboxSetupException e, BwrapOp b, string err, string mountErr)
    {
        string dest = b.Dest.TrimEnd('/');
        string name = e.Path is { } path ? Path.GetFileName(path) : "";
        var step = e.Step;
        return e.Role switch
        {
            SetupRole.DevPts => $"Can't mount devpts on {NewRoot(e.Path!)}: {mountErr}",
            SetupRole.DevTmpfs => step == SetupStep.Destination ? $"Can't mkdir {b.Dest}: {err}" : $"Can't mount tmpfs on {NewRoot(b.Dest)}: {mountErr}",
            SetupRole.DevDirectory => name == "pts" ? $"Can't create {dest}/devpts: {err}" : $"Can't create {dest}/{name}: {err}",
            SetupRole.PtmxLink => $"Can't make symlink at {dest}/ptmx: {err}",
            SetupRole.DevLink => $"Can't create symlink {dest}/{name}: {err}",
            SetupRole.Console => step is SetupStep.Destination or SetupStep.Parents
                ? $"creating {dest}/console: {err}"
                : $"Can't bind mount {OldRoot(e.SourcePath!)} on {NewRoot(e.Path!)}: Unable to mount source on destination: {mountErr}",
            SetupRole.DevNode => step is SetupStep.Destination or SetupStep.Parents
                ? $"Can't create file {dest}/{name}: {err}"
                : $"Can't bind mount {OldRoot(e.SourcePath!)} on {NewRoot(e.Path!)}: Unable to mount source on destination: {mountErr}",
            _ => $"Can't mount tmpfs on {NewRoot(b.Dest)}: {mountErr}",
        };
    }

    private string Overlay(SandboxSetupException e, BwrapOp b, string err, string mountErr)
    {
        if (e.Role == SetupRole.TmpOverlayWork)
            return $"Creating --tmp-overlay workdir failed: {err}";
        if (e.Role == SetupRole.TmpOverlayUpper)
            return $"Creating --tmp-overlay upperdir failed: {err}";
        if (e.Step == SetupStep.Destination)
            return $"Can't mkdir {b.Dest}: {err}";
        // A layer that cannot be found is reported as bubblewrap's realpath() of it would be.
        if (e.Step == SetupStep.Option && e.Option is { } option && option.IndexOf('=') is int eq and > 0
            && e.Errno is Errno.ENOENT or Errno.ENOTDIR or Errno.EACCES or Errno.ELOOP)
        {
            string full = option[(eq + 1)..];
            string given = new[] { b.Source, b.WorkDir }.Concat(b.Lowers)
                .FirstOrDefault(p => p is not null && Path.GetFullPath(p) == full) ?? full;
            return $"Can't find source path {given}: {err}";
        }
        string options = OverlayOptions(b, e.Index);
        if (e.Errno == Errno.ELOOP)
            return $"Can't make overlay mount on {NewRoot(b.Dest)} with options {options}: Overlay directories may not overlap";
        return $"Can't make overlay mount on {NewRoot(b.Dest)} with options {options}: {mountErr}";
    }

    /// <summary>The option string bubblewrap would have passed to mount(2), for its error message.</summary>
    private static string OverlayOptions(BwrapOp b, int tmpOverlay)
    {
        var sb = new StringBuilder();
        if (b.Kind == BwrapOpKind.Overlay)
        {
            sb.Append("upperdir=/oldroot").Append(Escape(Path.GetFullPath(b.Source!)));
            sb.Append(",workdir=/oldroot").Append(Escape(Path.GetFullPath(b.WorkDir!))).Append(',');
        }
        else if (b.Kind == BwrapOpKind.TmpOverlay)
        {
            sb.Append(CultureInfo.InvariantCulture, $"upperdir=/tmp-overlay-upper-{tmpOverlay},workdir=/tmp-overlay-work-{tmpOverlay},");
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
