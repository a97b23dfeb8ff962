using Husk.FileSystem;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Husk.Cli.Personalities.MiniSandbox;

/// <summary>mini-sandbox's four ways of laying out the filesystem (docs/flags.md).</summary>
internal enum MiniSandboxMode
{
    /// <summary>No mode flag: the host's tree read-only, the working directory and /tmp writable, no new root.</summary>
    ReadOnly,
    /// <summary>-x: a new root with the host's directories read-only, the working directory's tree overlaid, an empty home.</summary>
    Default,
    /// <summary>-o ROOT -d DIR: a new root with only the -k overlays and the -M/-w binds.</summary>
    Custom,
    /// <summary>-h DIR: a new root with only the -M/-w binds.</summary>
    Hermetic,
}

/// <summary>mini-sandbox's network namespace options (-n, -N, the default).</summary>
internal enum MiniSandboxNetwork
{
    /// <summary>The default: a network namespace of its own with the loopback up.</summary>
    Loopback,
    /// <summary>-N: the host's network.</summary>
    Host,
    /// <summary>-n: a network namespace of its own, the loopback left down.</summary>
    Isolated,
}

/// <summary>
/// mini-sandbox's command line at 68c2571 (linux-sandbox-options.cc): glibc getopt over
/// ":S:G:W:T:t:il:L:w:e:M:m:h:HnNRUPF:D:o:d:k:x" (options may follow operands, up to "--"),
/// "@FILE" words read as one argument a line before that, and each option's effect and checks
/// in the order given: paths made canonical when they exist, -w and -M of missing paths dropped
/// without a word, the mode flags exclusive. -S, -G, -l, -L and -m take a value and do nothing, as
/// there. mini-tapbox's build takes -F and not -N.
/// </summary>
internal sealed class MiniSandboxArguments
{
    /// <summary>The mode the flags chose.</summary>
    public MiniSandboxMode Mode { get; private set; } = MiniSandboxMode.ReadOnly;
    /// <summary>-W: the working directory (the caller's when null).</summary>
    public string? WorkingDirectory { get; private set; }
    /// <summary>-T: seconds before the payload gets SIGTERM (0: never).</summary>
    public int Timeout { get; private set; }
    /// <summary>-t: seconds between SIGTERM and SIGKILL (0: SIGKILL at once).</summary>
    public int KillDelay { get; private set; }
    /// <summary>-i: SIGINT ends the payload as the timeout does.</summary>
    public bool SigintSendsSigterm { get; private set; }
    /// <summary>-w and the defaults' writable files, canonical (and as given, when that differs).</summary>
    public List<string> Writable { get; } = [];
    /// <summary>-e: directories that get an empty tmpfs.</summary>
    public List<string> Tmpfs { get; } = [];
    /// <summary>-M and the defaults' read-only binds: (source, destination).</summary>
    public List<(string Source, string Destination)> Binds { get; } = [];
    /// <summary>-k and -x's: directories overlaid so writes vanish.</summary>
    public List<string> Overlays { get; } = [];
    /// <summary>-H: a UTS namespace with the hostname "localhost".</summary>
    public bool FakeHostname { get; private set; }
    /// <summary>-n, -N, or the default.</summary>
    public MiniSandboxNetwork Network { get; private set; }
    /// <summary>-R: uid and gid 0.</summary>
    public bool FakeRoot { get; private set; }
    /// <summary>-U: the uid and gid of nobody.</summary>
    public bool FakeNobody { get; private set; }
    /// <summary>-P: the gid of tty, /dev/pts writable.</summary>
    public bool Pty { get; private set; }
    /// <summary>-D: the debug log's path.</summary>
    public string? DebugLog { get; private set; }
    /// <summary>-o or -h: the directory the sandbox's root lives under.</summary>
    public string? SandboxRoot { get; private set; }
    /// <summary>-d (or /tmp with -x): the directory the overlays' upper layers live under; null when not given.</summary>
    public string? OverlayDirectory { get; private set; }
    /// <summary>-F (mini-tapbox): the rules file.</summary>
    public string? FirewallRules { get; private set; }
    /// <summary>-F's rules: addresses, domains and subnets, in the file's order.</summary>
    public List<string> Allowed { get; } = [];
    /// <summary>Lines of -F's file that are none of those ("Warning: Unrecognized rule format: ...").</summary>
    public List<string> Unrecognized { get; } = [];
    /// <summary>The command and its arguments.</summary>
    public List<string> Command { get; } = [];
    /// <summary>mini-tapbox: the network is its firewall's (the allowlist), whatever -n and -x say.</summary>
    public bool Tapbox { get; private set; }
    /// <summary>libmini-sandbox's mini_sandbox_mount_parents_write: -x's overlay of the working directory's tree is writable instead.</summary>
    public bool ParentsWritable { get; private set; }
    /// <summary>libmini-tapbox's mini_sandbox_allow_max_connections: at most this many connections, whatever the rules (null: none set, or negative).</summary>
    public int? MaxConnections { get; private set; }
    /// <summary>libmini-tapbox's firewall state: rules given (true), everything allowed on purpose (false), or neither (null).</summary>
    public bool? FirewallRulesGiven { get; private set; }

