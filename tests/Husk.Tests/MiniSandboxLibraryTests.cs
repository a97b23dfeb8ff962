using System.Text.RegularExpressions;
using Husk.Cli.Personalities.MiniSandbox;
using Husk.Native;
using static Husk.Interop.Interop;

namespace Husk.Tests;

/// <summary>
/// libmini-sandbox and libmini-tapbox on libhusk: their configuration calls mapped onto the
/// mini-sandbox personality, the spec a start makes (the caller as the payload), the plan that
/// continues the caller, and the private ABI between the C library and libhusk. The libraries
/// themselves run in tests/python/test_pyminisandbox.py (Python and a C client).
/// </summary>
public sealed class MiniSandboxLibraryTests : IDisposable
{
    private readonly string _dir = TestEnvironment.ScratchDirectory("minilib");

    public void Dispose() => TestEnvironment.DeleteTree(_dir);

    /// <summary>The real filesystem, with $HOME and the working directory the test's own.</summary>
    private sealed class Host(string home, string cwd) : MiniSandboxHost
    {
        public override string Home => home;
        public override string WorkingDirectory => cwd;
    }

    private Host MakeHost()
    {
        string home = Path.Combine(_dir, "home"), cwd = Path.Combine(home, "proj", "src");
        Directory.CreateDirectory(cwd);
        return new Host(home, cwd);
    }

    private static void Call(MiniSandboxArguments a, MiniSandboxLibrary.Function f, MiniSandboxHost host, string? first = null, string? second = null, int n = 0) =>
        Assert.True(MiniSandboxLibrary.Apply(a, f, first, second, n, host));

    private static MiniSandboxError Fails(MiniSandboxArguments a, MiniSandboxLibrary.Function f, MiniSandboxHost host, string? first = null) =>
        Assert.Throws<MiniSandboxError>(() => MiniSandboxLibrary.Apply(a, f, first, null, 0, host));

