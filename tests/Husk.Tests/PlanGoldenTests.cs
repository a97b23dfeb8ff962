using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Husk.Cli.Personalities;
using Husk.Cli.Personalities.Bwrap;
using Husk.Cli.Personalities.Mkosi;
using Husk.Cli.Run;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Tests;

/// <summary>
/// Each front door's canonical command lines, planned against a made-up host (<see cref="FakeHost"/>)
/// and rendered op by op: the whole path from argv to what the C stage is told, with no kernel, in
/// the spirit of youki's mount tests asserting exact arguments. A change to any plan shows as a diff
/// of tests/Husk.Tests/Golden/*.plan; after checking it, HUSK_UPDATE_GOLDEN=1 rewrites the files.
/// </summary>
public class PlanGoldenTests
{
    private static readonly FakeHost Host = new();

    public static TheoryData<string, string[]> HuskRun => new()
    {
        { "husk-run-default", ["--root", "/var/lib/sbx", "--", "/bin/sh", "-c", "make"] },
        { "husk-run-ro", ["--fs", "ro", "--", "/bin/true"] },
        { "husk-run-tmpfs", ["--fs", "tmpfs", "--bind", "/usr", "/usr", "--", "/usr/bin/true"] },
        { "husk-run-host", ["--fs", "host", "--share-net", "--", "/bin/true"] },
        { "husk-run-dir", ["--fs", "/usr", "--readonly", "--", "/bin/true"] },
        { "husk-run-storage", ["--root", "/var/lib/sbx", "--storage", "64M", "--", "/bin/true"] },
        { "husk-run-judge", ["--fs", "ro", "--profile", "judge", "--time-limit", "1s", "--memory", "64M", "--", "/srv/job/main"] },
        { "husk-run-policy", ["--fs", "ro", "--landlock", "strict", "--tcp-connect", "443", "--allow-syscall", "ptrace", "--deny-syscall", "mkdir:EACCES", "--cap-add", "CAP_NET_RAW", "--", "/bin/true"] },
        { "husk-run-nested", ["--fs", "ro", "--allow-userns", "--become-root", "--hostname", "box", "--", "/bin/true"] },
        { "husk-run-allowlist", ["--fs", "ro", "--allow-host", "example.com:443", "--allow-host", "10.0.0.0/8", "--allow-host", "10.1.0.0/16", "--", "/bin/true"] },
        { "husk-run-nat", ["--fs", "ro", "--net", "nat", "--publish", "8080:80", "--dns", "192.0.2.53", "--", "/bin/true"] },
        { "husk-run-ops", ["--fs", "ro", "--tmpfs", "/data", "--size", "1M", "--perms", "0700", "--tmpfs", "/scratch", "--dir", "/data/in", "--write", "hi", "/data/in/x", "--symlink", "/data", "/d", "--chdir", "/data", "--", "/bin/true"] },
    };

