using Husk.Policy;

namespace Husk.Tests.Policy;

/// <summary>The compiler's programs, run by a cBPF interpreter over every number and edge value.</summary>
public class SeccompCompilerTests
{
    private const uint Allow = 0x7fff0000;
    private static uint Errno(int e) => 0x00050000u | (uint)e;
    private const uint Kill = 0x80000000;

    private static readonly SeccompArchitecture[] Arches = [SeccompArchitecture.X86_64, SeccompArchitecture.Aarch64];

    private static uint Eval(SeccompPolicy policy, SeccompArchitecture arch, string name, params ulong[] args)
    {
        var prog = SeccompCompiler.Compile(policy, arch);
        return BpfInterpreter.Run(prog.AsSpan(), arch.AuditArch(), (uint)SyscallTable.For(arch).Number(name)!.Value, args);
    }

    [Fact]
    public void Every_filter_checks_the_architecture_and_denies_x32()
    {
        var policy = new SeccompPolicy { DefaultAction = SeccompAction.Allow, ForeignAction = SeccompAction.Fail(97) };
        foreach (var arch in Arches)
        {
            var prog = SeccompCompiler.Compile(policy, arch).AsSpan();
            Assert.Equal(Allow, BpfInterpreter.Run(prog, arch.AuditArch(), 0));
            Assert.Equal(Errno(97), BpfInterpreter.Run(prog, 0x40000003 /* i386 */, 0));
            Assert.Equal(Errno(97), BpfInterpreter.Run(prog, 0x40000028 /* arm */, 0));
            Assert.Equal(Errno(97), BpfInterpreter.Run(prog, arch == SeccompArchitecture.X86_64 ? SeccompArchitectures.AuditArchAarch64 : SeccompArchitectures.AuditArchX86_64, 0));
        }
        var x86 = SeccompCompiler.Compile(policy, SeccompArchitecture.X86_64).AsSpan();
        // x32: x86_64's arch value, numbers with bit 30 set.
        Assert.Equal(Errno(97), BpfInterpreter.Run(x86, SeccompArchitectures.AuditArchX86_64, 0x40000000 | 1));
        Assert.Equal(Errno(97), BpfInterpreter.Run(x86, SeccompArchitectures.AuditArchX86_64, 0x40000000 + 512));
        Assert.Equal(Errno(97), BpfInterpreter.Run(x86, SeccompArchitectures.AuditArchX86_64, uint.MaxValue));
    }

    [Theory]
    [InlineData(SeccompArchitecture.X86_64)]
    [InlineData(SeccompArchitecture.Aarch64)]
    public void The_default_profile_decides_every_number_as_its_rules_say(SeccompArchitecture arch)
    {
        var table = SyscallTable.For(arch);
        var prog = SeccompCompiler.Compile(SeccompProfiles.Default, arch).AsSpan();
        for (uint nr = 0; nr <= (uint)table.MaxNumber + 40; nr++)
        {
            string? name = table.Name((int)nr);
            uint expected = name switch
            {
                null when nr > table.MaxNumber => Errno(38),
                "clone3" => Errno(38),
                "clone" or "unshare" or "personality" => Allow, // with zero arguments, see below
                _ when name is not null && SeccompProfiles.DefaultAllowed.Contains(name) => Allow,
                _ => Errno(1),
            };
            Assert.True(expected == BpfInterpreter.Run(prog, arch.AuditArch(), nr), $"{name ?? nr.ToString()}: expected 0x{expected:x}");
        }
        foreach (string denied in new[] { "io_uring_setup", "io_uring_enter", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
                     "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "mount", "umount2", "fsopen", "fsmount", "move_mount",
                     "open_tree", "pivot_root", "chroot", "setns", "open_by_handle_at", "acct", "swapon", "reboot", "syslog", "quotactl" })
            Assert.Equal(Errno(1), BpfInterpreter.Run(prog, arch.AuditArch(), (uint)table.Number(denied)!.Value));
    }

