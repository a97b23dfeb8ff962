using System.Buffers.Binary;
using Husk.Tracing;

namespace Husk.Tests.Tracing;

/// <summary>Every argument decoder, on made-up memory: what strace would print.</summary>
public class DecoderTests
{
    [Fact]
    public void Strings_are_quoted_with_strace_escapes()
    {
        Assert.Equal("\"a\\\"b\\\\c\\n\\t\\r\\v\\f\"", StringDecoder.Quote("a\"b\\c\n\t\r\v\f"u8));
        Assert.Equal("\"\\33[0m\"", StringDecoder.Quote([27, (byte)'[', (byte)'0', (byte)'m']));
        Assert.Equal("\"\\0001\"", StringDecoder.Quote([0, (byte)'1']));
        Assert.Equal("\"\\303\\251\"...", StringDecoder.Quote("é"u8, more: true));
    }

    [Fact]
    public void Paths_are_read_to_their_nul_and_keep_their_value()
    {
        var mem = new FakeTraceeMemory().Place(0x1000, "/etc/hosts");
        var a = StringDecoder.Path(mem, 0x1000);
        Assert.Equal("\"/etc/hosts\"", a.Text);
        Assert.Equal("/etc/hosts", a.Value);
        Assert.Equal("NULL", StringDecoder.Path(mem, 0).Text);
        Assert.Equal("0x2000", StringDecoder.Path(mem, 0x2000).Text);
    }

    [Fact]
    public void A_path_across_a_page_boundary_is_read_whole()
    {
        string path = "/" + new string('x', 300);
        var mem = new FakeTraceeMemory().Place(4096 - 100, path);
        Assert.Equal(path, StringDecoder.Path(mem, 4096 - 100).Value);
    }

    [Fact]
    public void Data_is_cut_at_32_bytes()
    {
        var mem = new FakeTraceeMemory().Place(0x1000, new string('a', 40));
        Assert.Equal("\"" + new string('a', 32) + "\"...", StringDecoder.Data(mem, 0x1000, 40).Text);
        Assert.Equal("\"aaa\"", StringDecoder.Data(mem, 0x1000, 3).Text);
        Assert.Equal("\"\"", StringDecoder.Data(mem, 0x1000, 0).Text);
    }

    [Fact]
    public void Argv_and_environment()
    {
        var mem = new FakeTraceeMemory().Place(0x100, "ls").Place(0x200, "-l").Pointers(0x300, 0x100, 0x200).Pointers(0x400, 0x100, 0x100, 0x100);
        var argv = StringDecoder.Argv(mem, 0x300);
        Assert.Equal("[\"ls\", \"-l\"]", argv.Text);
        Assert.Equal("ls -l", argv.Value);
        Assert.Equal("0x400 /* 3 vars */", StringDecoder.Environment(mem, 0x400).Text);
    }

    [Fact]
    public void Open_flags_name_the_access_mode_and_every_flag()
    {
        Assert.Equal("O_RDONLY", FlagTables.Open.Decode(0));
        Assert.Equal("O_RDONLY|O_CLOEXEC", FlagTables.Open.Decode(0x80000));
        Assert.Equal("O_WRONLY|O_CREAT|O_TRUNC", FlagTables.Open.Decode(0x241));
        Assert.Equal("O_RDWR|O_SYNC", FlagTables.Open.Decode(0x101002));
        Assert.Equal("O_RDONLY|0x4000000", FlagTables.Open.Decode(0x4000000));
    }

