using System.Text;
using Husk.Cli.Personalities.Bwrap;

namespace Husk.Tests;

/// <summary>The bwrap personality's command line, checked against bubblewrap 0.11.1's rules without running anything.</summary>
public class BwrapParserTests
{
    private sealed class Run
    {
        public BwrapOptions Options { get; } = new() { Environment = ["HOME=/home/u", "PATH=/usr/bin:/bin", "FOO=1"] };
        public StringBuilder Stderr { get; } = new();
        public StringBuilder Stdout { get; } = new();
        public Dictionary<int, byte[]> Fds { get; } = [];
        public List<int> Closed { get; } = [];

        public BwrapOptions Parse(params string[] args)
        {
            var log = new BwrapLog(text => Stderr.Append(text));
            var parser = new BwrapParser(Options, log, Read, text => Stdout.Append(text), "/path/to/bwrap");
            parser.Parse(args);
            return Options;
        }

        private (byte[]? Data, Errno Error) Read(int fd)
        {
            Closed.Add(fd);
            return Fds.TryGetValue(fd, out var data) ? (data, 0) : (null, Errno.EBADF);
        }
    }

    private static string Error(params string[] args) => Assert.Throws<BwrapError>(() => new Run().Parse(args)).Message;

    [Fact]
    public void Options_end_at_the_command_or_at_double_dash()
    {
        var o = new Run().Parse("--unshare-net", "--bind", "/a", "/b", "sh", "-c", "--bind");
        Assert.Equal(["sh", "-c", "--bind"], o.Command);
        Assert.True(o.UnshareNet);
        var defanged = new Run().Parse("--", "--dev-bind", "/dev", "/dev");
        Assert.Equal(["--dev-bind", "/dev", "/dev"], defanged.Command);
        Assert.Equal("Unknown option --bogus", Error("--bogus", "true"));
    }

    [Fact]
    public void Help_and_version_print_to_stdout_and_stop()
    {
        var run = new Run();
        Assert.Equal(0, Assert.Throws<BwrapExit>(() => run.Parse("--unshare-pid", "--help", "--bogus")).Code);
        Assert.StartsWith("usage: /path/to/bwrap [OPTIONS...] [--] COMMAND [ARGS...]\n", run.Stdout.ToString());
        foreach (string option in new[] { "--args", "--argv0", "--bind-fd", "--overlay-src", "--tmp-overlay", "--ro-overlay", "--add-seccomp-fd", "--chmod", "--size", "--perms" })
            Assert.Contains("    " + option + " ", run.Stdout.ToString());
        var version = new Run();
        Assert.Equal(0, Assert.Throws<BwrapExit>(() => version.Parse("--version")).Code);
        Assert.Equal("bubblewrap 0.11.1\n", version.Stdout.ToString());
    }

    [Fact]
    public void Missing_arguments_are_named_as_bubblewrap_names_them()
    {
        Assert.Equal("--bind takes two arguments", Error("--bind", "/a"));
        Assert.Equal("--ro-bind-try takes two arguments", Error("--ro-bind-try"));
        Assert.Equal("--bind-fd takes two arguments", Error("--ro-bind-fd", "3"));
        Assert.Equal("--overlay takes three arguments", Error("--overlay-src", "/l", "--overlay", "a", "b"));
        Assert.Equal("--chdir takes one argument", Error("--chdir"));
        Assert.Equal("--argv0 takes one argument", Error("--argv0"));
        Assert.Equal("--setenv takes two arguments", Error("--setenv", "A"));
        Assert.Equal("--info-fd takes an argument", Error("--info-fd"));
        Assert.Equal("--file takes two arguments", Error("--file", "0"));
    }

