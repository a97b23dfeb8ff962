namespace Husk.Network;

/// <summary>The bridge (<see cref="NetworkMode.Bridge"/>): filled in by the bridge's own commit.</summary>
internal static class Bridge
{
    public static void MoveIntoNamespace(BridgeLease lease, int pid) =>
        throw new NotSupportedException($"--net bridge is not available yet ({lease.Address}, {pid})");

    public static void Release(BridgeLease lease) => _ = lease;
}