    [Fact]
    public void Other_flag_sets()
    {
        Assert.Equal("AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH", FlagTables.At.Decode(0x1100));
        Assert.Equal("0", FlagTables.At.Decode(0));
        Assert.Equal("F_OK", FlagTables.Access.Decode(0));
        Assert.Equal("R_OK|X_OK", FlagTables.Access.Decode(5));
        Assert.Equal("PROT_NONE", FlagTables.Protection.Decode(0));
        Assert.Equal("PROT_READ|PROT_EXEC", FlagTables.Protection.Decode(5));
        Assert.Equal("MAP_PRIVATE|MAP_ANONYMOUS", FlagTables.Mmap.Decode(0x22));
        Assert.Equal("CLONE_VM|CLONE_VFORK|SIGCHLD", FlagTables.Clone.Decode(0x4111));
        Assert.Equal("CLONE_NEWUSER", FlagTables.Clone.Decode(0x10000000));
        Assert.Equal("SOCK_STREAM|SOCK_CLOEXEC", FlagTables.SocketType.Decode(0x80001));
        Assert.Equal("WNOHANG|__WALL", FlagTables.Wait.Decode(0x40000001));
        Assert.Equal("RENAME_NOREPLACE", FlagTables.Rename.Decode(1));
        Assert.Equal("FUTEX_WAIT_PRIVATE", FlagTables.Futex(128));
        Assert.Equal("FUTEX_WAKE_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME", FlagTables.Futex(10 | 128 | 256));
    }

    [Fact]
    public void Values_are_named_or_shown_as_numbers()
    {
        Assert.Equal("AF_INET6", FlagTables.Family.Decode(10));
        Assert.Equal("SEEK_END", FlagTables.Whence.Decode(2));
        Assert.Equal("F_DUPFD_CLOEXEC", FlagTables.Fcntl.Decode(1030));
        Assert.Equal("TCGETS", FlagTables.Ioctl.Decode(0x5401, hex: true));
        Assert.Equal("0x1234", FlagTables.Ioctl.Decode(0x1234, hex: true));
        Assert.Equal("CLOCK_MONOTONIC", FlagTables.Clock.Decode(1));
        Assert.Equal("RLIMIT_NOFILE", FlagTables.Resource.Decode(7));
        Assert.Equal("PR_SET_NO_NEW_PRIVS", FlagTables.Prctl.Decode(38));
        Assert.Equal("ARCH_SET_FS", FlagTables.ArchPrctl.Decode(0x1002, hex: true));
        Assert.Equal("SIG_SETMASK", FlagTables.SigprocmaskHow.Decode(2));
        Assert.Equal("SHUT_RDWR", FlagTables.ShutdownHow.Decode(2));
        Assert.Equal("SOL_SOCKET", FlagTables.SocketLevel.Decode(1));
        Assert.Equal("99", FlagTables.Whence.Decode(99));
    }

    [Fact]
    public void Modes_in_octal_with_their_type()
    {
        Assert.Equal("0644", ModeDecoder.Permissions(0x1A4));
        Assert.Equal("04755", ModeDecoder.Permissions(0x9ED));
        Assert.Equal("S_IFREG|0644", ModeDecoder.WithType(0x81A4));
        Assert.Equal("S_IFDIR|0755", ModeDecoder.WithType(0x41ED));
        Assert.Equal("0600", ModeDecoder.WithType(0x180));
        Assert.Equal("022", ModeDecoder.Octal(18));
        Assert.Equal("0", ModeDecoder.Octal(0));
    }