    /// <summary>Whether the mode overlays (-x or -o).</summary>
    public bool UsesOverlay => Mode is MiniSandboxMode.Default or MiniSandboxMode.Custom;

    /// <summary>/tmp/mini-sandbox-tmp: -x's /tmp, kept on the host after the run.</summary>
    public const string DefaultTmp = "/tmp/mini-sandbox-tmp";

    private const string OptString = ":S:G:W:T:t:il:L:w:e:M:m:h:HnNRUPF:D:o:d:k:x";

    /// <summary>libmini-sandbox's (or libmini-tapbox's) configuration before its first call: read-only mode, the caller's directory.</summary>
    public static MiniSandboxArguments ForLibrary(bool tapbox) => new() { Tapbox = tapbox };

    /// <summary>
    /// One of libmini-sandbox's configuration calls that its command line has an option for
    /// (mini_sandbox_setup_default is -x, mount_bind -M, mount_write -w, mount_tmpfs -e,
    /// mount_overlay -k, setup_hermetic -h, enable_log -D, share_network -N): the same checks and
    /// errors (<see cref="MiniSandboxError"/>), since the command line calls the same functions.
    /// </summary>
    public void ApplyLibrary(char option, string? value, MiniSandboxHost host)
    {
        if (option is not ('x' or 'M' or 'w' or 'e' or 'k' or 'h' or 'D' or 'N'))
            throw new ArgumentOutOfRangeException(nameof(option), option, "not one of libmini-sandbox's options");
        // mini_sandbox_share_network sets the host's network whatever came before (only getopt checks -n).
        if (option == 'N')
        {
            Network = MiniSandboxNetwork.Host;
            return;
        }
        Apply(option, value, host);
    }

    /// <summary>mini_sandbox_setup_custom: -o's root, then -d's directory, which must not lie inside it (-1, no code, otherwise).</summary>
    public bool SetupCustom(string overlayDirectory, string sandboxRoot, MiniSandboxHost host)
    {
        Apply('o', sandboxRoot, host);
        Apply('d', overlayDirectory, host);
        return !(host.Canonical(OverlayDirectory!) is { } o && host.Canonical(SandboxRoot!) is { } r && HostMounts.IsUnder(o, r));
    }

    /// <summary>mini_sandbox_set_working_dir: an existing directory, replacing any before.</summary>
    public void SetWorkingDirectory(string path, MiniSandboxHost host) =>
        WorkingDirectory = ExistingDirectory(CanonicPath(path, false, host), host);

    /// <summary>mini_sandbox_mount_empty_output_file: the file is created (empty) when missing, then mounted writable.</summary>
    public void MountEmptyOutputFile(string path, MiniSandboxHost host)
    {
        string file = CanonicPath(path, false, host);
        if (!host.Exists(file) && !host.CreateEmptyFile(file))
            throw new MiniSandboxError("MiniSbxMountEmptyOutputFile", 982, MiniSandboxErrorCode.GeneralOSError, "open failed");
        Apply('w', file, host);
    }

    /// <summary>mini_sandbox_mount_parents_write.</summary>
    public void MountParentsWritable() => ParentsWritable = true;