    [Fact]
    public void Descriptor_numbers_are_read_like_strtol()
    {
        Assert.Equal(3, BwrapParser.ParseFd("3"));
        Assert.Equal(3, BwrapParser.ParseFd(" +3"));
        Assert.Equal(0, BwrapParser.ParseFd("-0"));
        Assert.Equal("Invalid fd: -1", Error("--info-fd", "-1", "true"));
        Assert.Equal("Invalid fd: 0a", Error("--seccomp", "0a", "true"));
        Assert.Equal("Invalid fd: ", Error("--sync-fd", "", "true"));
        // strtol clamps to LONG_MAX, which becomes -1 as a C int.
        Assert.Equal("Invalid fd: 99999999999999999999", Error("--block-fd", "99999999999999999999", "true"));
        Assert.Equal("Invalid uid: x", Error("--uid", "x", "true"));
        Assert.Equal("Invalid gid: -5", Error("--gid", "-5", "true"));
    }

    [Fact]
    public void C_number_parsing_matches_libc()
    {
        Assert.Equal(16, CNumbers.StrToL("0x10", 0, out int end));
        Assert.Equal(4, end);
        Assert.Equal(8, CNumbers.StrToL("010", 0, out _));
        Assert.Equal(12, CNumbers.StrToL("12abc", 10, out end));
        Assert.Equal(2, end);
        Assert.Equal(0, CNumbers.StrToL("  -", 10, out end));
        Assert.Equal(0, end);
        Assert.Equal(0, CNumbers.StrToL("0x", 16, out end));
        Assert.Equal(1, end);
        Assert.Equal(long.MaxValue, CNumbers.StrToL("9223372036854775808", 10, out _));
        Assert.Equal(long.MinValue, CNumbers.StrToL("-9223372036854775809", 10, out _));
        Assert.Equal(ulong.MaxValue, CNumbers.StrToUL("-1", 10, out _, out bool range));
        Assert.False(range);
        Assert.Equal(ulong.MaxValue, CNumbers.StrToUL("18446744073709551616", 10, out _, out range));
        Assert.True(range);
    }

    [Fact]
    public void Perms_and_size_apply_to_the_next_operation_only()
    {
        var o = new Run().Parse("--perms", "1777", "--size", "0x100000", "--tmpfs", "/t", "--tmpfs", "/u",
            "--perms", "0640", "--file", "0", "/f", "--file", "0", "/g", "--bind-data", "0", "/d", "--perms", "0700", "--dir", "/dir", "true");
        Assert.Equal([0x3FF, 0x1ED, 0x1A0, 0x1B6, 0x180, 0x1C0], o.Ops.Select(op => op.Perms));
        Assert.Equal(1 << 20, o.Ops[0].Size);
        Assert.Equal(0, o.Ops[1].Size);
        Assert.Equal("--perms given twice for the same action", Error("--perms", "0700", "--perms", "0700", "--dir", "/x", "true"));
        Assert.Equal("--size given twice for the same action", Error("--size", "1", "--size", "1", "--tmpfs", "/x", "true"));
        Assert.Equal("--perms must be followed by an option that creates a file", Error("--perms", "0700", "--bind", "/a", "/b", "true"));
        Assert.Equal("--perms must be followed by an option that creates a file", Error("--perms", "0700", "--chmod", "0700", "/b", "true"));
        Assert.Equal("--size must be followed by --tmpfs", Error("--size", "10", "--dir", "/x", "true"));
        Assert.Equal("--perms takes an octal argument <= 07777", Error("--perms", "10000", "--dir", "/x", "true"));
        Assert.Equal("--perms takes an octal argument <= 07777", Error("--perms", "8", "--dir", "/x", "true"));
        Assert.Equal("--chmod takes an octal argument <= 07777", Error("--chmod", "", "/x", "true"));
        // strtoul: leading blanks and "-0" are fine.
        Assert.Equal(0x1C0, new Run().Parse("--perms", " 0700", "--dir", "/x", "true").Ops[0].Perms);
        Assert.Equal(0, new Run().Parse("--perms", "-0", "--dir", "/x", "true").Ops[0].Perms);
        // A modifier left before "--" is silently dropped, as bubblewrap never checks it there.
        Assert.Equal(["true"], new Run().Parse("--perms", "0700", "--", "true").Command);
    }