    [Fact]
    public void The_private_header_numbers_the_functions_as_libhusk_does()
    {
        string header = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Native", "husk_mini_sandbox.h"));
        var c = Regex.Matches(header, @"\bHUSK_MS_([A-Z0-9_]+)\s*=\s*(\d+)")
            .ToDictionary(m => m.Groups[1].Value.Replace("_", "", StringComparison.Ordinal), m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        var cs = Enum.GetValues<MiniSandboxLibrary.Function>().ToDictionary(f => f.ToString().ToUpperInvariant(), f => (int)f);
        Assert.Equal(cs.OrderBy(p => p.Key), c.OrderBy(p => p.Key));
    }

    [Fact]
    public void The_error_codes_are_mini_sandbox_s_values()
    {
        Assert.Equal(-1, (int)MiniSandboxErrorCode.InvalidFunctioningMode);
        Assert.Equal(-5, (int)MiniSandboxErrorCode.PathDoesNotExist);
        Assert.Equal(-10, (int)MiniSandboxErrorCode.IllegalNetworkConfiguration);
        Assert.Equal(-100, (int)MiniSandboxErrorCode.GeneralOSError);
        var header = File.ReadAllText(Path.Combine(TestEnvironment.Artifacts, "include", "linux-sandbox-api.h"));
        Assert.Contains("MINI_SANDBOX_SANDBOX_ALREADY_STARTED = -202", header);
        Assert.Contains("MINI_SANDBOX_ILLEGAL_NETWORK_CONFIGURATION = -10", header);
    }

    [Fact]
    public void Parents_write_makes_the_working_tree_a_writable_bind_instead_of_an_overlay()
    {
        var host = MakeHost();
        var a = MiniSandboxArguments.ForLibrary(tapbox: false);
        Call(a, MiniSandboxLibrary.Function.SetupDefault, host);
        // The working directory is below $HOME: the directory below $HOME that leads to it is -x's overlay.
        string tree = Path.Combine(host.Home, "proj");
        var overlaid = MiniSandboxPersonality.ToSpec(a, host);
        Assert.Contains(overlaid.Mounts, m => m is OverlayMount o && o.Destination == tree);
        Call(a, MiniSandboxLibrary.Function.MountParentsWrite, host);
        var written = MiniSandboxPersonality.ToSpec(a, host);
        Assert.DoesNotContain(written.Mounts, m => m is OverlayMount o && o.Destination == tree);
        Assert.Contains(written.Mounts, m => m is BindMount { ReadOnly: false } b && b.Destination == tree);
    }

    [Fact]
    public void Setup_custom_is_o_then_d_and_an_overlay_directory_inside_the_root_fails_without_a_code()
    {
        var host = MakeHost();
        string root = Path.Combine(_dir, "root"), layers = Path.Combine(_dir, "layers");
        var a = MiniSandboxArguments.ForLibrary(tapbox: false);
        Call(a, MiniSandboxLibrary.Function.SetupCustom, host, layers, root);
        Assert.Equal((MiniSandboxMode.Custom, root, layers), (a.Mode, a.SandboxRoot, a.OverlayDirectory));
        var inside = MiniSandboxArguments.ForLibrary(tapbox: false);
        Assert.False(MiniSandboxLibrary.Apply(inside, MiniSandboxLibrary.Function.SetupCustom, Path.Combine(root, "layers"), root, 0, host));
        // Then a second mode, as mini-sandbox refuses it.
        Assert.Equal(MiniSandboxErrorCode.InvalidFunctioningMode, Fails(a, MiniSandboxLibrary.Function.SetupDefault, host).Code);
    }

    [Fact]
    public void Empty_output_files_are_made_and_mounted_writable_and_the_working_directory_must_exist()
    {
        var host = MakeHost();
        var a = MiniSandboxArguments.ForLibrary(tapbox: false);
        string file = Path.Combine(_dir, "out.txt");
        Call(a, MiniSandboxLibrary.Function.MountEmptyOutputFile, host, file);
        Assert.True(File.Exists(file));
        Assert.Contains(file, a.Writable);
        var missing = Fails(a, MiniSandboxLibrary.Function.SetWorkingDir, host, Path.Combine(_dir, "nope"));
        Assert.Equal($"[ValidateDirPath:168]: Path does not exist: {Path.Combine(_dir, "nope")}", missing.Message);
        Call(a, MiniSandboxLibrary.Function.SetWorkingDir, host, _dir);
        Call(a, MiniSandboxLibrary.Function.SetWorkingDir, host, host.WorkingDirectory);
        Assert.Equal(host.WorkingDirectory, a.WorkingDirectory);
    }

    [Fact]
    public void Tapbox_rules_allow_all_and_the_budget_become_the_allowlist()
    {
        var host = MakeHost();
        var rules = MiniSandboxArguments.ForLibrary(tapbox: true);
        Call(rules, MiniSandboxLibrary.Function.AllowDomain, host, "www.example.com");
        Call(rules, MiniSandboxLibrary.Function.AllowIpv4Subnet, host, "10.1.0.0/16");
        var error = Fails(rules, MiniSandboxLibrary.Function.AllowAllDomains, host);
        Assert.Equal("[MiniSbxAllowAllDomains:594]: Cannot allow all domains after specifying one network rule", error.Message);
        var net = MiniSandboxPersonality.ToSpec(rules, host).Network;
        Assert.Equal((true, EgressAction.Refuse, 2, (int?)null), (net.Filter, net.DefaultAction, net.Rules.Length, net.MaxConnections));

        var all = MiniSandboxArguments.ForLibrary(tapbox: true);
        Call(all, MiniSandboxLibrary.Function.AllowAllDomains, host);
        Assert.Equal(MiniSandboxErrorCode.IllegalNetworkConfiguration, Fails(all, MiniSandboxLibrary.Function.AllowIpv4, host, "8.8.8.8").Code);
        Assert.Equal(EgressAction.Allow, MiniSandboxPersonality.ToSpec(all, host).Network.DefaultAction);

        // A budget replaces the rules; a negative one gives them back.
        Call(rules, MiniSandboxLibrary.Function.AllowMaxConnections, host, n: 3);
        net = MiniSandboxPersonality.ToSpec(rules, host).Network;
        Assert.Equal((true, EgressAction.Allow, 0, (int?)3), (net.Filter, net.DefaultAction, net.Rules.Length, net.MaxConnections));
        Call(rules, MiniSandboxLibrary.Function.AllowMaxConnections, host, n: -1);
        Assert.Null(MiniSandboxPersonality.ToSpec(rules, host).Network.MaxConnections);
    }

    [Fact]
    public void A_rules_file_with_an_unknown_line_is_read_but_fails()
    {
        var host = MakeHost();
        string file = Path.Combine(_dir, "rules");
        File.WriteAllText(file, "8.8.8.8\n*.nope\nexample.com\n");
        var a = MiniSandboxArguments.ForLibrary(tapbox: true);
        Assert.False(MiniSandboxLibrary.Apply(a, MiniSandboxLibrary.Function.AllowConnections, file, null, 0, host));
        Assert.Equal(["8.8.8.8", "example.com"], a.Allowed);
        Assert.Empty(a.Unrecognized); // warned of, then forgotten
    }

    [Fact]
    public void Share_network_is_the_host_s_network_whatever_came_before_but_the_default_mode_resets_it()
    {
        var host = MakeHost();
        var a = MiniSandboxArguments.ForLibrary(tapbox: false);
        Call(a, MiniSandboxLibrary.Function.ShareNetwork, host);
        Call(a, MiniSandboxLibrary.Function.SetupDefault, host);
        Assert.Equal(MiniSandboxNetwork.Loopback, a.Network);
        Call(a, MiniSandboxLibrary.Function.ShareNetwork, host);
        Assert.False(MiniSandboxPersonality.ToSpec(a, host).Namespaces.HasFlag(NamespaceKinds.Net));
    }

    [Fact]
    public void A_directory_under_home_brings_the_directories_its_symlinks_point_into()
    {
        var host = MakeHost();
        string t4 = Path.Combine(host.Home, "t", "t1", "t4"), t2 = Path.Combine(host.Home, "t", "t2");
        Directory.CreateDirectory(t4);
        Directory.CreateDirectory(t2);
        File.WriteAllText(Path.Combine(t2, "ola"), "lorem");
        File.CreateSymbolicLink(Path.Combine(t4, "ola"), Path.Combine(t2, "ola"));
        var a = MiniSandboxArguments.ForLibrary(tapbox: false);
        Call(a, MiniSandboxLibrary.Function.SetupDefault, host);
        Call(a, MiniSandboxLibrary.Function.MountBind, host, t4);
        Assert.Contains((t2, t2), a.Binds);
        Call(a, MiniSandboxLibrary.Function.MountWrite, host, t4);
        Assert.Contains(t2, a.Writable);
        Call(a, MiniSandboxLibrary.Function.MountOverlay, host, t4);
        Assert.Contains(t2, a.Overlays);
        // Outside $HOME nothing is added (linux-sandbox looks under $HOME only).
        string outside = Path.Combine(_dir, "o");
        Directory.CreateDirectory(outside);
        File.CreateSymbolicLink(Path.Combine(outside, "ola"), Path.Combine(t2, "ola"));
        var b = MiniSandboxArguments.ForLibrary(tapbox: false);
        Call(b, MiniSandboxLibrary.Function.MountBind, host, outside);
        Assert.Equal([(outside, outside)], b.Binds);
    }

    [Fact]
    public void A_start_continues_the_caller_with_no_command_no_capabilities_and_its_set_up_mark()
    {
        var host = MakeHost();
        var a = MiniSandboxArguments.ForLibrary(tapbox: false);
        Call(a, MiniSandboxLibrary.Function.SetupDefault, host);
        var spec = MiniSandboxLibrary.ToSpec(a, host);
        Assert.True(spec.ContinuesCaller);
        Assert.Empty(spec.Command);
        Assert.Equal(CapabilitySet.None, spec.Capabilities);
        Assert.Empty(spec.Validate());
        var mark = Assert.IsType<WriteFile>(spec.Mounts[^1]);
        Assert.Equal((MiniSandboxLibrary.InitFile, FilePlacement.ReadOnlyBind, "1\n"), (mark.Destination, mark.Placement, System.Text.Encoding.ASCII.GetString([.. mark.Data])));
    }

    [Fact]
    public void A_continuing_spec_needs_a_pid_namespace_and_no_command_and_its_plan_ends_in_return()
    {
        var spec = new SandboxSpec { Command = [], ContinuesCaller = true, FileSystem = FileSystemSpec.HostReadOnly };
        Assert.Empty(spec.Validate());
        Assert.Contains((spec with { Namespaces = NamespaceKinds.User | NamespaceKinds.Mount }).Validate(), p => p.Contains("pid namespace", StringComparison.Ordinal));
        Assert.Contains((spec with { Command = ["true"] }).Validate(), p => p.Contains("runs no command", StringComparison.Ordinal));
        Assert.Contains((spec with { NewSession = true }).Validate(), p => p.Contains("keeps the caller's descriptors", StringComparison.Ordinal));
        Assert.Contains(new SandboxSpec { Command = [] }.Validate(), p => p.StartsWith("no command given", StringComparison.Ordinal));

        var plan = Launch.SpawnPlanner.Plan(spec, new FakeHost().Context());
        Assert.True(plan.ContinuesCaller);
        Assert.Equal(OpKind.Return, plan.Ops[^1].Kind);
        Assert.Equal(plan.Ops.Count - 1, plan.ExecOpIndex);
        int fork = plan.Ops.ToList().FindIndex(o => o.Kind == OpKind.Fork);
        Assert.True(fork > 0 && plan.UsesInit);
        // The caller keeps its descriptors and its session: nothing of them is planned.
        Assert.DoesNotContain(plan.Ops, o => o.Kind is OpKind.Exec or OpKind.Dup2 or OpKind.CloexecRange or OpKind.SetSid);
    }
}
