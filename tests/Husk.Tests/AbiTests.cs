using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
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
        string[] args = ["CloneFlags", "Ops", "OpCount", "CgroupFd", "InitFd", "Flags", "HostMountNamespace", "Channel", "ChannelPeer", "FdMoves", "FdMoveCount", "FdMoveBase"];
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
    public void Plan_image_and_pool_messages_match()
    {
        Assert.Equal(C(6, 0), Marshal.SizeOf<PlanImageHeader>());
        string[] image = ["Magic", "OpCount", "Ops", "Relocs", "RelocCount", "Size"];
        for (int i = 0; i < image.Length; i++)
            Assert.Equal(C(6, i + 1), Off<PlanImageHeader>(image[i]));
        Assert.Equal(C(7, 0), Marshal.SizeOf<PoolRequest>());
        string[] request = ["Magic", "FdCount", "CloneFlags", "HostMountNamespace", "Channel", "Status", "Cgroup", "Flags", "Id"];
        for (int i = 0; i < request.Length; i++)
            Assert.Equal(C(7, i + 1), Off<PoolRequest>(request[i]));
        Assert.Equal(C(8, 0), Marshal.SizeOf<PoolReply>());
        string[] reply = ["Magic", "Kind", "Error", "Pid", "Id"];
        for (int i = 0; i < reply.Length; i++)
            Assert.Equal(C(8, i + 1), Off<PoolReply>(reply[i]));
    }

    /// <summary>Where a C# twin's name is not the C name after its prefix in Pascal case.</summary>
    private static readonly Dictionary<string, string> Renamed = new()
    {
        ["HUSK_OP_REMOUNT_RO"] = "RemountReadOnly",
        ["HUSK_F_SUID"] = "Setuid",
        ["HUSK_STEP_DEST"] = "Destination",
        ["HUSK_STEP_ATTR"] = "Attributes",
        ["HUSK_SIG_KILL_TREE"] = "SignalKillTree",
    };

    /// <summary>Which C# class holds the twins of a prefix (and what their names start with); the first match wins.</summary>
    private static readonly (string Prefix, Type Holder, string NamePrefix)[] Groups =
    [
        ("HUSK_OP_", typeof(OpKind), ""),
        ("HUSK_F_", typeof(OpFlags), ""),
        ("HUSK_ROOT_", typeof(OpRoot), ""),
        ("HUSK_STEP_", typeof(SetupStep), ""),
        ("HUSK_REPORT_", typeof(ReportKind), ""),
        ("HUSK_", typeof(Husk.Interop.Interop), ""),
    ];

    /// <summary>The classes that hold nothing but twins: each of their constants must be in the header.</summary>
    private static readonly Type[] TwinClasses = [typeof(OpKind), typeof(OpFlags), typeof(OpRoot), typeof(SetupStep), typeof(ReportKind)];

    /// <summary>Every HUSK_* constant of the header: object-like macros with a value, and enum members.</summary>
    internal static List<string> HeaderConstants(string header)
    {
        string code = Regex.Replace(header, @"/\*.*?\*/|//[^\n]*", " ", RegexOptions.Singleline);
        var names = Regex.Matches(code, @"^[ \t]*#[ \t]*define[ \t]+(HUSK_[A-Z0-9_]+)(?![A-Za-z0-9_(])[ \t]+\S", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToList();
        foreach (Match e in Regex.Matches(code, @"\benum\s*\{(.*?)\}", RegexOptions.Singleline))
        {
            foreach (string member in e.Groups[1].Value.Split(','))
            {
                var m = Regex.Match(member, @"^\s*(HUSK_[A-Z0-9_]+)\b");
                if (m.Success)
                    names.Add(m.Groups[1].Value);
            }
        }
        return names;
    }

    private static string Normalized(string name) => name.Replace("_", "", StringComparison.Ordinal).ToUpperInvariant();

    private static FieldInfo[] Constants(Type t) =>
        t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly).Where(f => f.IsLiteral).ToArray();

    /// <summary>The C# constant that stands for a header constant, or null.</summary>
    private static FieldInfo? Twin(string name)
    {
        var (prefix, holder, namePrefix) = Groups.First(g => name.StartsWith(g.Prefix, StringComparison.Ordinal));
        string wanted = Normalized(namePrefix + (Renamed.GetValueOrDefault(name) ?? name[prefix.Length..]));
        return Constants(holder).SingleOrDefault(f => Normalized(f.Name) == wanted);
    }

    private static ulong Bits(object value) => value switch
    {
        int i => unchecked((ulong)i),
        uint u => u,
        long l => unchecked((ulong)l),
        ulong u => u,
        _ => throw new InvalidOperationException($"an ABI constant of type {value.GetType()}"),
    };

    [Fact]
    public void The_header_parser_sees_defines_and_enum_members_but_not_comments_or_function_macros()
    {
        var names = HeaderConstants("""
            #define HUSK_A 1
            #define HUSK_B(x) (x)
            #define HUSK_GUARD_H
            enum {
                HUSK_C = 2,   /* like HUSK_D, not HUSK_E */
                HUSK_F,
            };
            """);
        Assert.Equal(["HUSK_A", "HUSK_C", "HUSK_F"], names);
    }

    [Fact]
    public void Every_constant_of_the_header_has_a_csharp_twin_with_its_value()
    {
        string header = Path.Combine(AppContext.BaseDirectory, "Native", "husk_abi.h");
        var names = HeaderConstants(File.ReadAllText(header));
        // Those the hand-written list once missed are found.
        Assert.Subset(names.ToHashSet(), new HashSet<string> { "HUSK_F_SEND_BASE", "HUSK_REPORT_DETAIL", "HUSK_REPORT_STORAGE", "HUSK_CAPS_ONLY_RAISE_AMBIENT", "HUSK_OP_OPEN_PTY" });
        var twins = names.ToDictionary(n => n, Twin);
        string[] missing = [.. twins.Where(t => t.Value is null).Select(t => t.Key)];
        Assert.True(missing.Length == 0, $"no C# twin in Interop.Spawn.cs for {string.Join(", ", missing)}");
        var claimed = twins.Values.ToHashSet();
        // OpFlags.None is the empty set of the flags enum, not a constant of the header.
        string[] orphans = [.. TwinClasses.SelectMany(Constants).Where(f => !claimed.Contains(f) && !(f.FieldType == typeof(OpFlags) && f.Name == "None"))
            .Select(f => $"{f.DeclaringType!.Name}.{f.Name}")];
        Assert.True(orphans.Length == 0, $"no constant in husk_abi.h for {string.Join(", ", orphans)}");

        // C's values: a program that prints each one.
        string dir = Directory.CreateTempSubdirectory("husk-abi").FullName;
        try
        {
            var src = new System.Text.StringBuilder($"#include <signal.h>\n#include <stdio.h>\n#include \"{header}\"\nint main(void) {{\n");
            foreach (string name in names)
                src.Append($"  printf(\"%s %llu\\n\", \"{name}\", (unsigned long long)({name}));\n");
            src.Append("  return 0;\n}\n");
            File.WriteAllText(Path.Combine(dir, "c.c"), src.ToString());
            var cc = TestEnvironment.Exec("gcc", ["-Wall", "-Werror", "-o", Path.Combine(dir, "c"), Path.Combine(dir, "c.c")]);
            Assert.True(cc.Code == 0, cc.Stderr);
            var run = TestEnvironment.Exec(Path.Combine(dir, "c"), []);
            var actual = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' ')).ToDictionary(p => p[0], p => ulong.Parse(p[1], CultureInfo.InvariantCulture));
            Assert.Equal(names.Count, actual.Count);
            foreach (var (name, twin) in twins)
            {
                ulong value = Bits(twin!.GetRawConstantValue()!);
                Assert.True(actual[name] == value, $"{name}: C says {actual[name]}, C# ({twin.DeclaringType!.Name}.{twin.Name}) says {value}");
            }
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }
}