    private static byte[] Inet(ushort port, byte[] ip)
    {
        var b = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(b, 2);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), port);
        ip.CopyTo(b, 4);
        return b;
    }

    [Fact]
    public void Socket_addresses()
    {
        var (text, value) = SockaddrDecoder.Decode(Inet(80, [127, 0, 0, 1]));
        Assert.Equal("{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr(\"127.0.0.1\")}", text);
        Assert.Equal("127.0.0.1:80", value);

        var six = new byte[28];
        BinaryPrimitives.WriteUInt16LittleEndian(six, 10);
        BinaryPrimitives.WriteUInt16BigEndian(six.AsSpan(2), 443);
        six[23] = 1;
        (text, value) = SockaddrDecoder.Decode(six);
        Assert.Equal("{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, \"::1\", &sin6_addr), sin6_scope_id=0}", text);
        Assert.Equal("[::1]:443", value);

        byte[] unix = [1, 0, .. "/run/s.sock"u8, 0];
        (text, value) = SockaddrDecoder.Decode(unix);
        Assert.Equal("{sa_family=AF_UNIX, sun_path=\"/run/s.sock\"}", text);
        Assert.Equal("/run/s.sock", value);

        byte[] @abstract = [1, 0, 0, .. "bus"u8];
        (text, value) = SockaddrDecoder.Decode(@abstract);
        Assert.Equal("{sa_family=AF_UNIX, sun_path=@\"bus\"}", text);
        Assert.Equal("@bus", value);

        var nl = new byte[12];
        BinaryPrimitives.WriteUInt16LittleEndian(nl, 16);
        Assert.Equal("{sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}", SockaddrDecoder.Decode(nl).Text);
    }

    [Fact]
    public void A_socket_address_in_memory_and_its_length_pointer()
    {
        var mem = new FakeTraceeMemory().Place(0x1000, Inet(8080, [10, 0, 0, 2])).Place(0x2000, BitConverter.GetBytes(16u));
        var a = SockaddrDecoder.At(mem, 0x1000, 16);
        Assert.Equal("10.0.0.2:8080", a.Value);
        Assert.Equal("[16]", SockaddrDecoder.Length(mem, 0x2000).Text);
        Assert.Equal("NULL", SockaddrDecoder.At(mem, 0, 16).Text);
    }

    [Fact]
    public void Stat_shows_mode_and_size_or_device()
    {
        var x86 = new byte[144];
        BinaryPrimitives.WriteUInt32LittleEndian(x86.AsSpan(24), 0x81A4);
        BinaryPrimitives.WriteInt64LittleEndian(x86.AsSpan(48), 2941);
        Assert.Equal("{st_mode=S_IFREG|0644, st_size=2941, ...}", StatDecoder.Stat(x86, arm64: false));

        var arm = new byte[128];
        BinaryPrimitives.WriteUInt32LittleEndian(arm.AsSpan(16), 0x41ED);
        BinaryPrimitives.WriteInt64LittleEndian(arm.AsSpan(48), 4096);
        Assert.Equal("{st_mode=S_IFDIR|0755, st_size=4096, ...}", StatDecoder.Stat(arm, arm64: true));

        var dev = new byte[144];
        BinaryPrimitives.WriteUInt32LittleEndian(dev.AsSpan(24), 0x21B6);
        BinaryPrimitives.WriteUInt64LittleEndian(dev.AsSpan(40), (1 << 8) | 3); // /dev/null: 1, 3
        Assert.Equal("{st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}", StatDecoder.Stat(dev, arm64: false));
    }

    [Fact]
    public void Statx_shows_its_mask_mode_and_size()
    {
        var s = new byte[256];
        BinaryPrimitives.WriteUInt32LittleEndian(s, 0x17ff);
        BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(28), 0x81ED);
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(40), 12);
        Assert.Equal("{stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFREG|0755, stx_size=12, ...}", StatDecoder.Statx(s));
    }

    [Fact]
    public void A_stat_buffer_of_a_failed_call_is_its_address()
    {
        var mem = new FakeTraceeMemory().Place(0x1000, new byte[144]);
        Assert.Equal("0x1000", StatDecoder.StatAt(mem, 0x1000, failed: true).Text);
        Assert.StartsWith("{st_mode=", StatDecoder.StatAt(mem, 0x1000, failed: false).Text);
    }

    [Fact]
    public void Signals_sets_and_siginfo()
    {
        Assert.Equal("SIGCHLD", SignalDecoder.Name(17));
        Assert.Equal("SIGRTMIN", SignalDecoder.Name(32));
        Assert.Equal("SIGRT_2", SignalDecoder.Name(34));
        Assert.Equal("[INT TERM]", SignalDecoder.Set((1UL << 1) | (1UL << 14)));
        Assert.Equal("[]", SignalDecoder.Set(0));
        Assert.Equal("~[KILL STOP]", SignalDecoder.Set(~((1UL << 8) | (1UL << 18))));

        var chld = new byte[128];
        BinaryPrimitives.WriteInt32LittleEndian(chld, 17);
        BinaryPrimitives.WriteInt32LittleEndian(chld.AsSpan(8), 1);
        BinaryPrimitives.WriteInt32LittleEndian(chld.AsSpan(16), 4);
        BinaryPrimitives.WriteInt32LittleEndian(chld.AsSpan(20), 1000);
        BinaryPrimitives.WriteInt32LittleEndian(chld.AsSpan(24), 3);
        Assert.Equal("{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=4, si_uid=1000, si_status=3, si_utime=0, si_stime=0}", SignalDecoder.Info(chld));

        var user = new byte[128];
        BinaryPrimitives.WriteInt32LittleEndian(user, 10);
        BinaryPrimitives.WriteInt32LittleEndian(user.AsSpan(16), 2);
        Assert.Equal("{si_signo=SIGUSR1, si_code=SI_USER, si_pid=2, si_uid=0}", SignalDecoder.Info(user));

        var segv = new byte[128];
        BinaryPrimitives.WriteInt32LittleEndian(segv, 11);
        BinaryPrimitives.WriteInt32LittleEndian(segv.AsSpan(8), 1);
        Assert.Equal("{si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL}", SignalDecoder.Info(segv));
    }

    [Fact]
    public void Wait_statuses()
    {
        Assert.Equal("[{WIFEXITED(s) && WEXITSTATUS(s) == 3}]", WaitStatusDecoder.Decode(3 << 8));
        Assert.Equal("[{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}]", WaitStatusDecoder.Decode(9));
        Assert.Equal("[{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV && WCOREDUMP(s)}]", WaitStatusDecoder.Decode(0x8b));
        Assert.Equal("[{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}]", WaitStatusDecoder.Decode((19 << 8) | 0x7f));
        var mem = new FakeTraceeMemory().Place(0x10, BitConverter.GetBytes(0));
        Assert.Equal("[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]", WaitStatusDecoder.At(mem, 0x10, returned: 5).Text);
        Assert.Equal("0x10", WaitStatusDecoder.At(mem, 0x10, returned: 0).Text);
    }

    [Fact]
    public void Timespecs()
    {
        var mem = new FakeTraceeMemory().Place(0x10, [.. BitConverter.GetBytes(1L), .. BitConverter.GetBytes(500000000L)]);
        Assert.Equal("{tv_sec=1, tv_nsec=500000000}", TimespecDecoder.At(mem, 0x10).Text);
        Assert.Equal("NULL", TimespecDecoder.At(mem, 0).Text);
    }

    [Fact]
    public void Errnos_by_name_and_text()
    {
        Assert.Equal("ENOENT", ErrnoText.Name(2));
        Assert.Equal("No such file or directory", ErrnoText.Message(2));
        Assert.Equal("EDEADLK", ErrnoText.Name(35));
        Assert.Equal("EOPNOTSUPP", ErrnoText.Name(95));
        Assert.Equal("ERESTARTSYS", ErrnoText.Name(512));
        Assert.True(ErrnoText.IsRestart(516));
        Assert.Equal("ERRNO_600", ErrnoText.Name(600));
        Assert.Equal(13, ErrnoText.Parse("EACCES"));
    }

    [Fact]
    public void The_argument_decoder_reads_inputs_at_entry_and_outputs_after_the_return()
    {
        var signature = SyscallSignatures.Of("readlinkat");
        var mem = new FakeTraceeMemory().Place(0x100, "/proc/self/exe").Place(0x200, "/usr/bin/true");
        ulong[] args = [unchecked((ulong)-100), 0x100, 0x200, 4096, 0, 0];
        var decoded = new SyscallArgument?[6];
        ArgumentDecoder.DecodeInputs(signature, args, mem, decoded);
        Assert.Equal("AT_FDCWD", decoded[0]!.Text);
        Assert.Equal("\"/proc/self/exe\"", decoded[1]!.Text);
        Assert.Null(decoded[2]);
        ArgumentDecoder.DecodeOutputs(signature, args, 13, failed: false, mem, decoded);
        Assert.Equal("\"/usr/bin/true\"", decoded[2]!.Text);
        ArgumentDecoder.DecodeOutputs(signature, args, -2, failed: true, mem, decoded);
        Assert.Equal("0x200", decoded[2]!.Text);
    }

    [Fact]
    public void Open_shows_its_mode_only_when_it_creates()
    {
        var kinds = SyscallSignatures.Of("openat").Arguments;
        Assert.False(ArgumentDecoder.Shown(kinds[3], 3, [0, 0, 0x80000, 0x1ff]));
        Assert.True(ArgumentDecoder.Shown(kinds[3], 3, [0, 0, 0x41, 0x1a4]));
        Assert.True(ArgumentDecoder.Shown(kinds[1], 1, [0, 0, 0, 0]));
    }

    [Fact]
    public void Simple_kinds_and_pipes()
    {
        var mem = new FakeTraceeMemory().Place(0x10, [.. BitConverter.GetBytes(3), .. BitConverter.GetBytes(4)]);
        ulong[] args = [0x10, unchecked((ulong)-1), 0, 0xff, 0, 0];
        Assert.Equal("[3, 4]", ArgumentDecoder.Decode(ArgumentKind.OutFdPair, 0, args, mem, 0, false).Text);
        Assert.Equal("-1", ArgumentDecoder.Decode(ArgumentKind.Int, 1, args, mem, 0, false).Text);
        Assert.Equal("NULL", ArgumentDecoder.Decode(ArgumentKind.Pointer, 2, args, mem, 0, false).Text);
        Assert.Equal("0xff", ArgumentDecoder.Decode(ArgumentKind.Hex, 3, args, mem, 0, false).Text);
        Assert.Equal("0", ArgumentDecoder.Decode(ArgumentKind.Signal, 4, args, mem, 0, false).Text);
    }

    [Fact]
    public void Return_values_as_strace_shows_them()
    {
        Assert.Equal("3", ArgumentDecoder.Return(ReturnKind.Int, 3, null));
        Assert.Equal("0x7f0000001000", ArgumentDecoder.Return(ReturnKind.Hex, 0x7f0000001000, null));
        Assert.Equal("022", ArgumentDecoder.Return(ReturnKind.Octal, 18, null));
        Assert.Equal("?", ArgumentDecoder.Return(ReturnKind.None, 0, null));
        Assert.Equal("?", ArgumentDecoder.Return(ReturnKind.Int, null, null));
        Assert.Equal("-1 ENOENT (No such file or directory)", ArgumentDecoder.Return(ReturnKind.Int, -1, 2));
        Assert.Equal("? ERESTARTSYS (To be restarted if SA_RESTART is set)", ArgumentDecoder.Return(ReturnKind.Int, null, 512));
    }

    [Fact]
    public void Every_signature_word_is_known_and_every_call_with_a_signature_exists()
    {
        foreach (string name in SyscallSignatures.Names)
        {
            Assert.True(Husk.Policy.SyscallTable.IsKnown(name), name);
            Assert.True(SyscallSignatures.Of(name).Arguments.Length <= 6, name);
        }
        Assert.Throws<ArgumentException>(() => SyscallSignatures.Parse("fd nosuchword"));
        // A call without one of its own shows as many arguments as it takes.
        Assert.Equal(3, SyscallSignatures.Of("mincore").Arguments.Length);
    }

    [Fact]
    public void Foreign_programs_by_their_elf_header()
    {
        byte[] Header(byte elfClass, ushort machine)
        {
            var h = new byte[20];
            h[0] = 0x7f; h[1] = (byte)'E'; h[2] = (byte)'L'; h[3] = (byte)'F';
            h[4] = elfClass;
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(18), machine);
            return h;
        }
        Assert.Null(ElfClass.Foreign(Header(2, 62)));
        Assert.Equal("32-bit (i386)", ElfClass.Foreign(Header(1, 3)));
        Assert.Equal("x32", ElfClass.Foreign(Header(1, 62)));
        Assert.Equal("32-bit (arm)", ElfClass.Foreign(Header(1, 40)));
        Assert.Null(ElfClass.Foreign("#!/bin/sh\n#####################"u8));
    }

    [Fact]
    public void Proc_status_fields()
    {
        const string status = "Name:\tsh\nNSpid:\t4321\t2\nSeccomp:\t2\nSeccomp_filters:\t3\n";
        Assert.Equal("4321\t2", TraceeStatus.Parse(status, "NSpid:"));
        Assert.Equal("3", TraceeStatus.Parse(status, "Seccomp_filters:"));
        Assert.Null(TraceeStatus.Parse(status, "Nope:"));
    }
}
