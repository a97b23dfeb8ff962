using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Husk.Launch;
using Husk.Network;
using Husk.Policy;
using Husk.Resources;

namespace Husk.Tests;

/// <summary>
/// What the cold-start work changed (docs/benchmarks.md, "Cold start"): plain reads instead of
/// FileStream, the default seccomp profile built only when used, enum names spelt out. Each must
/// answer exactly as the code it replaced.
/// </summary>
public class ColdStartTests
{
    [Fact]
    public void ProcFile_reads_small_files_whole_and_stops_long_ones_at_64_KiB_unless_asked_for_all()
    {
        string dir = TestEnvironment.ScratchDirectory("procfile");
        try
        {
            // Around the 4 KiB read on the stack, the 64 KiB limit and the buffer's growth past it.
            foreach (int length in new[] { 0, 1, 4095, 4096, 4097, 10_000, 65_536, 65_537, 300_000 })
            {
                string text = length == 0 ? "" : new string('x', length - 1) + "y";
                string path = Path.Combine(dir, $"f{length}");
                File.WriteAllText(path, text);
                Assert.Equal(text, ProcFile.ReadAllText(path));
                Assert.Equal(text[..Math.Min(text.Length, 64 * 1024)], ProcFile.ReadText(path));
            }
            Assert.Null(ProcFile.ReadText(Path.Combine(dir, "missing")));
            Assert.Null(ProcFile.ReadAllText(Path.Combine(dir, "missing")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ProcFile_decodes_utf8_across_its_stack_read()
    {
        string dir = TestEnvironment.ScratchDirectory("procfile");
        try
        {
            // A two-byte character split by the 4096-byte boundary of the first read.
            string text = new string('a', 4095) + "\u00e9" + "z";
            string path = Path.Combine(dir, "utf8");
            File.WriteAllText(path, text, new UTF8Encoding(false));
            Assert.Equal(text, ProcFile.ReadText(path));
            Assert.Equal(File.ReadAllText("/proc/self/status").Split('\n')[0], ProcFile.ReadText("/proc/self/status")!.Split('\n')[0]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_environment_as_started_is_proc_self_environ_in_its_order()
    {
        var expected = File.ReadAllText("/proc/self/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries).Where(e => e.Contains('=')).ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, CallerEnvironment.AsStarted());
    }

    [Fact]
    public void Network_mode_names_are_the_enum_names_in_lower_case()
    {
        foreach (var mode in Enum.GetValues<NetworkMode>())
            Assert.Equal(mode.ToString().ToLowerInvariant(), NetworkPlanner.ModeText(mode));
    }

    [Fact]
    public void An_unset_seccomp_profile_is_the_default_one_and_equal_to_it_set_explicitly()
    {
        var unset = new SeccompSpec();
        var set = new SeccompSpec { Profile = SeccompProfiles.Default };
        Assert.Same(SeccompProfiles.Default, unset.Profile);
        Assert.Same(SeccompProfiles.Default, SeccompSpec.Default.Profile);
        Assert.Equal(set, unset);
        Assert.Equal(set.GetHashCode(), unset.GetHashCode());
        Assert.Equal(SeccompSpec.Default, unset);
        Assert.NotEqual(SeccompSpec.None, SeccompSpec.Default);
        Assert.Null(SeccompSpec.None.Profile);
        Assert.Null((SeccompSpec.None with { Allow = ["read"] }).Profile);
        Assert.Same(SeccompProfiles.Judge, (SeccompSpec.None with { Profile = SeccompProfiles.Judge }).Profile);
        Assert.NotEqual(SeccompSpec.Default, SeccompSpec.Default with { UserNotification = true });
        Assert.Null(SeccompSpec.Raw([1, 2, 3, 4, 5, 6, 7, 8]).Profile);
    }

    [Fact]
    public void The_built_in_profiles_are_found_by_name_in_their_order()
    {
        var builtIn = SeccompProfiles.BuiltIn;
        Assert.Equal(["default", "judge"], builtIn.Keys);
        Assert.Equal(2, builtIn.Count);
        Assert.Same(SeccompProfiles.Default, builtIn["default"]);
        Assert.True(builtIn.TryGetValue("judge", out var judge));
        Assert.Same(SeccompProfiles.Judge, judge);
        Assert.False(builtIn.TryGetValue("Default", out _));
        Assert.False(builtIn.ContainsKey("none"));
        Assert.Throws<KeyNotFoundException>(() => builtIn["none"]);
        Assert.Equal([SeccompProfiles.Default, SeccompProfiles.Judge], builtIn.Values);
        Assert.Equal(["default", "judge"], builtIn.Select(p => p.Key));
    }

    [Fact]
    public void The_plan_image_structs_are_laid_out_as_marshalled()
    {
        // PlanImage reads sizes and offsets from the managed layout: right only while it is the marshalled (the C) one.
        Assert.Equal(Marshal.SizeOf<Interop.Interop.HuskOp>(), Unsafe.SizeOf<Interop.Interop.HuskOp>());
        Assert.Equal(Marshal.SizeOf<Interop.Interop.PlanImageHeader>(), Unsafe.SizeOf<Interop.Interop.PlanImageHeader>());
        Assert.Equal(Marshal.SizeOf<Interop.Interop.HuskCaps>(), Unsafe.SizeOf<Interop.Interop.HuskCaps>());
        foreach (var field in Enum.GetValues<PlanImage.OpFieldKind>())
            Assert.Equal((int)Marshal.OffsetOf<Interop.Interop.HuskOp>(field.ToString()), PlanImage.OpField(field));
    }

    [Fact]
    public void Husk_version_answers_before_the_command_tree_with_the_text_the_tree_would_print()
    {
        var output = new StringWriter();
        int code = Cli.HuskCommand.Build().Parse(["--version"]).Invoke(new System.CommandLine.InvocationConfiguration { Output = output });
        Assert.Equal(0, code);
        Assert.Equal(output.ToString(), Cli.HuskCommand.InformationalVersion + Environment.NewLine);
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["--version"]);
        Assert.Equal(0, r.Code);
        Assert.Equal(output.ToString(), r.Stdout);
        Assert.Equal("", r.Stderr);
    }
}