    [Fact]
    public void Default_profile_arguments_namespaces_terminals_and_personalities()
    {
        var p = SeccompProfiles.Default;
        foreach (var arch in Arches)
        {
            Assert.Equal(Allow, Eval(p, arch, "clone", 0x01200011)); // fork(): CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD
            Assert.Equal(Allow, Eval(p, arch, "clone", 0x003d0f00)); // pthread_create's flags
            foreach (ulong ns in new ulong[] { 0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000 })
            {
                Assert.Equal(Errno(1), Eval(p, arch, "clone", ns | 17));
                Assert.Equal(Errno(1), Eval(p, arch, "unshare", ns));
            }
            Assert.Equal(Errno(1), Eval(p, arch, "unshare", 0x80)); // CLONE_NEWTIME
            Assert.Equal(Allow, Eval(p, arch, "unshare", 0x400)); // CLONE_FILES
            Assert.Equal(Errno(1), Eval(p, arch, "ioctl", 0, SeccompProfiles.TIOCSTI));
            Assert.Equal(Errno(1), Eval(p, arch, "ioctl", 0, SeccompProfiles.TIOCSTI | (1UL << 32))); // the kernel reads an unsigned int
            Assert.Equal(Errno(1), Eval(p, arch, "ioctl", 0, SeccompProfiles.TIOCLINUX));
            Assert.Equal(Allow, Eval(p, arch, "ioctl", 0, 0x5401)); // TCGETS
            Assert.Equal(Allow, Eval(p, arch, "personality", 0xffffffff));
            Assert.Equal(Allow, Eval(p, arch, "personality", 0x8));
            Assert.Equal(Errno(1), Eval(p, arch, "personality", 0x0040000)); // ADDR_NO_RANDOMIZE
            Assert.Equal(Errno(1), Eval(p, arch, "personality", 0x4000000)); // READ_IMPLIES_EXEC
        }
    }

