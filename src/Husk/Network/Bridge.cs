using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Husk.Interop;

namespace Husk.Network;

/// <summary>
/// The bridge of <see cref="NetworkMode.Bridge"/> (root only): <c>husk0</c> with the subnet's first
/// address, NAT to the outside through an nftables table of its own (<c>ip husk</c>), and per
/// sandbox a veth pair, an address and, for published ports, a table <c>ip husk-ADDRESS</c>.
/// Addresses are leases: a file per address in <see cref="LeaseDirectory"/>, locked by the
/// supervisor of its sandbox for as long as it runs, so concurrent sandboxes never share one; a
/// lease nobody holds was left by a husk that died (SIGKILL) and is cleaned, with its veth and
/// table, at the next start. The last sandbox to leave removes the bridge, the table and the
/// forwarding it turned on, as a cgroup of a crashed run is removed.
/// </summary>
internal static class Bridge
{
    public const string Name = "husk0";
    public const string Table = "husk";
    public const string LeaseDirectory = "/run/husk/bridge";

    private static readonly Dictionary<string, SafeFd> Held = [];

    /// <summary>The veth names and table name for an address: short enough for an interface (15 bytes).</summary>
    internal static BridgeLease LeaseFor(IPAddress address, IPNetwork subnet)
    {
        string hex = Convert.ToHexString(address.GetAddressBytes()).ToLowerInvariant();
        return new BridgeLease("hv" + hex, "hp" + hex, address, subnet.PrefixLength, FromUInt(ToUInt(subnet.BaseAddress) + 1));
    }

    /// <summary>The first free address of <paramref name="subnet"/> (the first is the bridge's, the last the broadcast).</summary>
    internal static IPAddress? FirstFree(IPNetwork subnet, IReadOnlySet<IPAddress> taken)
    {
        uint base4 = ToUInt(subnet.BaseAddress);
        uint size = subnet.PrefixLength >= 32 ? 1u : 1u << (32 - subnet.PrefixLength);
        for (uint i = 2; i + 1 < size; i++)
        {
            var candidate = FromUInt(base4 + i);
            if (!taken.Contains(candidate))
                return candidate;
        }
        return null;
    }

    /// <summary>
    /// nftables of the bridge (the host's side): masquerade what leaves the subnet, and what the
    /// host sends from its loopback to a published port (DNAT'd onto the bridge, which routes
    /// 127/8 for that: route_localnet); and, since that opens the bridge to 127/8, drop whatever
    /// comes in from the bridge to or from a loopback address (a sandbox would reach the host's
    /// loopback services so, as kube-proxy's CVE-2020-8558 showed).
    /// </summary>
    internal static string HostRuleset(IPNetwork subnet) =>
        $"table ip {Table} {{\n\tchain guard {{\n\t\ttype filter hook prerouting priority -300; policy accept;\n\t\tiifname \"{Name}\" ip daddr 127.0.0.0/8 drop\n\t\tiifname \"{Name}\" ip saddr 127.0.0.0/8 drop\n\t}}\n" +
        $"\tchain postrouting {{\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tip saddr {subnet} ip daddr != {subnet} masquerade\n\t\toifname \"{Name}\" ip saddr 127.0.0.0/8 masquerade\n\t}}\n" +
        $"\tchain forward {{\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tiifname \"{Name}\" accept\n\t\toifname \"{Name}\" ct state established,related accept\n\t}}\n}}\n";

