using System.Runtime.InteropServices;
using static Husk.Interop.Interop;

namespace Husk.Tests;

/// <summary>The C and C# views of every struct shared with the native stage agree.</summary>
public class AbiTests
{
    private static int C(int which, int field) => HuskAbiLayout(which, field);

    private static int Off<T>(string field) => (int)Marshal.OffsetOf<T>(field);

    [Fact]
    public void Op_struct_matches()
    {
        Assert.Equal(C(0, 0), Marshal.SizeOf<HuskOp>());
        string[] fields = ["Kind", "Flags", "Fd", "Mode", "A", "B", "C", "S1", "S2", "P1", "P2"];
        for (int i = 0; i < fields.Length; i++)
            Assert.Equal(C(0, i + 1), Off<HuskOp>(fields[i]));
    }

    [Fact]
    public void Spawn_args_and_result_match()
    {
        Assert.Equal(C(1, 0), Marshal.SizeOf<SpawnArgs>());
        string[] args = ["CloneFlags", "Ops", "OpCount", "CgroupFd", "InitFd", "Flags", "HostMountNamespace", "Channel", "ChannelPeer"];
        for (int i = 0; i < args.Length; i++)
            Assert.Equal(C(1, i + 1), Off<SpawnArgs>(args[i]));
        Assert.Equal(C(2, 0), Marshal.SizeOf<SpawnResult>());
        string[] result = ["Pid", "Pidfd", "Error", "Reserved"];
        for (int i = 0; i < result.Length; i++)
            Assert.Equal(C(2, i + 1), Off<SpawnResult>(result[i]));
    }

    [Fact]
    public void Report_init_status_and_caps_match()
    {
        Assert.Equal(C(3, 0), Marshal.SizeOf<Report>());
        string[] report = ["Kind", "Op", "Step", "Error", "Value"];
        for (int i = 0; i < report.Length; i++)
            Assert.Equal(C(3, i + 1), Off<Report>(report[i]));
        Assert.Equal(C(4, 0), Marshal.SizeOf<InitStatus>());
        string[] status = ["Magic", "WaitStatus", "UserMicroseconds", "SystemMicroseconds", "MaxRssKib", "WrittenBytes"];
        for (int i = 0; i < status.Length; i++)
            Assert.Equal(C(4, i + 1), Off<InitStatus>(status[i]));
        Assert.Equal(C(5, 0), Marshal.SizeOf<HuskCaps>());
        string[] caps = ["Bounding", "Effective", "Permitted", "Inheritable", "Ambient", "SecureBits", "Flags"];
        for (int i = 0; i < caps.Length; i++)
            Assert.Equal(C(5, i + 1), Off<HuskCaps>(caps[i]));
    }