    [Fact]
    public void Bogus_sizes_are_refused()
    {
        foreach (string size in new[] { "0", "123bogus", "", "-12345678", " -12345678", "18446744073709551616", " 5" })
            Assert.Equal("--size takes a non-zero number of bytes", Error("--size", size, "--tmpfs", "/a", "true"));
        Assert.Equal("--size (for tmpfs) is limited to 9223372036854775807", Error("--size", "9223372036854775809", "--tmpfs", "/a", "true"));
    }

    [Fact]
    public void Overlay_sources_belong_to_the_next_overlay()
    {
        var o = new Run().Parse("--overlay-src", "/l1", "--overlay-src", "/l2", "--overlay", "/up", "/work", "/x",
            "--overlay-src", "/l3", "--tmp-overlay", "/y", "--overlay-src", "/a", "--overlay-src", "/b", "--ro-overlay", "/z", "true");
        Assert.Equal([BwrapOpKind.Overlay, BwrapOpKind.TmpOverlay, BwrapOpKind.ReadOnlyOverlay], o.Ops.Select(op => op.Kind));
        Assert.Equal(["/l1", "/l2"], o.Ops[0].Lowers);
        Assert.Equal("/up", o.Ops[0].Source);
        Assert.Equal("/work", o.Ops[0].WorkDir);
        Assert.Equal(["/l3"], o.Ops[1].Lowers);
        const string misplaced = "--overlay-src must be followed by another --overlay-src or one of --overlay, --tmp-overlay, or --ro-overlay";
        Assert.Equal(misplaced, Error("--overlay-src", "/tmp", "true"));
        Assert.Equal(misplaced, Error("--overlay-src", "/tmp", "--chdir", "/", "true"));
        Assert.Equal(misplaced, Error("--overlay-src"));
        Assert.Equal("--overlay requires at least one --overlay-src", Error("--overlay", "u", "w", "/tmp", "true"));
        Assert.Equal("--tmp-overlay requires at least one --overlay-src", Error("--tmp-overlay", "/tmp", "true"));
        Assert.Equal("--ro-overlay requires at least two --overlay-src", Error("--overlay-src", "/a", "--ro-overlay", "/tmp", "true"));
    }