    /// <summary>
    /// mini_sandbox_allow_ipv4, _allow_domain and _allow_ipv4_subnet (firewall.cc's set_firewall_rule):
    /// any text is a rule, up to 100 of 1024 bytes, refused after mini_sandbox_allow_all_domains.
    /// </summary>
    public void AllowRule(string rule, string function, int line)
    {
        if (Allowed.Count >= MaxRules || System.Text.Encoding.UTF8.GetByteCount(rule) > MaxRuleLength || FirewallRulesGiven == false)
            throw new MiniSandboxError(function, line, MiniSandboxErrorCode.IllegalNetworkConfiguration);
        FirewallRulesGiven = true;
        Allowed.Add(rule);
    }

    /// <summary>mini_sandbox_allow_all_domains: refused once a rule was given.</summary>
    public void AllowAllDomains()
    {
        if (FirewallRulesGiven == true)
            throw new MiniSandboxError("MiniSbxAllowAllDomains", 594, MiniSandboxErrorCode.IllegalNetworkConfiguration);
        FirewallRulesGiven = false;
        Allowed.Clear();
    }

    /// <summary>mini_sandbox_allow_max_connections: a budget that replaces the rules (a negative one brings them back).</summary>
    public void AllowMaxConnections(int count) => MaxConnections = count < 0 ? null : count;

    /// <summary>
    /// mini_sandbox_allow_connections: -F's file read into the rules; false when a line was no rule
    /// (each is in <see cref="Unrecognized"/>, which the caller warns of).
    /// </summary>
    public bool AllowConnections(string file, MiniSandboxHost host)
    {
        int before = Unrecognized.Count;
        ReadRules(file, host);
        if (Allowed.Count > 0)
            FirewallRulesGiven = true;
        return Unrecognized.Count == before;
    }

    /// <summary>
    /// Reads <paramref name="args"/> (without argv[0]) as mini-sandbox (or mini-tapbox) does; throws
    /// <see cref="MiniSandboxUsage"/> or <see cref="MiniSandboxError"/> as it would stop.
    /// </summary>
    public static MiniSandboxArguments Parse(IReadOnlyList<string> args, bool tapbox, MiniSandboxHost host)
    {
        var a = new MiniSandboxArguments { Tapbox = tapbox };
        var words = Expand(args, host);
        var operands = new List<string>();
        int i = 0;
        for (; i < words.Count; i++)
        {
            string word = words[i];
            if (word == "--")
            {
                i++;
                break;
            }
            if (word.Length < 2 || word[0] != '-')
            {
                operands.Add(word);
                continue;
            }
            for (int j = 1; j < word.Length; j++)
            {
                char c = word[j];
                int at = OptString.IndexOf(c, 1);
                // optind as glibc reports it: argv's index (argv[0] counted) of the next word to read.
                int optind = j + 1 < word.Length ? i + 1 : i + 2;
                if (c == ':' || at < 0 || (tapbox ? c == 'N' : c == 'F'))
                    throw new MiniSandboxUsage($"Unrecognized argument: -{c} ({optind})");
                if (at + 1 < OptString.Length && OptString[at + 1] == ':')
                {
                    string value = j + 1 < word.Length ? word[(j + 1)..] : i + 1 < words.Count ? words[++i] : throw new MiniSandboxUsage($"Flag -{c} requires an argument");
                    a.Apply(c, value, host);
                    break;
                }
                a.Apply(c, null, host);
            }
        }
        operands.AddRange(words.Skip(i));
        a.Command.AddRange(operands);
        if (a.UsesOverlay && a.OverlayDirectory is null)
            throw new MiniSandboxUsage("Illegal configuration: overlayfs folder inside sandbox root.");
        if (a.Command.Count == 0)
            throw new MiniSandboxUsage("No command specified.");
        return a;
    }

