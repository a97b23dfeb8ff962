using System.Text;

namespace Husk.Cli.Personalities.Bwrap;

/// <summary>Reads everything from a descriptor of the caller and closes it; an errno when it cannot.</summary>
internal delegate (byte[]? Data, Errno Error) FdReader(int fd);

/// <summary>
/// bubblewrap 0.11.1's command line: options are taken one by one, in order, with its checks and
/// its messages. --help and --version print and stop; everything else lands in <see cref="BwrapOptions"/>.
/// </summary>
internal sealed class BwrapParser
{
    /// <summary>More arguments than this (counting --args files) are refused.</summary>
    public const int MaxArgs = 9000;

    /// <summary>The largest tmpfs size accepted: half the address space.</summary>
    public const ulong MaxTmpfsBytes = ulong.MaxValue >> 1;

    private readonly BwrapLog _log;
    private readonly FdReader _readFd;
    private readonly Action<string> _stdout;
    private readonly string? _argv0;

    private int _nextPerms = -1;
    private long _nextSize;
    private readonly List<string> _overlaySources = [];
    private int _totalArgs;

    public BwrapParser(BwrapOptions options, BwrapLog log, FdReader readFd, Action<string> stdout, string? argv0)
    {
        Options = options;
        _log = log;
        _readFd = readFd;
        _stdout = stdout;
        _argv0 = argv0;
    }

    public BwrapOptions Options { get; }

    /// <summary>Parses the command line (without argv[0]); what follows the options becomes the command.</summary>
    public void Parse(IReadOnlyList<string> args)
    {
        _totalArgs = args.Count;
        int rest = ParseList(args, inFile: false);
        if (_overlaySources.Count > 0)
            throw new BwrapError(OverlaySrcMisplaced);
        for (int i = rest; i < args.Count; i++)
            Options.Command.Add(args[i]);
    }

    private const string OverlaySrcMisplaced =
        "--overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay";