    public static TheoryData<string, string[]> Bwrap => new()
    {
        { "bwrap-flatpak-like", ["--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "/bin/true"] },
        { "bwrap-overlays", ["--overlay-src", "/usr", "--tmp-overlay", "/usr", "--overlay-src", "/etc", "--overlay-src", "/srv", "--ro-overlay", "/etc", "--dir", "/x", "/bin/true"] },
        { "bwrap-identity", ["--unshare-user", "--uid", "0", "--gid", "0", "--disable-userns", "--cap-add", "CAP_SYS_ADMIN", "--hostname", "h", "--unshare-uts", "--ro-bind", "/", "/", "/bin/true"] },
    };

    public static TheoryData<string, string[]> Mkosi => new()
    {
        { "mkosi-plain", ["--ro-bind", "/usr", "/usr", "--dev", "/dev", "--tmpfs", "/tmp", "true"] },
        { "mkosi-become-root", ["--become-root", "--unshare-net", "--bind", "/srv", "/srv", "--symlink", "usr/bin", "/bin", "--suppress-chown", "true"] },
    };

    /// <summary>
    /// config.json files: captured from podman (root, rootless) and ctr, runc's templates, one with
    /// every field Husk maps, and runc's template without namespaces (runtime-tools' linux_ns_itype).
    /// </summary>
    public static TheoryData<string> Oci => new() { "oci-podman-root", "oci-podman-rootless", "oci-containerd", "oci-runc-spec", "oci-runc-spec-rootless", "oci-everything", "oci-no-mount-namespace" };

    [Theory]
    [MemberData(nameof(Oci))]
    public void Oci_configs_plan_as_recorded(string name)
    {
        bool rootless = name.EndsWith("-rootless", StringComparison.Ordinal);
        string json = name.StartsWith("oci-runc-spec", StringComparison.Ordinal)
            ? Husk.Cli.Personalities.Oci.InfoCommands.Template(rootless, 1000, 1000)
            : File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", name + ".json"));
        var ociHost = name switch
        {
            "oci-podman-rootless" => Husk.Tests.Oci.OciTestHost.RootInUserNamespace,
            "oci-runc-spec-rootless" => Husk.Tests.Oci.OciTestHost.User,
            _ => Husk.Tests.Oci.OciTestHost.Root,
        };
        var mapping = Husk.Cli.Personalities.Oci.OciSpecMapper.Map(Husk.Cli.Personalities.Oci.OciConfig.Parse(json), "/srv/bundle", "ctr-1", ociHost);
        // The runtime opens the namespaces to join and the start FIFO: made-up descriptors here.
        var spec = mapping.WithNamespaceFds([.. Enumerable.Range(20, mapping.JoinPaths.Length).Select(Descriptors.Borrow)]) with { StartFifoFd = Descriptors.Borrow(10) };
        var sb = new StringBuilder();
        foreach (var (kind, path) in mapping.JoinPaths)
            sb.Append(CultureInfo.InvariantCulture, $"join {kind} {path}\n");
        if (spec.Cgroup is { } cg)
        {
            var r = cg.Resources;
            sb.Append(CultureInfo.InvariantCulture, $"cgroup {cg.Path} optional={cg.Optional} memory={r.MemoryLimit} swap={r.MemorySwap} pids={r.PidsLimit} shares={r.CpuShares} quota={r.CpuQuota} devices={r.Devices.Length}\n");
        }
        foreach (string w in mapping.Warnings)
            sb.Append("warning ").Append(w).Append('\n');
        foreach (string n in mapping.Notes)
            sb.Append("note ").Append(n).Append('\n');
        Check(name, spec, uid: ociHost.IsRoot ? 0u : 1000u, prefix: sb.ToString());
    }

    [Theory]
    [MemberData(nameof(HuskRun))]
    public void Husk_run_plans_as_recorded(string name, string[] args)
    {
        // A caller with a known environment: only PATH.
        var arguments = RunCommand.Parse(args, out _, new SandboxSpecBuilder("/bin/true").ClearEnv().SetEnv("PATH", "/caller/bin"));
        Check(name, arguments.ToSpec("golden"));
    }

    [Theory]
    [MemberData(nameof(Bwrap))]
    public void Bwrap_plans_as_recorded(string name, string[] args)
    {
        var o = new BwrapOptions { Environment = ["PATH=/usr/bin"] };
        new BwrapParser(o, new BwrapLog(_ => { }), _ => (null, Errno.EBADF), _ => { }, "bwrap").Parse(args);
        var host = new BwrapHost { Uid = 1000, Gid = 1000 };
        BwrapSpecBuilder.Check(o, host);
        BwrapSpecBuilder.CheckIdentity(o, host);
        Check(name, BwrapSpecBuilder.Build(o, host).Spec);
    }

    [Theory]
    [MemberData(nameof(Mkosi))]
    public void Mkosi_sandbox_plans_as_recorded(string name, string[] args)
    {
        var host = new HostFacts { Uid = 1000, Gid = 1000, EffectiveCapabilities = 0, Environment = [new("PATH", "/usr/bin")] };
        Check(name, MkosiSandbox.Build(MkosiArguments.Parse(args, "/home/me/src", null), [], host));
    }

    private static void Check(string name, SandboxSpec spec, uint uid = 1000, string prefix = "")
    {
        var host = Host.Context(uid);
        var layout = spec.FileSystem is HostOverlayFileSystem fs ? Husk.FileSystem.HostOverlayLayout.Plan(fs, spec, host) : null;
        layout?.AssumePrepared([("/home", 0x1ED), ("/home/me", 0x1ED)], new Dictionary<string, int>());
        string text = prefix + Render(SpawnPlanner.Plan(spec, host, layout: layout));
        if (Environment.GetEnvironmentVariable("HUSK_UPDATE_GOLDEN") == "1")
        {
            // Recorded in the checkout (found from the test binary's place, as the artifacts are).
            File.WriteAllText(Path.Combine(Path.GetDirectoryName(TestEnvironment.Artifacts)!, "tests", "Husk.Tests", "Golden", name + ".plan"), text);
            return;
        }
        string file = Path.Combine(AppContext.BaseDirectory, "Golden", name + ".plan");
        Assert.True(File.Exists(file), $"no golden plan {file}: run with HUSK_UPDATE_GOLDEN=1 to record it");
        Assert.Equal(File.ReadAllText(file), text);
    }

    /// <summary>One line per op: its kind, flags and every field the C stage reads.</summary>
    internal static string Render(SpawnPlan plan)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"clone 0x{plan.CloneFlags:x} idmaps {plan.IdMaps.Kind}");
        if (plan.IdMaps.Kind != IdMapKind.None)
            sb.Append(CultureInfo.InvariantCulture, $" uid[{plan.IdMaps.UidMap.Trim()}] gid[{plan.IdMaps.GidMap.Trim()}] setgroups={(plan.IdMaps.DenySetgroups ? "deny" : "allow")}");
        sb.Append('\n');
        foreach (var op in plan.Ops)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{op.Kind} \"{op.Description}\" role={op.Role}{(op.Index != 0 ? $"#{op.Index}" : "")}");
            if (op.Flags != 0) sb.Append(CultureInfo.InvariantCulture, $" flags=0x{(uint)op.Flags:x}");
            if (op.Fd != -1) sb.Append(CultureInfo.InvariantCulture, $" fd={op.Fd}");
            if (op.Mode != 0) sb.Append(CultureInfo.InvariantCulture, $" mode=0{Convert.ToString(op.Mode, 8)}");
            if (op.A != 0) sb.Append(CultureInfo.InvariantCulture, $" a=0x{op.A:x}");
            if (op.B != 0) sb.Append(CultureInfo.InvariantCulture, $" b=0x{op.B:x}");
            if (op.C != 0) sb.Append(CultureInfo.InvariantCulture, $" c={op.C}");
            if (op.S1 is not null) sb.Append(CultureInfo.InvariantCulture, $" s1={op.S1}");
            if (op.S2 is not null) sb.Append(CultureInfo.InvariantCulture, $" s2={op.S2}");
            if (op.OptionDescriptions is { } opts) sb.Append(" options=").Append(string.Join(',', opts));
            else if (op.Data is { } data) sb.Append(CultureInfo.InvariantCulture, $" data={data.Length}:{Convert.ToHexString(SHA256.HashData(data))[..12]}");
            if (op.Strings is { } strings) sb.Append(" strings=[").Append(string.Join(' ', strings.Where(x => x is not null))).Append(']');
            if (op.Strings2 is { } strings2) sb.Append(" strings2=[").Append(string.Join(' ', strings2.Where(x => x is not null))).Append(']');
            if (op.Ints is { Length: > 0 } ints) sb.Append(" ints=[").Append(string.Join(' ', ints)).Append(']');
            if (op.Caps is { } c) sb.Append(CultureInfo.InvariantCulture, $" caps=bnd:{c.Bounding:x},eff:{c.Effective:x},amb:{c.Ambient:x},secbits:{c.SecureBits:x},flags:{c.Flags}");
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