    [Fact]
    public void Args_files_add_options_but_not_commands()
    {
        var run = new Run();
        run.Fds[3] = Encoding.UTF8.GetBytes("--dir\0/one\0--setenv\0A\0\0ignored-command\0");
        run.Fds[4] = Encoding.UTF8.GetBytes("--dir\0/two");
        var o = run.Parse("--args", "3", "--args", "4", "sh");
        Assert.Equal(["/one", "/two"], o.Ops.Select(op => op.Dest));
        Assert.Contains("A=", o.Environment);
        Assert.Equal(["sh"], o.Command);
        Assert.Equal([3, 4], run.Closed);
        var nested = new Run();
        nested.Fds[3] = Encoding.UTF8.GetBytes("--args\0004\0");
        Assert.Equal("--args not supported in arguments file", Assert.Throws<BwrapError>(() => nested.Parse("--args", "3", "true")).Message);
        Assert.Equal("Can't read --args data: Bad file descriptor", Error("--args", "9", "true"));
        var many = new Run();
        many.Fds[3] = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("--unshare-ipc\0", BwrapParser.MaxArgs)));
        Assert.Equal("Exceeded maximum number of arguments 9000", Assert.Throws<BwrapError>(() => many.Parse("--args", "3", "true")).Message);
    }

    [Fact]
    public void Repeated_options_warn_and_the_last_wins()
    {
        var run = new Run();
        var o = run.Parse("--chdir", "/a", "--level-prefix", "--chdir", "/b", "--hostname", "x", "--hostname", "y", "true");
        Assert.Equal("/b", o.ChdirPath);
        Assert.Equal("y", o.Hostname);
        Assert.Equal(
            "<4>bwrap: Only the last --chdir option will take effect\n<4>bwrap: Only the last --hostname option will take effect\n",
            run.Stderr.ToString());
        var quiet = new Run();
        quiet.Parse("--uid", "1", "--uid", "2", "true");
        Assert.Equal("bwrap: Only the last --uid option will take effect\n", quiet.Stderr.ToString());
        Assert.Equal("--argv0 used multiple times", Error("--argv0", "a", "--argv0", "b", "true"));
    }

    [Fact]
    public void Environment_is_edited_in_order()
    {
        var o = new Run().Parse("--setenv", "FOO", "2", "--unsetenv", "PATH", "--setenv", "NEW", "x=y", "true");
        Assert.Equal(["HOME=/home/u", "FOO=2", "NEW=x=y"], o.Environment);
        Assert.Equal(["B=1"], new Run().Parse("--clearenv", "--setenv", "B", "1", "true").Environment);
        Assert.Equal("setenv failed", Error("--setenv", "A=B", "c", "true"));
        Assert.Equal("unsetenv failed", Error("--unsetenv", "", "true"));
    }

    [Fact]
    public void Capabilities_are_named_as_libcap_names_them()
    {
        var o = new Run().Parse("--cap-add", "CAP_KILL", "--cap-add", "cap_sys_admin", "--cap-add", "0x1", "--cap-add", "CAP_NET_RAW,junk", "true");
        Assert.True(o.CapsChanged);
        Assert.Equal((1UL << 5) | (1UL << 21) | (1UL << 1) | (1UL << 13), o.RequestedCaps);
        var all = new Run().Parse("--cap-add", "all", "--cap-drop", "CAP_CHOWN", "true");
        Assert.Equal(ulong.MaxValue & ~1UL, all.RequestedCaps);
        Assert.Equal(0UL, new Run().Parse("--cap-add", "ALL", "--cap-drop", "ALL", "true").RequestedCaps);
        Assert.Equal("unknown cap: kill", Error("--cap-add", "kill", "true"));
        Assert.Equal("unknown cap: 64", Error("--cap-drop", "64", "true"));
    }

    [Fact]
    public void Seccomp_options_exclude_each_other_and_want_whole_instructions()
    {
        var run = new Run();
        run.Fds[5] = new byte[16];
        var o = run.Parse("--add-seccomp-fd", "5", "true");
        Assert.Single(o.SeccompPrograms);
        var combined = new Run();
        combined.Fds[5] = new byte[16];
        Assert.Equal("--seccomp cannot be combined with --add-seccomp-fd",
            Assert.Throws<BwrapError>(() => combined.Parse("--add-seccomp-fd", "5", "--seccomp", "6", "true")).Message);
        Assert.Equal("--add-seccomp-fd cannot be combined with --seccomp", Error("--seccomp", "6", "--add-seccomp-fd", "5", "true"));
        var odd = new Run();
        odd.Fds[5] = new byte[12];
        Assert.Equal("Invalid seccomp data, must be multiple of 8", Assert.Throws<BwrapError>(() => odd.Parse("--add-seccomp-fd", "5", "true")).Message);
        Assert.Equal("Can't read seccomp data: Bad file descriptor", Error("--add-seccomp-fd", "7", "true"));
    }

    [Fact]
    public void Labels_are_refused_without_selinux()
    {
        Assert.Equal("labeling not supported on this system", Error("--exec-label", "x", "true"));
        Assert.Equal("labeling not supported on this system", Error("--file-label", "x", "true"));
    }

    [Fact]
    public void Descriptors_bwrap_consumes_are_recorded()
    {
        var o = new Run().Parse("--info-fd", "7", "--json-status-fd", "8", "--file", "9", "/f", "--bind-fd", "10", "/b",
            "--block-fd", "11", "--sync-fd", "12", "--userns", "13", "true");
        Assert.Equal([7, 8, 9, 10, 11], o.ConsumedFds.Order());
        Assert.Equal("/proc/self/fd/10", o.Ops[1].Source);
    }
}
