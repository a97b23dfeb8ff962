using System.Text;
using System.Text.Json;

namespace Husk.Cli.Personalities.Oci;

/// <summary><c>features</c>, <c>spec</c> and <c>--version</c>.</summary>
internal static class InfoCommands
{
    /// <summary>The runtime-spec version whose configs husk-runtime reads (any 1.x is taken).</summary>
    public const string SpecVersion = "1.2.0";

    public static int Version()
    {
        Console.Out.Write($"husk-runtime version {HuskCommand.Version}\nspec: {SpecVersion}\n");
        return 0;
    }

    private static readonly string[] Hooks = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

    private static readonly string[] MountOptionNames =
    [
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud", "mand", "noatime",
        "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow",
        "private", "rbind", "relatime", "remount", "ro", "rprivate", "rw", "silent", "strictatime", "suid", "symfollow", "sync",
    ];

    private static readonly string[] SeccompActions =
        ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"];

    private static readonly string[] SeccompOperators =
        ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"];

    /// <summary><c>features</c>: what this runtime supports (runtime-spec features.md); containerd reads it.</summary>
    public static int Features(OciContext ctx, string[] args)
    {
        OciCommandLine.Parse(args, [], command: "features");
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("ociVersionMin", "1.0.0");
            w.WriteString("ociVersionMax", SpecVersion);
            Strings(w, "hooks", Hooks);
            Strings(w, "mountOptions", MountOptionNames);
            w.WriteStartObject("linux");
            Strings(w, "namespaces", ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]);
            var caps = new List<string>();
            for (int cap = 0; cap <= ctx.Host.LastCapability; cap++)
                caps.Add(Policy.CapabilityNames.Name(cap));
            Strings(w, "capabilities", caps);
            w.WriteStartObject("cgroup");
            w.WriteBoolean("v1", true);
            w.WriteBoolean("v2", true);
            w.WriteBoolean("systemd", false);
            w.WriteBoolean("systemdUser", false);
            w.WriteBoolean("rdma", false);
            w.WriteEndObject();
            w.WriteStartObject("seccomp");
            w.WriteBoolean("enabled", true);
            Strings(w, "actions", SeccompActions);
            Strings(w, "operators", SeccompOperators);
            Strings(w, "archs", [System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64 ? "SCMP_ARCH_AARCH64" : "SCMP_ARCH_X86_64"]);
            Strings(w, "knownFlags", ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]);
            Strings(w, "supportedFlags", ["SECCOMP_FILTER_FLAG_TSYNC"]);
            w.WriteEndObject();
            Enabled(w, "apparmor", false);
            Enabled(w, "selinux", false);
            Enabled(w, "intelRdt", false);
            w.WriteStartObject("mountExtensions");
            Enabled(w, "idmap", false);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("annotations");
            w.WriteString("io.github.husk.version", HuskCommand.Version);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        Console.Out.Write(Encoding.UTF8.GetString(ms.ToArray()) + "\n");
        return 0;
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (string v in values)
            w.WriteStringValue(v);
        w.WriteEndArray();
    }

    private static void Enabled(Utf8JsonWriter w, string name, bool enabled)
    {
        w.WriteStartObject(name);
        w.WriteBoolean("enabled", enabled);
        w.WriteEndObject();
    }

    public static readonly OciOption[] SpecOptions = [new(["bundle", "b"], true), new(["rootless"], false)];

    /// <summary><c>spec [--bundle DIR] [--rootless]</c>: writes runc's template config.json (rootless: a user namespace mapping the caller, no network namespace, /sys bound).</summary>
    public static int Spec(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, SpecOptions, command: "spec");
        if (line.Arguments.Count > 0)
            throw new OciUsageException("spec: \"spec\" requires exactly 0 arguments");
        string dir = Path.GetFullPath(line.Value("bundle") ?? ".");
        string path = Path.Combine(dir, "config.json");
        if (File.Exists(path))
            throw new OciRuntimeException("File config.json exists. Remove it first");
        File.WriteAllText(path, Template(line.Flag("rootless"), Interop.Interop.GetUid(), Interop.Interop.GetGid()));
        _ = ctx;
        return 0;
    }

    /// <summary>runc's default spec, and its rootless variant for the given ids.</summary>
    internal static string Template(bool rootless, uint uid, uint gid)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", SpecVersion);
            w.WriteStartObject("process");
            w.WriteBoolean("terminal", true);
            w.WriteStartObject("user");
            w.WriteNumber("uid", 0);
            w.WriteNumber("gid", 0);
            w.WriteEndObject();
            Strings(w, "args", ["sh"]);
            Strings(w, "env", ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]);
            w.WriteString("cwd", "/");
            w.WriteStartObject("capabilities");
            string[] caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
            foreach (string set in new[] { "bounding", "effective", "permitted" })
                Strings(w, set, caps);
            w.WriteEndObject();
            w.WriteStartArray("rlimits");
            w.WriteStartObject();
            w.WriteString("type", "RLIMIT_NOFILE");
            w.WriteNumber("hard", 1024);
            w.WriteNumber("soft", 1024);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteBoolean("noNewPrivileges", true);
            w.WriteEndObject();
            w.WriteStartObject("root");
            w.WriteString("path", "rootfs");
            w.WriteBoolean("readonly", true);
            w.WriteEndObject();
            w.WriteString("hostname", "runc");
            w.WriteStartArray("mounts");
            Mount(w, "/proc", "proc", "proc", []);
            Mount(w, "/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]);
            Mount(w, "/dev/pts", "devpts", "devpts", rootless
                ? ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
                : ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
            Mount(w, "/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]);
            Mount(w, "/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]);
            if (rootless)
            {
                Mount(w, "/sys", "none", "/sys", ["rbind", "nosuid", "noexec", "nodev", "ro"]);
            }
            else
            {
                Mount(w, "/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]);
                Mount(w, "/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]);
            }
            w.WriteEndArray();
            w.WriteStartObject("linux");
            if (rootless)
            {
                foreach (var (name, id) in new[] { ("uidMappings", uid), ("gidMappings", gid) })
                {
                    w.WriteStartArray(name);
                    w.WriteStartObject();
                    w.WriteNumber("containerID", 0);
                    w.WriteNumber("hostID", id);
                    w.WriteNumber("size", 1);
                    w.WriteEndObject();
                    w.WriteEndArray();
                }
            }
            else
            {
                w.WriteStartObject("resources");
                w.WriteStartArray("devices");
                w.WriteStartObject();
                w.WriteBoolean("allow", false);
                w.WriteString("access", "rwm");
                w.WriteEndObject();
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteStartArray("namespaces");
            foreach (string ns in rootless ? new[] { "pid", "ipc", "uts", "mount", "user" } : ["pid", "network", "ipc", "uts", "mount", "cgroup"])
            {
                w.WriteStartObject();
                w.WriteString("type", ns);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            Strings(w, "maskedPaths",
            [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ]);
            Strings(w, "readonlyPaths", ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static void Mount(Utf8JsonWriter w, string destination, string type, string source, string[] options)
    {
        w.WriteStartObject();
        w.WriteString("destination", destination);
        w.WriteString("type", type);
        w.WriteString("source", source);
        if (options.Length > 0)
            Strings(w, "options", options);
        w.WriteEndObject();
    }
}
