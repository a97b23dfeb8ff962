using Husk.Cli.Personalities.Bwrap;
using Husk.Cli.Run;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Tests;

/// <summary>
/// Each front door words a failed setup step from the engine's typed data (role, step, errno, paths):
/// here fed synthetic reports of the native stage for ops of a real plan, with no kernel involved.
/// </summary>
public class ErrorWordingTests
{
    private static readonly FakeHost Host = new();

    /// <summary>What the engine makes of the child saying that the op of <paramref name="role"/> (its n-th) failed at <paramref name="step"/>.</summary>
    private static SandboxSetupException Fail(SpawnPlan plan, SetupRole role, SetupStep step, Errno errno, int nth = 0, Func<PlannedOp, bool>? which = null)
    {
        var matches = plan.Ops.Select((op, i) => (op, i)).Where(x => x.op.Role == role && (which?.Invoke(x.op) ?? true)).ToList();
        Assert.True(matches.Count > nth, $"the plan has no op of role {role} (#{nth})");
        var report = new Report { Kind = (int)ReportKind.Error, Op = matches[nth].i, Step = (int)step, Error = (int)errno, Value = -1 };
        return Launcher.Describe(plan, report, null);
    }

    private static (BwrapOptions Options, Dictionary<MountOp, BwrapOp> Origins, SpawnPlan Plan) Bwrap(params string[] args)
    {
        var o = new BwrapOptions { Environment = ["PATH=/usr/bin"] };
        new BwrapParser(o, new BwrapLog(_ => { }), _ => (null, Errno.EBADF), _ => { }, "bwrap").Parse(args);
        var host = new BwrapHost { Uid = 1000, Gid = 1000 };
        BwrapSpecBuilder.Check(o, host);
        BwrapSpecBuilder.CheckIdentity(o, host);
        var (spec, origins) = BwrapSpecBuilder.Build(o, host);
        return (o, origins, SpawnPlanner.Plan(spec, Host.Context()));
    }

    private static string BwrapSays(string[] args, SetupRole role, SetupStep step, Errno errno, int nth = 0)
    {
        var (o, origins, plan) = Bwrap(args);
        return new BwrapErrors(o, origins).Describe(Fail(plan, role, step, errno, nth));
    }

    [Fact]
    public void Bwrap_words_dev_proc_and_overlay_failures_as_bubblewrap_does()
    {
        string[] dev = ["--unshare-pid", "--dev", "/dev", "--proc", "/proc", "true"];
        Assert.Equal("Can't mount devpts on /newroot/dev/pts: Operation not permitted", BwrapSays(dev, SetupRole.DevPts, SetupStep.Mount, Errno.EPERM));
        Assert.Equal("Can't create /dev/devpts: Permission denied", BwrapSays(dev, SetupRole.DevDirectory, SetupStep.Destination, Errno.EACCES, nth: 1));
        Assert.Equal("Can't create /dev/shm: Permission denied", BwrapSays(dev, SetupRole.DevDirectory, SetupStep.Destination, Errno.EACCES, nth: 0));
        Assert.Equal("Can't make symlink at /dev/ptmx: File exists", BwrapSays(dev, SetupRole.PtmxLink, SetupStep.None, Errno.EEXIST));
        Assert.Equal("Can't mount proc on /newroot/proc: Operation not permitted", BwrapSays(dev, SetupRole.ProcMount, SetupStep.Mount, Errno.EPERM));
        Assert.Equal("Can't bind mount /newroot/proc/sys on /newroot/proc/sys: Unable to mount source on destination: Operation not permitted",
            BwrapSays(dev, SetupRole.ProcCover, SetupStep.Mount, Errno.EPERM));

        string[] overlays = ["--overlay-src", "/usr", "--tmp-overlay", "/usr", "--overlay-src", "/etc", "--tmp-overlay", "/etc", "true"];
        Assert.Equal("Creating --tmp-overlay workdir failed: No space left on device", BwrapSays(overlays, SetupRole.TmpOverlayWork, SetupStep.None, Errno.ENOSPC, nth: 1));
        Assert.Equal("Creating --tmp-overlay upperdir failed: No space left on device", BwrapSays(overlays, SetupRole.TmpOverlayUpper, SetupStep.None, Errno.ENOSPC));
        // The second temporary overlay's own directories are named in the options bubblewrap would have passed.
        var (o, origins, plan) = Bwrap(overlays);
        var second = Fail(plan, SetupRole.Mount, SetupStep.Mount, Errno.EINVAL, which: op => op.S2 == "/etc");
        Assert.Equal(1, second.Index);
        Assert.Equal("Can't make overlay mount on /newroot/etc with options upperdir=/tmp-overlay-upper-1,workdir=/tmp-overlay-work-1,lowerdir=/oldroot/etc,userxattr: Invalid argument",
            new BwrapErrors(o, origins).Describe(second));
    }

    [Fact]
    public void Bwrap_words_namespace_and_process_failures_as_bubblewrap_does()
    {
        Assert.Equal("execvp true: No such file or directory", BwrapSays(["true"], SetupRole.Exec, SetupStep.None, Errno.ENOENT));
        Assert.Equal("Can't find source path /nonexistent: No such file or directory",
            BwrapSays(["--bind", "/nonexistent", "/x", "true"], SetupRole.Bind, SetupStep.Source, Errno.ENOENT));
        string[] nested = ["--unshare-user", "--disable-userns", "true"];
        Assert.Equal("sysctl user.max_user_namespaces = 1: Permission denied", BwrapSays(nested, SetupRole.MaxUserNamespaces, SetupStep.Data, Errno.EACCES));
        Assert.Equal("unshare user ns: No space left on device", BwrapSays(nested, SetupRole.NestedUserNamespace, SetupStep.None, Errno.ENOSPC));
        Assert.Equal("setting up gid map: Operation not permitted", BwrapSays(nested, SetupRole.NestedGidMap, SetupStep.None, Errno.EPERM));
        Assert.Equal("Setting userns2 failed: Invalid argument", BwrapSays(["--unshare-user", "--userns2", "5", "true"], SetupRole.SecondUserNamespace, SetupStep.None, Errno.EINVAL));
        Assert.Equal("Can't set hostname to h: Operation not permitted", BwrapSays(["--unshare-uts", "--hostname", "h", "true"], SetupRole.Hostname, SetupStep.None, Errno.EPERM));
    }

    [Fact]
    public void Husk_run_names_the_option_or_says_what_the_engine_did_without_its_own_name_in_the_engines_words()
    {
        var arguments = RunCommand.Parse(["--fs", "ro", "--chdir", "/nowhere", "--bind", "/srv/missing", "/data", "--", "true"], out _);
        var plan = SpawnPlanner.Plan(arguments.ToSpec("wording"), Host.Context());
        var chdir = Fail(plan, SetupRole.Chdir, SetupStep.None, Errno.ENOENT);
        Assert.Equal("husk run: --chdir /nowhere: No such file or directory", RunCommand.SetupMessage(arguments, chdir));
        var bind = Fail(plan, SetupRole.Bind, SetupStep.Source, Errno.ENOENT, which: op => op.S2 == "/data");
        // The engine's message has no program name; the front door adds its own.
        Assert.Equal("bind mount /srv/missing on /data: can't find source /srv/missing: No such file or directory", bind.Message);
        Assert.Equal("husk: " + bind.Message, RunCommand.SetupMessage(arguments, bind));
        Assert.Equal(("/data", "/srv/missing", SetupStep.Source), (bind.Path, bind.SourcePath, bind.Step));
        Assert.IsType<BindMount>(bind.Origin);
    }
}
