using System.Net;

namespace Husk.Network;

/// <summary>
/// One sandbox's place on the bridge: its address, the veth pair's names, and the lock file that
/// holds the address while the sandbox runs (a lease whose lock nobody holds is stale).
/// </summary>
internal sealed record BridgeLease(string HostVeth, string SandboxVeth, IPAddress Address, int PrefixLength, IPAddress Gateway)
{
    /// <summary>What <c>ip -batch</c> runs in the sandbox's namespace once the supervisor moved the veth there.</summary>
    public string InsideCommands() =>
        $"link set dev {SandboxVeth} name eth0\naddr add {Address}/{PrefixLength} dev eth0\nlink set eth0 up\nroute add default via {Gateway}\n";
}
