using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// The supervisor's side of <see cref="IdmappedLayers"/>: detached clones of host directories,
/// idmapped with the child's user namespace once its maps are written, sent to the child in plan
/// order. A directory that cannot be cloned is sent as its errno (a vanished optional layer is
/// skipped). A lower layer on a filesystem without idmapped mounts is sent as a plain clone: its
/// root-owned files then stay the overflow id (nobody) inside, as without idmapping. The layer
/// (upper and work) must be idmapped, or copy-up would write ids the payload cannot use.
/// </summary>
internal sealed class IdmappedViews : IDisposable
{
    private readonly List<(SafeFd? Tree, int Error)> _views = [];

    private IdmappedViews()
    {
    }

    public static IdmappedViews Make(IReadOnlyList<IdmappedSource> sources, int pid)
    {
        var views = new IdmappedViews();
        if (sources.Count == 0)
            return views;
        try
        {
            using var userns = Open($"/proc/{pid}/ns/user", O_RDONLY);
            foreach (var source in sources)
            {
                int error = OpenTreeClone(source.Path, recursive: source.Writable, out var tree);
                if (tree is not null)
                {
                    int idmap = SetIdmap(tree, userns);
                    if (idmap != 0 && source.Writable)
                    {
                        tree.Dispose();
                        throw new SandboxSetupException(
                            $"husk: idmapping the sandbox's layer {source.Path} failed: {SyscallException.Describe((Errno)idmap)} " +
                            "(its filesystem may not support idmapped mounts: keep the root on ext4, xfs, btrfs or tmpfs)", (Errno)idmap)
                        { Stage = SandboxSetupStage.IdMapping };
                    }
                }
                views._views.Add((tree, error));
            }
            return views;
        }
        catch
        {
            views.Dispose();
            throw;
        }
    }

    /// <summary>Sends every view (or its errno) on the channel, after the go byte: the child's attach ops read them in order.</summary>
    public void Send(int channel)
    {
        Span<byte> message = stackalloc byte[24]; // a husk_report: kind, op, step, error, value
        foreach (var (tree, error) in _views)
        {
            message.Clear();
            MemoryMarshal.Write(message[12..], error);
            // A child that already failed reports that on the channel; a send it no longer reads changes nothing.
            if (SendWithDescriptor(channel, message, tree?.Fd ?? -1) != 0)
                return;
        }
    }

    public void Dispose()
    {
        foreach (var (tree, _) in _views)
            tree?.Dispose();
        _views.Clear();
    }
}