    public static TheoryData<ArgumentComparison, bool> Comparisons()
    {
        var data = new TheoryData<ArgumentComparison, bool>();
        foreach (var c in Enum.GetValues<ArgumentComparison>())
        {
            data.Add(c, false);
            data.Add(c, true);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Comparisons))]
    public void Argument_comparisons_agree_with_their_definition_at_every_edge(ArgumentComparison comparison, bool is32)
    {
        ulong[] values = [0, 1, 0x7fffffff, 0xffffffff, 0x100000000, 0x1_0000_0005, 0xdead_beef_0000_0010, ulong.MaxValue - 1, ulong.MaxValue];
        var probes = new HashSet<ulong>();
        foreach (ulong v in values)
        {
            foreach (long d in new long[] { -1, 0, 1 })
                probes.Add(unchecked(v + (ulong)d));
            probes.Add(v ^ (1UL << 32));
            probes.Add(v & 0xffffffff);
        }
        foreach (ulong v in values)
        {
            var cond = new ArgumentCondition(2, comparison, v) { Is32Bit = is32, Mask = 0xff00_00ff_0000_fff0, High = v + 0x1_0000_0000 };
            if (comparison == ArgumentComparison.MaskedEqual)
                cond = cond with { Value = v & cond.Mask };
            var policy = new SeccompPolicy
            {
                DefaultAction = SeccompAction.Fail(7),
                Rules = [new SeccompRule("write", SeccompAction.Allow) { Conditions = [cond] }],
            };
            foreach (var arch in Arches)
            {
                var prog = SeccompCompiler.Compile(policy, arch).AsSpan();
                uint nr = (uint)SyscallTable.For(arch).Number("write")!.Value;
                foreach (ulong a in probes)
                {
                    uint expected = cond.Matches(a) ? Allow : Errno(7);
                    Assert.True(expected == BpfInterpreter.Run(prog, arch.AuditArch(), nr, 0, 0, a), $"{cond} on 0x{a:x}");
                }
            }
        }
    }

    /// <summary>Rules of one call at several priorities, overlapping where the last given must win.</summary>
    private static readonly SeccompPolicy Ordered = new()
    {
        DefaultAction = SeccompAction.Fail(1),
        Rules =
        [
            new SeccompRule("read", SeccompAction.Allow),
            new SeccompRule("read", SeccompAction.Fail(5)) { Priority = 2, Conditions = [new ArgumentCondition(0, ArgumentComparison.Equal, 5)] },
            new SeccompRule("read", SeccompAction.Fail(6)) { Priority = 1, Conditions = [ArgumentCondition.Range(0, 3, 6)] },
            new SeccompRule("read", SeccompAction.Fail(9)) { Priority = 1, Conditions = [ArgumentCondition.Range(0, 6, 9)] },
        ],
    };

    [Fact]
    public void Priorities_order_the_rules_of_one_call_then_the_last_given_wins()
    {
        var policy = Ordered;
        foreach (var arch in Arches)
        {
            Assert.Equal(Errno(5), Eval(policy, arch, "read", 5));
            Assert.Equal(Errno(9), Eval(policy, arch, "read", 6)); // both ranges hold: the last given wins
            Assert.Equal(Errno(6), Eval(policy, arch, "read", 4));
            Assert.Equal(Errno(9), Eval(policy, arch, "read", 8));
            Assert.Equal(Allow, Eval(policy, arch, "read", 2));
            Assert.Equal(Errno(1), Eval(policy, arch, "write", 2));
        }
    }

    [Fact]
    public void Decide_gives_what_the_compiled_filter_returns()
    {
        (string Name, ulong[] Args)[] calls =
        [
            ("ioctl", [0, SeccompProfiles.TIOCSTI]), ("ioctl", [0, SeccompProfiles.TIOCSTI | (1UL << 32)]), ("ioctl", [0, SeccompProfiles.TIOCLINUX]),
            ("ioctl", [0, 0x5401]), ("clone", [0x20000 | 17]), ("clone", [0x003d0f00]), ("personality", [0x8]), ("mount", []),
            ("read", [5]), ("read", [6]), ("read", [4]), ("read", [2]), ("write", [2]),
        ];
        foreach (var policy in new[] { SeccompProfiles.Default, SeccompProfiles.Judge, Ordered })
        {
            foreach (var (name, args) in calls)
                Assert.Equal(Eval(policy, SeccompArchitecture.X86_64, name, args), policy.Decide(name, args).Value);
        }
    }

    [Fact]
    public void Husk_run_keeps_the_terminal_only_from_payloads_that_cannot_push_input_into_it()
    {
        Assert.True(Husk.Cli.Run.RunArguments.CannotInjectInput(SeccompProfiles.Default));
        Assert.False(Husk.Cli.Run.RunArguments.CannotInjectInput(null)); // --seccomp unconfined
        // A rule above the default's: TIOCSTI allowed again.
        var opened = SeccompProfiles.Default.With([new SeccompRule("ioctl", SeccompAction.Allow) { Priority = 2 }]);
        Assert.False(Husk.Cli.Run.RunArguments.CannotInjectInput(opened));
    }

    [Fact]
    public void Large_policies_need_far_jumps_and_still_decide_every_number()
    {
        // Every other call allowed, every third with an argument check: hundreds of segments.
        var table = SyscallTable.For(SeccompArchitecture.X86_64);
        var rules = new List<SeccompRule>();
        foreach (string name in table.Names)
        {
            int n = table.Number(name)!.Value;
            if (n % 3 == 0)
                rules.Add(new SeccompRule(name, SeccompAction.Fail(n % 4000)) { Conditions = [new ArgumentCondition(0, ArgumentComparison.Greater, (ulong)n)] });
            else if (n % 2 == 0)
                rules.Add(new SeccompRule(name, SeccompAction.Allow));
        }
        var policy = new SeccompPolicy { DefaultAction = SeccompAction.Fail(2), Rules = [.. rules] };
        var prog = SeccompCompiler.Compile(policy, SeccompArchitecture.X86_64);
        Assert.InRange(prog.Length / 8, 300, BpfAssemblerLimit);
        foreach (string name in table.Names)
        {
            int n = table.Number(name)!.Value;
            uint below = BpfInterpreter.Run(prog.AsSpan(), SeccompArchitectures.AuditArchX86_64, (uint)n, (ulong)n);
            uint above = BpfInterpreter.Run(prog.AsSpan(), SeccompArchitectures.AuditArchX86_64, (uint)n, (ulong)n + 1);
            if (n % 3 == 0)
            {
                Assert.Equal(Errno(2), below);
                Assert.Equal(Errno(n % 4000), above);
            }
            else
            {
                Assert.Equal(n % 2 == 0 ? Allow : Errno(2), below);
                Assert.Equal(below, above);
            }
        }
    }

    private const int BpfAssemblerLimit = 4096;

    [Fact]
    public void Numbers_newer_than_the_tables_get_enosys_only_when_the_default_denies()
    {
        var table = SyscallTable.For(SeccompArchitecture.Aarch64);
        uint newer = (uint)table.MaxNumber + 1;
        var deny = SeccompCompiler.Compile(new SeccompPolicy { DefaultAction = SeccompAction.KillProcess }, SeccompArchitecture.Aarch64);
        Assert.Equal(Errno(38), BpfInterpreter.Run(deny.AsSpan(), SeccompArchitectures.AuditArchAarch64, newer));
        Assert.Equal(Kill, BpfInterpreter.Run(deny.AsSpan(), SeccompArchitectures.AuditArchAarch64, 0));
        var allow = SeccompCompiler.Compile(new SeccompPolicy { DefaultAction = SeccompAction.Allow }, SeccompArchitecture.Aarch64);
        Assert.Equal(Allow, BpfInterpreter.Run(allow.AsSpan(), SeccompArchitectures.AuditArchAarch64, newer));
    }

    [Fact]
    public void The_search_is_logarithmic()
    {
        // The default profile: no number needs more than a couple of dozen instructions.
        var prog = SeccompCompiler.Compile(SeccompProfiles.Default, SeccompArchitecture.X86_64);
        Assert.True(prog.Length / 8 < 600, $"{prog.Length / 8} instructions");
        Assert.Equal(0x20, prog[0]); // ld arch first
        Assert.Equal(4, BitConverter.ToInt32(prog.AsSpan(4, 4)));
    }

    [Fact]
    public void Unknown_names_and_bad_argument_indexes_are_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => SeccompCompiler.Compile(new SeccompPolicy
        {
            DefaultAction = SeccompAction.Allow,
            Rules = [new SeccompRule("chwon", SeccompAction.Fail(1))],
        }));
        Assert.Contains("chwon", e.Message);
        Assert.Throws<ArgumentException>(() => SeccompCompiler.Compile(new SeccompPolicy
        {
            DefaultAction = SeccompAction.Allow,
            Rules = [new SeccompRule("read", SeccompAction.Fail(1)) { Conditions = [new ArgumentCondition(6, ArgumentComparison.Equal, 0)] }],
        }));
        // A call only another architecture has is skipped, not refused.
        var prog = SeccompCompiler.Compile(new SeccompPolicy { DefaultAction = SeccompAction.Allow, Rules = [new SeccompRule("open", SeccompAction.Fail(1))] }, SeccompArchitecture.Aarch64);
        Assert.NotEmpty(prog);
    }

    [Theory]
    [InlineData("allow", "allow")]
    [InlineData("errno", "errno:EPERM")]
    [InlineData("errno:ENOSYS", "errno:ENOSYS")]
    [InlineData("errno:0", "errno:None")]
    [InlineData("errno:13", "errno:EACCES")]
    [InlineData("kill", "kill-process")]
    [InlineData("trap", "trap")]
    [InlineData("log", "log")]
    [InlineData("notify", "notify")]
    public void Actions_parse_and_print(string text, string printed)
    {
        Assert.True(SeccompAction.TryParse(text, out var action));
        Assert.Equal(printed, action.ToString());
        Assert.False(SeccompAction.TryParse("errno:EWHAT", out _));
        Assert.False(SeccompAction.TryParse("deny", out _));
    }
}