    /// <summary>nftables of one sandbox's published ports (DNAT from the host's addresses to the sandbox's).</summary>
    internal static string PublishRuleset(BridgeLease lease, IReadOnlyList<PortPublication> publish)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"table ip {TableOf(lease)} {{\n");
        foreach (var (chain, hook) in new[] { ("prerouting", "prerouting"), ("output", "output") })
        {
            sb.Append(CultureInfo.InvariantCulture, $"\tchain {chain} {{\n\t\ttype nat hook {hook} priority -100; policy accept;\n");
            foreach (var p in publish)
            {
                string proto = p.Protocol == NetworkProtocol.Udp ? "udp" : "tcp";
                sb.Append(CultureInfo.InvariantCulture, $"\t\tfib daddr type local {proto} dport {p.HostPort} dnat to {lease.Address}:{p.SandboxPort}\n");
            }
            sb.Append("\t}\n");
        }
        sb.Append("}\n");
        return sb.ToString();
    }

    internal static string TableOf(BridgeLease lease) => "husk-" + lease.HostVeth[2..];

    /// <summary>Takes an address on the bridge for a new sandbox: cleans stale leases, makes the bridge if it is missing.</summary>
    public static BridgeLease Acquire(NetworkSpec spec)
    {
        if (Interop.Interop.GetUid() != 0)
            throw Failure("--net bridge needs root (it creates the husk0 bridge and veth pairs): use --net nat without root");
        Directory.CreateDirectory(LeaseDirectory);
        using var global = Lock(Path.Join(LeaseDirectory, "lock"), wait: true)!;
        CleanStale();
        EnsureBridge(spec.BridgeSubnet);
        var taken = Directory.EnumerateFiles(LeaseDirectory, "lease-*").Select(f => IPAddress.Parse(Path.GetFileName(f)["lease-".Length..])).ToHashSet();
        var address = FirstFree(spec.BridgeSubnet, taken) ?? throw Failure($"the bridge's subnet {spec.BridgeSubnet} is full: choose a larger one with --bridge-subnet");
        var lease = LeaseFor(address, spec.BridgeSubnet);
        string file = Path.Join(LeaseDirectory, "lease-" + address);
        var held = Lock(file, wait: false) ?? throw Failure($"the lease of {address} is held by another sandbox");
        lock (Held)
            Held[file] = held;
        try
        {
            Ip($"link add {lease.HostVeth} type veth peer name {lease.SandboxVeth}\nlink set {lease.HostVeth} master {Name} up\n");
            if (spec.Publish.Length > 0)
                Nft(PublishRuleset(lease, spec.Publish));
        }
        catch
        {
            ReleaseLocked(lease);
            throw;
        }
        return lease;
    }

    /// <summary>Moves the sandbox's end of the veth into the namespace of <paramref name="pid"/>.</summary>
    public static void MoveIntoNamespace(BridgeLease lease, int pid) =>
        Ip($"link set {lease.SandboxVeth} netns {pid.ToString(CultureInfo.InvariantCulture)}\n");

    /// <summary>Gives the address back; the last one out removes the bridge.</summary>
    public static void Release(BridgeLease lease)
    {
        using var global = Lock(Path.Join(LeaseDirectory, "lock"), wait: true);
        ReleaseLocked(lease);
        RemoveBridgeIfUnused();
    }

    private static void ReleaseLocked(BridgeLease lease)
    {
        TryRun("ip", ["link", "del", lease.HostVeth]);
        TryRun("nft", ["delete", "table", "ip", TableOf(lease)]);
        string file = Path.Join(LeaseDirectory, "lease-" + lease.Address);
        File.Delete(file);
        lock (Held)
        {
            if (Held.Remove(file, out var fd))
                fd.Dispose();
        }
    }

    /// <summary>Leases nobody holds (their husk died): their veth, table and file go.</summary>
    internal static void CleanStale()
    {
        foreach (string file in Directory.EnumerateFiles(LeaseDirectory, "lease-*"))
        {
            using var fd = Lock(file, wait: false);
            if (fd is null)
                continue; // a running sandbox's
            if (IPAddress.TryParse(Path.GetFileName(file)["lease-".Length..], out var address))
            {
                var lease = LeaseFor(address, new IPNetwork(address, 32));
                TryRun("ip", ["link", "del", lease.HostVeth]);
                TryRun("nft", ["delete", "table", "ip", TableOf(lease)]);
            }
            File.Delete(file);
        }
    }

    private static void EnsureBridge(IPNetwork subnet)
    {
        var gateway = LeaseFor(subnet.BaseAddress, subnet).Gateway;
        if (TryRun("ip", ["-o", "-4", "addr", "show", "dev", Name], out string shown))
        {
            if (!shown.Contains($" {gateway}/{subnet.PrefixLength} ", StringComparison.Ordinal))
                throw Failure($"{Name} exists without {gateway}/{subnet.PrefixLength} (another --bridge-subnet is in use): wait for its sandboxes to end, or use the same subnet");
            return;
        }
        string forward = ReadForwarding();
        File.WriteAllText(Path.Join(LeaseDirectory, "ip_forward"), forward);
        Ip($"link add {Name} type bridge\naddr add {gateway}/{subnet.PrefixLength} dev {Name}\nlink set {Name} up\n");
        Nft(HostRuleset(subnet));
        // A published port reached from the host's 127.0.0.1 is DNAT'd onto the bridge with that source.
        File.WriteAllText($"/proc/sys/net/ipv4/conf/{Name}/route_localnet", "1");
        File.WriteAllText("/proc/sys/net/ipv4/ip_forward", "1");
    }

    private static void RemoveBridgeIfUnused()
    {
        if (Directory.EnumerateFiles(LeaseDirectory, "lease-*").Any())
            return;
        TryRun("ip", ["link", "del", Name]);
        TryRun("nft", ["delete", "table", "ip", Table]);
        string saved = Path.Join(LeaseDirectory, "ip_forward");
        if (File.Exists(saved))
        {
            File.WriteAllText("/proc/sys/net/ipv4/ip_forward", File.ReadAllText(saved));
            File.Delete(saved);
        }
    }

    private static string ReadForwarding()
    {
        try
        {
            return File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim();
        }
        catch (IOException)
        {
            return "0";
        }
    }

    private static SafeFd? Lock(string path, bool wait)
    {
        var fd = Interop.Interop.Open(path, Interop.Interop.O_RDWR | Interop.Interop.O_CREAT, 0x180);
        if (Interop.Interop.Flock(fd.Fd, Interop.Interop.LOCK_EX | (wait ? 0 : Interop.Interop.LOCK_NB)) == 0)
            return fd;
        fd.Dispose();
        return null;
    }

    private static void Ip(string batch) => Run("ip", ["-batch", "-"], batch);

    private static void Nft(string rules) => Run("nft", ["-f", "-"], rules);

    private static void Run(string tool, string[] args, string input)
    {
        string path = HostPrograms.Find(tool) ?? throw Failure($"--net bridge needs {tool} (Debian package {(tool == "ip" ? "iproute2" : "nftables")}): install it");
        var (code, output) = Exec(path, args, input);
        if (code != 0)
            throw Failure($"setting up the bridge: {tool}: {output.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim()}");
    }

    private static bool TryRun(string tool, string[] args) => TryRun(tool, args, out _);

    private static bool TryRun(string tool, string[] args, out string output)
    {
        output = "";
        if (HostPrograms.Find(tool) is not { } path)
            return false;
        (int code, output) = Exec(path, args, null);
        return code == 0;
    }

    private static (int Code, string Output) Exec(string path, string[] args, string? input)
    {
        var psi = new ProcessStartInfo(path) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (input is not null)
            p.StandardInput.Write(input);
        p.StandardInput.Close();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static uint ToUInt(IPAddress a)
    {
        byte[] b = a.GetAddressBytes();
        return (uint)b[0] << 24 | (uint)b[1] << 16 | (uint)b[2] << 8 | b[3];
    }

    private static IPAddress FromUInt(uint v) => new([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);

    private static SandboxSetupException Failure(string message) =>
        new(message, Errno.EIO) { Stage = SandboxSetupStage.Start, RoleOverride = SetupRole.NetworkHelper };
}