    /// <summary>Takes options from <paramref name="args"/>; returns the index where the command starts.</summary>
    private int ParseList(IReadOnlyList<string> args, bool inFile)
    {
        if (_totalArgs > MaxArgs)
            throw new BwrapError($"Exceeded maximum number of arguments {MaxArgs}");
        var o = Options;
        int i = 0;
        while (i < args.Count)
        {
            string arg = args[i];
            int left = args.Count - i; // this option and what follows it
            string Arg(int n) => args[i + n];
            void Need(int count, string message)
            {
                if (left < count + 1)
                    throw new BwrapError(message);
            }

            switch (arg)
            {
                case "--help":
                    _stdout(BwrapUsage.Text(_argv0));
                    throw new BwrapExit(0);
                case "--version":
                    _stdout(BwrapUsage.Version + "\n");
                    throw new BwrapExit(0);
                case "--args":
                {
                    if (inFile)
                        throw new BwrapError("--args not supported in arguments file");
                    Need(1, "--args takes an argument");
                    int fd = ParseFd(Arg(1));
                    var (data, err) = _readFd(fd);
                    if (data is null)
                        throw new BwrapError($"Can't read --args data: {BwrapLog.StrError(err)}");
                    var fileArgs = SplitNul(data);
                    _totalArgs += fileArgs.Count;
                    if (_totalArgs > MaxArgs)
                        throw new BwrapError($"Exceeded maximum number of arguments {MaxArgs}");
                    // Whatever follows the options in the file (a command) is ignored, as bubblewrap does.
                    ParseList(fileArgs, inFile: true);
                    i += 1;
                    break;
                }
                case "--argv0":
                    Need(1, "--argv0 takes one argument");
                    if (o.Argv0 is not null)
                        throw new BwrapError("--argv0 used multiple times");
                    o.Argv0 = Arg(1);
                    i += 1;
                    break;
                case "--level-prefix":
                    o.LevelPrefix = true;
                    _log.LevelPrefix = true;
                    break;
                case "--unshare-all":
                    o.UnshareUserTry = o.UnshareIpc = o.UnsharePid = o.UnshareUts = o.UnshareCgroupTry = o.UnshareNet = true;
                    break;
                case "--unshare-user":
                    o.UnshareUser = true;
                    break;
                case "--unshare-user-try":
                    o.UnshareUserTry = true;
                    break;
                case "--unshare-ipc":
                    o.UnshareIpc = true;
                    break;
                case "--unshare-pid":
                    o.UnsharePid = true;
                    break;
                case "--unshare-net":
                    o.UnshareNet = true;
                    break;
                case "--unshare-uts":
                    o.UnshareUts = true;
                    break;
                case "--unshare-cgroup":
                    o.UnshareCgroup = true;
                    break;
                case "--unshare-cgroup-try":
                    o.UnshareCgroupTry = true;
                    break;
                case "--share-net":
                    o.UnshareNet = false;
                    break;
                case "--chdir":
                    Need(1, "--chdir takes one argument");
                    if (o.ChdirPath is not null)
                        WarnOnlyLast("--chdir");
                    o.ChdirPath = Arg(1);
                    i += 1;
                    break;
                case "--disable-userns":
                    o.DisableUserns = true;
                    break;
                case "--assert-userns-disabled":
                    o.AssertUsernsDisabled = true;
                    break;
                case "--remount-ro":
                    Need(1, "--remount-ro takes one argument");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.RemountReadOnly, Arg(1)));
                    i += 1;
                    break;
                case "--bind" or "--bind-try" or "--ro-bind" or "--ro-bind-try" or "--dev-bind" or "--dev-bind-try":
                {
                    Need(2, $"{arg} takes two arguments");
                    var kind = arg.StartsWith("--ro-", StringComparison.Ordinal) ? BwrapOpKind.ReadOnlyBind
                        : arg.StartsWith("--dev-", StringComparison.Ordinal) ? BwrapOpKind.DevBind
                        : BwrapOpKind.Bind;
                    o.Ops.Add(new BwrapOp(kind, Arg(2)) { Source = Arg(1), AllowMissingSource = arg.EndsWith("-try", StringComparison.Ordinal) });
                    i += 2;
                    break;
                }
                case "--bind-fd" or "--ro-bind-fd":
                {
                    Need(2, "--bind-fd takes two arguments");
                    int fd = ParseFd(Arg(1));
                    o.Ops.Add(new BwrapOp(arg == "--ro-bind-fd" ? BwrapOpKind.ReadOnlyBindFd : BwrapOpKind.BindFd, Arg(2))
                    {
                        Source = $"/proc/self/fd/{fd}",
                        Fd = fd,
                    });
                    o.ConsumedFds.Add(fd);
                    i += 2;
                    break;
                }
                case "--overlay-src":
                    if (left >= 2)
                        _overlaySources.Add(Arg(1));
                    else
                        _overlaySources.Add("");
                    i += 1;
                    break;
                case "--overlay":
                    Need(3, "--overlay takes three arguments");
                    if (_overlaySources.Count < 1)
                        throw new BwrapError("--overlay requires at least one --overlay-src");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Overlay, Arg(3)) { Source = Arg(1), WorkDir = Arg(2), Lowers = TakeOverlaySources() });
                    i += 3;
                    break;
                case "--tmp-overlay":
                    Need(1, "--tmp-overlay takes an argument");
                    if (_overlaySources.Count < 1)
                        throw new BwrapError("--tmp-overlay requires at least one --overlay-src");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.TmpOverlay, Arg(1)) { Lowers = TakeOverlaySources() });
                    i += 1;
                    break;
                case "--ro-overlay":
                    Need(1, "--ro-overlay takes an argument");
                    if (_overlaySources.Count < 2)
                        throw new BwrapError("--ro-overlay requires at least two --overlay-src");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.ReadOnlyOverlay, Arg(1)) { Lowers = TakeOverlaySources() });
                    i += 1;
                    break;
                case "--proc":
                    Need(1, "--proc takes an argument");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Proc, Arg(1)));
                    i += 1;
                    break;
                case "--exec-label":
                    Need(1, "--exec-label takes an argument");
                    if (o.ExecLabel is not null)
                        WarnOnlyLast("--exec-label");
                    o.ExecLabel = Arg(1);
                    // Husk has no SELinux support: bubblewrap on a system without SELinux says the same.
                    throw new BwrapError("labeling not supported on this system");
                case "--file-label":
                    Need(1, "--file-label takes an argument");
                    if (o.FileLabel is not null)
                        WarnOnlyLast("--file-label");
                    o.FileLabel = Arg(1);
                    throw new BwrapError("labeling not supported on this system");
                case "--dev":
                    Need(1, "--dev takes an argument");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Dev, Arg(1)));
                    i += 1;
                    break;
                case "--tmpfs":
                    Need(1, "--tmpfs takes an argument");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Tmpfs, Arg(1)) { Perms = TakePerms(0x1ED), Size = _nextSize });
                    _nextSize = 0;
                    i += 1;
                    break;
                case "--mqueue":
                    Need(1, "--mqueue takes an argument");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Mqueue, Arg(1)));
                    i += 1;
                    break;
                case "--dir":
                    Need(1, "--dir takes an argument");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Dir, Arg(1)) { Perms = TakePerms(0x1ED) });
                    i += 1;
                    break;
                case "--file" or "--bind-data" or "--ro-bind-data":
                {
                    Need(2, $"{arg} takes two arguments");
                    int fd = ParseFd(Arg(1));
                    var kind = arg switch
                    {
                        "--file" => BwrapOpKind.File,
                        "--bind-data" => BwrapOpKind.BindData,
                        _ => BwrapOpKind.ReadOnlyBindData,
                    };
                    // --file defaults to 0666; the bound files to mkstemp's 0600.
                    o.Ops.Add(new BwrapOp(kind, Arg(2)) { Fd = fd, Perms = TakePerms(kind == BwrapOpKind.File ? 0x1B6 : 0x180) });
                    o.ConsumedFds.Add(fd);
                    i += 2;
                    break;
                }
                case "--symlink":
                    Need(2, "--symlink takes two arguments");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Symlink, Arg(2)) { Source = Arg(1) });
                    i += 2;
                    break;
                case "--lock-file":
                    Need(1, "--lock-file takes an argument");
                    o.LockFiles.Add(Arg(1));
                    i += 1;
                    break;
                case "--sync-fd":
                    o.SyncFd = FdOption(arg, o.SyncFd, Arg, left);
                    i += 1;
                    break;
                case "--block-fd":
                    o.BlockFd = FdOption(arg, o.BlockFd, Arg, left);
                    o.ConsumedFds.Add(o.BlockFd!.Value);
                    i += 1;
                    break;
                case "--userns-block-fd":
                    o.UsernsBlockFd = FdOption(arg, o.UsernsBlockFd, Arg, left);
                    o.ConsumedFds.Add(o.UsernsBlockFd!.Value);
                    i += 1;
                    break;
                case "--info-fd":
                    o.InfoFd = FdOption(arg, o.InfoFd, Arg, left);
                    o.ConsumedFds.Add(o.InfoFd!.Value);
                    i += 1;
                    break;
                case "--json-status-fd":
                    o.JsonStatusFd = FdOption(arg, o.JsonStatusFd, Arg, left);
                    o.ConsumedFds.Add(o.JsonStatusFd!.Value);
                    i += 1;
                    break;
                case "--seccomp":
                    Need(1, "--seccomp takes an argument");
                    if (o.SeccompPrograms.Count > 0)
                        throw new BwrapError("--seccomp cannot be combined with --add-seccomp-fd");
                    if (o.SeccompFd is not null)
                        WarnOnlyLast("--seccomp");
                    o.SeccompFd = ParseFd(Arg(1));
                    o.ConsumedFds.Add(o.SeccompFd.Value);
                    i += 1;
                    break;
                case "--add-seccomp-fd":
                {
                    Need(1, "--add-seccomp-fd takes an argument");
                    if (o.SeccompFd is not null)
                        throw new BwrapError("--add-seccomp-fd cannot be combined with --seccomp");
                    int fd = ParseFd(Arg(1));
                    o.SeccompPrograms.Add(ReadSeccomp(_readFd, fd));
                    i += 1;
                    break;
                }
                case "--userns":
                    o.UsernsFd = FdOption(arg, o.UsernsFd, Arg, left);
                    i += 1;
                    break;
                case "--userns2":
                    o.Userns2Fd = FdOption(arg, o.Userns2Fd, Arg, left);
                    i += 1;
                    break;
                case "--pidns":
                    o.PidnsFd = FdOption(arg, o.PidnsFd, Arg, left);
                    i += 1;
                    break;
                case "--clearenv":
                    o.Environment.Clear();
                    break;
                case "--setenv":
                    Need(2, "--setenv takes two arguments");
                    SetEnv(Arg(1), Arg(2));
                    i += 2;
                    break;
                case "--unsetenv":
                    Need(1, "--unsetenv takes an argument");
                    UnsetEnv(Arg(1));
                    i += 1;
                    break;
                case "--uid" or "--gid":
                {
                    Need(1, $"{arg} takes an argument");
                    bool uid = arg == "--uid";
                    if ((uid ? o.SandboxUid : o.SandboxGid) is not null)
                        WarnOnlyLast(arg);
                    int id = CNumbers.StrToInt(Arg(1), out int end);
                    if (Arg(1).Length == 0 || end != Arg(1).Length || id < 0)
                        throw new BwrapError($"Invalid {(uid ? "uid" : "gid")}: {Arg(1)}");
                    if (uid)
                        o.SandboxUid = id;
                    else
                        o.SandboxGid = id;
                    i += 1;
                    break;
                }
                case "--hostname":
                    Need(1, "--hostname takes an argument");
                    if (o.Hostname is not null)
                        WarnOnlyLast("--hostname");
                    o.Hostname = Arg(1);
                    i += 1;
                    break;
                case "--new-session":
                    o.NewSession = true;
                    break;
                case "--die-with-parent":
                    o.DieWithParent = true;
                    break;
                case "--as-pid-1":
                    o.AsPid1 = true;
                    break;
                case "--cap-add" or "--cap-drop":
                {
                    Need(1, $"{arg} takes an argument");
                    o.CapsChanged = true;
                    bool add = arg == "--cap-add";
                    ulong mask;
                    if (string.Equals(Arg(1), "ALL", StringComparison.OrdinalIgnoreCase))
                        mask = ulong.MaxValue;
                    else if (LibcapNames.TryParse(Arg(1), out int cap))
                        mask = 1UL << cap;
                    else
                        throw new BwrapError($"unknown cap: {Arg(1)}");
                    o.RequestedCaps = add ? o.RequestedCaps | mask : o.RequestedCaps & ~mask;
                    i += 1;
                    break;
                }
                case "--perms":
                {
                    Need(1, "--perms takes an argument");
                    if (_nextPerms != -1)
                        throw new BwrapError("--perms given twice for the same action");
                    _nextPerms = ParseMode(Arg(1), "--perms takes an octal argument <= 07777");
                    i += 1;
                    break;
                }
                case "--size":
                {
                    Need(1, "--size takes an argument");
                    if (_nextSize != 0)
                        throw new BwrapError("--size given twice for the same action");
                    string value = Arg(1);
                    ulong size = CNumbers.StrToUL(value, 0, out int end, out bool outOfRange);
                    if (outOfRange || value.Length == 0 || !char.IsAsciiDigit(value[0]) || end != value.Length || size == 0)
                        throw new BwrapError("--size takes a non-zero number of bytes");
                    if (size > MaxTmpfsBytes)
                        throw new BwrapError($"--size (for tmpfs) is limited to {MaxTmpfsBytes}");
                    _nextSize = (long)size;
                    i += 1;
                    break;
                }
                case "--chmod":
                {
                    Need(2, "--chmod takes two arguments");
                    int mode = ParseMode(Arg(1), "--chmod takes an octal argument <= 07777");
                    o.Ops.Add(new BwrapOp(BwrapOpKind.Chmod, Arg(2)) { Perms = mode });
                    i += 2;
                    break;
                }
                case "--":
                    return i + 1;
                default:
                    if (arg.StartsWith('-'))
                        throw new BwrapError($"Unknown option {arg}");
                    return i;
            }

            bool modifier = arg is "--perms" or "--size";
            if (!modifier && _nextPerms >= 0)
                throw new BwrapError("--perms must be followed by an option that creates a file");
            if (!modifier && _nextSize != 0)
                throw new BwrapError("--size must be followed by --tmpfs");
            if (arg != "--overlay-src" && _overlaySources.Count > 0)
                throw new BwrapError(OverlaySrcMisplaced);
            i++;
        }
        return i;
    }

    private void WarnOnlyLast(string option) => _log.Warn($"Only the last {option} option will take effect");

    private int FdOption(string option, int? previous, Func<int, string> arg, int left)
    {
        if (left < 2)
            throw new BwrapError($"{option} takes an argument");
        if (previous is not null)
            WarnOnlyLast(option);
        return ParseFd(arg(1));
    }

    private int TakePerms(int defaultMode)
    {
        int perms = _nextPerms >= 0 ? _nextPerms : defaultMode;
        _nextPerms = -1;
        return perms;
    }

    private List<string> TakeOverlaySources()
    {
        var lowers = new List<string>(_overlaySources);
        _overlaySources.Clear();
        return lowers;
    }

    /// <summary>A descriptor number: all digits after optional blanks and sign, as strtol reads it, never negative.</summary>
    internal static int ParseFd(string value)
    {
        int fd = CNumbers.StrToInt(value, out int end);
        if (value.Length == 0 || end != value.Length || fd < 0)
            throw new BwrapError($"Invalid fd: {value}");
        return fd;
    }

    /// <summary>An octal mode up to 07777, as strtoul reads it.</summary>
    internal static int ParseMode(string value, string error)
    {
        ulong perms = CNumbers.StrToUL(value, 8, out int end, out _);
        if (value.Length == 0 || end != value.Length || perms > 0xFFF)
            throw new BwrapError(error);
        return (int)perms;
    }

    /// <summary>A compiled classic BPF program: whole 8-byte instructions.</summary>
    internal static byte[] ReadSeccomp(FdReader readFd, int fd)
    {
        var (data, err) = readFd(fd);
        if (data is null)
            throw new BwrapError($"Can't read seccomp data: {BwrapLog.StrError(err)}");
        if (data.Length % 8 != 0)
            throw new BwrapError("Invalid seccomp data, must be multiple of 8");
        return data;
    }

    /// <summary>NUL-separated arguments; a final NUL ends the last one rather than starting an empty one.</summary>
    internal static List<string> SplitNul(byte[] data)
    {
        var list = new List<string>();
        int start = 0;
        while (start < data.Length)
        {
            int nul = Array.IndexOf(data, (byte)0, start);
            int end = nul < 0 ? data.Length : nul;
            list.Add(Encoding.UTF8.GetString(data, start, end - start));
            start = end + 1;
        }
        return list;
    }

    // setenv(3) and unsetenv(3) refuse an empty name or one with '='.
    private void SetEnv(string name, string value)
    {
        if (name.Length == 0 || name.Contains('='))
            throw new BwrapError("setenv failed");
        var env = Options.Environment;
        string prefix = name + "=";
        int at = env.FindIndex(e => e.StartsWith(prefix, StringComparison.Ordinal));
        if (at >= 0)
            env[at] = prefix + value;
        else
            env.Add(prefix + value);
    }

    private void UnsetEnv(string name)
    {
        if (name.Length == 0 || name.Contains('='))
            throw new BwrapError("unsetenv failed");
        string prefix = name + "=";
        Options.Environment.RemoveAll(e => e.StartsWith(prefix, StringComparison.Ordinal));
    }
}