    [Fact]
    public void Constants_match_the_header()
    {
        // Compile a program that prints every constant of husk_abi.h, and compare with C#'s.
        string header = Path.Combine(AppContext.BaseDirectory, "Native", "husk_abi.h");
        string dir = Directory.CreateTempSubdirectory("husk-abi").FullName;
        try
        {
            var expected = new Dictionary<string, long>
            {
                ["HUSK_OP_WAIT_PARENT"] = OpKind.WaitParent, ["HUSK_OP_SETNS"] = OpKind.SetNs, ["HUSK_OP_UNSHARE"] = OpKind.Unshare,
                ["HUSK_OP_FORK"] = OpKind.Fork, ["HUSK_OP_ROOT_BEGIN"] = OpKind.RootBegin, ["HUSK_OP_ROOT_FINISH"] = OpKind.RootFinish,
                ["HUSK_OP_BIND"] = OpKind.Bind, ["HUSK_OP_MOUNT"] = OpKind.Mount, ["HUSK_OP_MKDIR"] = OpKind.Mkdir,
                ["HUSK_OP_SYMLINK"] = OpKind.Symlink, ["HUSK_OP_WRITE_FILE"] = OpKind.WriteFile, ["HUSK_OP_CHMOD"] = OpKind.Chmod,
                ["HUSK_OP_REMOUNT_RO"] = OpKind.RemountReadOnly, ["HUSK_OP_CHDIR"] = OpKind.Chdir, ["HUSK_OP_SETHOSTNAME"] = OpKind.SetHostname,
                ["HUSK_OP_WRITE_PROC"] = OpKind.WriteProc, ["HUSK_OP_SETID"] = OpKind.SetId, ["HUSK_OP_CAPS"] = OpKind.Caps,
                ["HUSK_OP_PRCTL"] = OpKind.Prctl, ["HUSK_OP_RLIMIT"] = OpKind.Rlimit, ["HUSK_OP_SETSID"] = OpKind.SetSid,
                ["HUSK_OP_DUP2"] = OpKind.Dup2, ["HUSK_OP_CLOEXEC_RANGE"] = OpKind.CloexecRange, ["HUSK_OP_WAIT_FD"] = OpKind.WaitFd,
                ["HUSK_OP_LOCK_FILE"] = OpKind.LockFile, ["HUSK_OP_SECCOMP"] = OpKind.Seccomp, ["HUSK_OP_EXEC"] = OpKind.Exec,
                ["HUSK_OP_LOOPBACK_UP"] = OpKind.LoopbackUp, ["HUSK_OP_CLOSE"] = OpKind.Close, ["HUSK_OP_UMASK"] = OpKind.Umask,
                ["HUSK_OP_EXPECT_NO_USERNS"] = OpKind.ExpectNoUserns, ["HUSK_OP_SIGNAL_MASK"] = OpKind.SignalMask,
                ["HUSK_OP_LANDLOCK_CREATE"] = OpKind.LandlockCreate, ["HUSK_OP_LANDLOCK_RULE"] = OpKind.LandlockRule,
                ["HUSK_OP_LANDLOCK_RESTRICT"] = OpKind.LandlockRestrict, ["HUSK_OP_SET_CTTY"] = OpKind.SetCtty, ["HUSK_OP_OPEN_PTY"] = OpKind.OpenPty,
                ["HUSK_OP_ATTACH_MOUNT"] = OpKind.AttachMount,
                ["HUSK_REPORT_TERMINAL"] = ReportKind.Terminal, ["HUSK_REPORT_HELLO"] = ReportKind.Hello,
                ["HUSK_F_TRY"] = OpFlags.Try, ["HUSK_F_READONLY"] = OpFlags.ReadOnly, ["HUSK_F_DEVICES"] = OpFlags.Devices,
                ["HUSK_F_IF_WRITABLE"] = OpFlags.IfWritable, ["HUSK_F_SOURCE_FD"] = OpFlags.SourceFd, ["HUSK_F_PARENTS"] = OpFlags.Parents,
                ["HUSK_F_BIND_DATA"] = OpFlags.BindData, ["HUSK_F_SEARCH_PATH"] = OpFlags.SearchPath, ["HUSK_F_SETGROUPS"] = OpFlags.SetGroups,
                ["HUSK_F_REPORT_PID"] = OpFlags.ReportPid, ["HUSK_F_INIT_STATUS"] = OpFlags.InitStatus, ["HUSK_F_NO_CREATE"] = OpFlags.NoCreate,
                ["HUSK_F_NOFOLLOW"] = OpFlags.NoFollow, ["HUSK_F_SEND_LISTENER"] = OpFlags.SendListener, ["HUSK_F_IDENTICAL_OK"] = OpFlags.IdenticalOk,
                ["HUSK_F_DIR"] = OpFlags.Dir, ["HUSK_F_PTY_SLAVE"] = OpFlags.PtySlave, ["HUSK_F_CLAMP"] = OpFlags.Clamp, ["HUSK_SIG_KILL_TREE"] = SignalKillTree, ["HUSK_F_SUID"] = OpFlags.Setuid,
                ["HUSK_F_NO_PARENTS"] = OpFlags.NoParents, ["HUSK_F_OVERMOUNT"] = OpFlags.Overmount,
                ["HUSK_F_ONTO_SYMLINK"] = OpFlags.OntoSymlink, ["HUSK_F_ENV_PID"] = OpFlags.EnvPid, ["HUSK_ROOT_OLD"] = OpFlags.RootOld, ["HUSK_ROOT_BASE"] = OpFlags.RootBase, ["HUSK_ROOT_CWD"] = OpFlags.RootCwd,
                ["HUSK_REPORT_ERROR"] = ReportKind.Error, ["HUSK_REPORT_PID"] = ReportKind.Pid, ["HUSK_REPORT_LISTENER"] = ReportKind.Listener,
                ["HUSK_STEP_SOURCE"] = Step.Source, ["HUSK_STEP_DEST"] = Step.Destination, ["HUSK_STEP_PARENTS"] = Step.Parents,
                ["HUSK_STEP_MOUNT"] = Step.Mount, ["HUSK_STEP_ATTR"] = Step.Attributes, ["HUSK_STEP_DATA"] = Step.Data,
                ["HUSK_STEP_OPTION"] = Step.Option, ["HUSK_STEP_EXISTS"] = Step.Exists, ["HUSK_STEP_RACE"] = Step.Race,
                ["HUSK_STEP_NAMESPACE"] = Step.Namespace, ["HUSK_STEP_INIT"] = Step.Init,
                ["HUSK_SPAWN_MOUNTS"] = SpawnMounts, ["HUSK_INIT_MAGIC"] = InitMagic, ["HUSK_CAPS_SET_SECUREBITS"] = CapsSetSecureBits,
            };
            var src = new System.Text.StringBuilder($"#include <stdio.h>\n#include \"{header}\"\nint main(void) {{\n");
            foreach (string name in expected.Keys)
                src.Append($"  printf(\"%s %lld\\n\", \"{name}\", (long long)({name}));\n");
            src.Append("  return 0;\n}\n");
            File.WriteAllText(Path.Combine(dir, "c.c"), src.ToString());
            var cc = TestEnvironment.Exec("gcc", ["-Wall", "-Werror", "-o", Path.Combine(dir, "c"), Path.Combine(dir, "c.c")]);
            Assert.True(cc.Code == 0, cc.Stderr);
            var run = TestEnvironment.Exec(Path.Combine(dir, "c"), []);
            var actual = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' ')).ToDictionary(p => p[0], p => long.Parse(p[1]));
            foreach (var (name, value) in expected)
                Assert.True(actual[name] == value, $"{name}: C says {actual[name]}, C# says {value}");
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }
}