    /// <summary>"@FILE" words before "--" replaced by FILE's non-empty lines, themselves expanded.</summary>
    private static List<string> Expand(IReadOnlyList<string> args, MiniSandboxHost host)
    {
        var expanded = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == "--")
            {
                expanded.AddRange(args.Skip(i));
                break;
            }
            ExpandOne(args[i], expanded, 0);
        }
        return expanded;
    }

    private static void ExpandOne(string arg, List<string> into, int depth)
    {
        if (!arg.StartsWith('@') || depth > 64)
        {
            into.Add(arg);
            return;
        }
        string file = arg[1..];
        string[] lines;
        try
        {
            lines = File.ReadAllText(file).Split('\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MiniSandboxError("ExpandArgument", 458, MiniSandboxErrorCode.GeneralOSError, "opening argument file failed: " + file);
        }
        if (lines.Length > 0 && lines[^1].Length == 0)
            lines = lines[..^1];
        foreach (string line in lines.Where(l => l.Length > 0))
            ExpandOne(line, into, depth + 1);
    }

    private void Apply(char c, string? value, MiniSandboxHost host)
    {
        switch (c)
        {
            case 'W':
                if (WorkingDirectory is not null)
                    throw new MiniSandboxUsage("Multiple working directories (-W) specified, expected one.");
                if (!value!.StartsWith('/'))
                    throw new MiniSandboxUsage("The -W option must be used with absolute paths only.");
                WorkingDirectory = value;
                break;
            case 'T':
                Timeout = Seconds(value!, "Invalid timeout (-T) value: ");
                break;
            case 't':
                KillDelay = Seconds(value!, "Invalid kill delay (-t) value: ");
                break;
            case 'i':
                SigintSendsSigterm = true;
                break;
            case 'w':
                var writable = new List<string>();
                AddPath(value!, host, writable);
                // -w keeps the path as given before the canonical one, -M after it.
                writable.Reverse();
                Writable.AddRange(writable);
                break;
            case 'e':
                Tmpfs.Add(ExistingDirectory(CanonicPath(value!, false, host), host));
                break;
            case 'M':
                var binds = new List<string>();
                AddPath(value!, host, binds);
                Binds.AddRange(binds.Select(b => (b, b)));
                break;
            case 'h':
                if (UsesOverlay)
                    throw new MiniSandboxError("MiniSbxSetupHermetic", 907, MiniSandboxErrorCode.InvalidFunctioningMode);
                Mode = MiniSandboxMode.Hermetic;
                SetRoot(value!, host);
                break;
            case 'H':
                FakeHostname = true;
                break;
            case 'n':
                if (Network == MiniSandboxNetwork.Host)
                    throw new MiniSandboxUsage("Only one of -n and -N may be specified.");
                Network = MiniSandboxNetwork.Isolated;
                break;
            case 'N':
                if (Network == MiniSandboxNetwork.Isolated)
                    throw new MiniSandboxUsage("Only one of -n and -N may be specified.");
                Network = MiniSandboxNetwork.Host;
                break;
            case 'F':
                if (FirewallRules is not null)
                    throw new MiniSandboxUsage("Cannot write firewall rule in more than one file.");
                FirewallRules = value;
                ReadRules(value!, host);
                break;
            case 'R':
                if (FakeNobody)
                    throw new MiniSandboxUsage("The -R option cannot be used at the same time us the -U option.");
                FakeRoot = true;
                break;
            case 'U':
                if (FakeRoot)
                    throw new MiniSandboxUsage("The -U option cannot be used at the same time us the -R option.");
                FakeNobody = true;
                break;
            case 'P':
                Pty = true;
                break;
            case 'D':
                if (DebugLog is not null)
                    throw new MiniSandboxError("MiniSbxEnableLog", 657, MiniSandboxErrorCode.LogFileNotUnique);
                ExistingDirectory(Path.GetDirectoryName(value!) ?? "", host);
                DebugLog = value;
                break;
            case 'o':
                if (Mode is MiniSandboxMode.Default or MiniSandboxMode.Hermetic)
                    throw new MiniSandboxError("MiniSbxSetupSandboxRootWithOverlay", 962, MiniSandboxErrorCode.InvalidFunctioningMode);
                Mode = MiniSandboxMode.Custom;
                SetRoot(value!, host);
                break;
            case 'd':
                if (!UsesOverlay)
                    throw new MiniSandboxError("MiniSbxSetupOverlayfsFolder", 950, MiniSandboxErrorCode.OverlayOptionNotSet);
                string overlay = CanonicPath(value!, true, host);
                if (!host.IsDirectory(overlay) && !host.CreateDirectories(overlay))
                    throw new MiniSandboxError("ValidateDirAndCreate", 133, MiniSandboxErrorCode.InvalidFolder);
                OverlayDirectory = overlay;
                break;
            case 'k':
                if (!UsesOverlay)
                    throw new MiniSandboxError("MiniSbxMountOverlay", 803, MiniSandboxErrorCode.OverlayOptionNotSet);
                string path = CanonicPath(value!, false, host);
                Absolute(path);
                Overlays.Add(path);
                if (path != value)
                    Overlays.Add(value!);
                AddHomeSymlinkTargets(value!, host, Overlays);
                break;
            case 'x':
                if (Mode != MiniSandboxMode.ReadOnly)
                    throw new MiniSandboxError("MiniSbxSetupDefault", 862, MiniSandboxErrorCode.InvalidFunctioningMode);
                SetupDefault(host);
                break;
            default:
                // -S, -G, -l, -L, -m: read by getopt, handled by nobody (Bazel's leftovers).
                break;
        }
    }

    /// <summary>
    /// -x: a network namespace with the loopback (mini-tapbox: the tap device instead), /tmp from
    /// /tmp/mini-sandbox-tmp, /proc, /var, /opt and ~/.local/{bin,lib} read-only, ~/.rnd writable.
    /// </summary>
    private void SetupDefault(MiniSandboxHost host)
    {
        Mode = MiniSandboxMode.Default;
        Network = MiniSandboxNetwork.Loopback;
        if (!host.IsDirectory(DefaultTmp) && !host.CreateDirectories(DefaultTmp))
            throw new MiniSandboxError("CreateDirectory", 206, MiniSandboxErrorCode.GeneralOSError, "Permission denied");
        Binds.Add((DefaultTmp, "/tmp"));
        foreach (string path in (string[])["/proc", "/var", "/opt", host.Home + "/.local/bin", host.Home + "/.local/lib"])
        {
            if (path is "/proc" or "/var" or "/opt" || host.Exists(path))
                Binds.Add((path, path));
        }
        // mini-sandbox creates ~/.rnd (OpenSSL's seed) on the host when it is missing; Husk binds it only when it is there.
        string rnd = host.Home + "/.rnd";
        if (host.Exists(rnd))
            Writable.Add(rnd);
        SandboxRoot = "/tmp";
        OverlayDirectory = "/tmp";
    }

    /// <summary>-o or -h: the directory is created; a second one is refused.</summary>
    private void SetRoot(string dir, MiniSandboxHost host)
    {
        if (!host.IsDirectory(dir) && !host.CreateDirectories(dir))
            throw new MiniSandboxError("ValidateDirAndCreate", 133, MiniSandboxErrorCode.InvalidFolder);
        if (SandboxRoot is not null)
            throw new MiniSandboxError("CreateSandboxRoot", 249, MiniSandboxErrorCode.SandboxRootNotUnique);
        SandboxRoot = host.Canonical(dir) ?? dir;
    }

    /// <summary>-w and -M: absolute or existing paths; a missing one is dropped, one reached through a symlink is added as given too.</summary>
    private static void AddPath(string input, MiniSandboxHost host, List<string> into)
    {
        string path = CanonicPath(input, false, host);
        Absolute(path);
        if (!host.Exists(path))
            return;
        into.Add(path);
        if (path != input)
            into.Add(input);
        AddHomeSymlinkTargets(input, host, into);
    }

    /// <summary>
    /// linux-sandbox's MountHomeSymlinks: a directory under $HOME given to -M, -w or -k brings the
    /// directories its symlinks point into, so that they resolve in -x's empty home too.
    /// </summary>
    private static void AddHomeSymlinkTargets(string input, MiniSandboxHost host, List<string> into)
    {
        string? path = host.Canonical(Path.GetFullPath(input, host.WorkingDirectory));
        string home = host.Home;
        if (path is null || home.Length == 0 || !HostMounts.IsUnder(path, home) || !host.IsDirectory(path))
            return;
        foreach (string entry in host.Entries(path).Where(host.IsSymlink))
        {
            if (host.Canonical(entry) is { } target && Path.GetDirectoryName(target) is { } parent && !into.Contains(parent))
                into.Add(parent);
        }
    }

    private static void Absolute(string path)
    {
        if (!path.StartsWith('/'))
            throw new MiniSandboxError("ValidatePath", 146, MiniSandboxErrorCode.NotAnAbsolutePath, path);
    }

    private static string ExistingDirectory(string path, MiniSandboxHost host)
    {
        if (!path.StartsWith('/'))
            throw new MiniSandboxError("ValidateDirPath", 163, MiniSandboxErrorCode.NotAnAbsolutePath, path);
        if (!host.Exists(path))
            throw new MiniSandboxError("ValidateDirPath", 168, MiniSandboxErrorCode.PathDoesNotExist, path);
        if (!host.IsDirectory(path))
            throw new MiniSandboxError("ValidateDirPath", 171, MiniSandboxErrorCode.PathDoesNotExist, path);
        return path;
    }

    /// <summary>
    /// mini-sandbox's CanonicPath: an existing path made absolute with its symlinks resolved (a
    /// symlink itself kept, unless <paramref name="resolveSymlink"/>); a missing one as given.
    /// </summary>
    internal static string CanonicPath(string path, bool resolveSymlink, MiniSandboxHost host)
    {
        if (!host.Exists(path))
            return path;
        if (!resolveSymlink && host.IsSymlink(path))
            return Path.GetFullPath(path, host.WorkingDirectory);
        return host.Canonical(Path.GetFullPath(path, host.WorkingDirectory)) ?? path;
    }

    /// <summary>sscanf("%d"): leading blanks, a sign and digits, anything after ignored; negative refused.</summary>
    private static int Seconds(string value, string message)
    {
        var m = Regex.Match(value, @"^\s*([+-]?\d+)");
        if (!m.Success || !int.TryParse(m.Groups[1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n) || n < 0)
            throw new MiniSandboxUsage(message + value);
        return n;
    }

    /// <summary>mini-tapbox's rules file: each trimmed line an IPv4 address, a domain or an IPv4 subnet.</summary>
    private void ReadRules(string file, MiniSandboxHost host)
    {
        if (!host.Exists(file))
            throw new MiniSandboxError("ValidateFilePath", 523, MiniSandboxErrorCode.PathDoesNotExist, file);
        if (!host.IsFile(file))
            throw new MiniSandboxError("ValidateFilePath", 526, MiniSandboxErrorCode.PathDoesNotExist, file);
        // std::getline: a final newline ends the last line rather than starting an empty one.
        string text = File.ReadAllText(file);
        foreach (string raw in (text.EndsWith('\n') ? text[..^1] : text).Split('\n'))
        {
            if (text.Length == 0)
                break;
            string line = raw.Trim(' ', '\t', '\r', '\n');
            if (RuleKind(line) is not { } kind)
            {
                Unrecognized.Add(line);
                continue;
            }
            // firewall.cc's set_firewall_rule: at most 100 rules of at most 1024 bytes (its 101st
            // overruns the table; Husk refuses it with the same words).
            if (Allowed.Count >= MaxRules || System.Text.Encoding.UTF8.GetByteCount(line) > MaxRuleLength)
            {
                throw kind == "domain"
                    ? new MiniSandboxError("MiniSbxAllowDomain", 607, MiniSandboxErrorCode.IllegalNetworkConfiguration)
                    : new MiniSandboxError("MiniSbxAllowIpv4", 621, MiniSandboxErrorCode.IllegalNetworkConfiguration);
            }
            Allowed.Add(line);
        }
    }

    private const int MaxRules = 100, MaxRuleLength = 1024;

    /// <summary>"ipv4", "domain" or "subnet" as mini-tapbox's regular expressions tell a rule; null for none.</summary>
    internal static string? RuleKind(string line) =>
        Regex.IsMatch(line, @"^(\d{1,3}\.){3}\d{1,3}$") ? "ipv4"
        : Regex.IsMatch(line, @"^([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+$") ? "domain"
        : Regex.IsMatch(line, @"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$") ? "subnet"
        : null;
}
