using System.Collections.Immutable;
using Husk.Interop;

namespace Husk.Images;

/// <summary>
/// An image ready to be a sandbox's root: its layers unpacked in the cache and locked for as long
/// as this lives (dispose it when the sandbox is gone), its config's defaults for the run.
/// </summary>
internal sealed class PreparedImage : IDisposable
{
    /// <summary>overlayfs stacks at most this many lower layers (OVL_MAX_STACK).</summary>
    public const int MaxLayers = 500;

    private readonly List<SafeFd> _locks;

    internal PreparedImage(ResolvedImage image, ImmutableArray<string> lowers, IReadOnlyList<LayerRecord> layers, List<SafeFd> locks)
    {
        _locks = locks;
        Image = image;
        Lowers = lowers;
        Layers = layers;
        if (lowers.Length > MaxLayers)
        {
            Dispose();
            throw new ImageException(image.Reference, $"{lowers.Length} layers: overlayfs stacks at most {MaxLayers}");
        }
        User = ImageUser.Resolve(image.Reference, image.Config.Config?.User, lowers);
    }

    /// <summary>The image as read.</summary>
    public ResolvedImage Image { get; }

    /// <summary>The layers' trees in the cache, bottom first: the overlay's lower directories.</summary>
    public ImmutableArray<string> Lowers { get; }

    /// <summary>What unpacking found in each layer, in the order of <see cref="Lowers"/>.</summary>
    public IReadOnlyList<LayerRecord> Layers { get; }

    /// <summary>The config's user, resolved in the image.</summary>
    public ImageUser User { get; }

    /// <summary>The search path a container gets when the image sets none (runc's and podman's).</summary>
    public const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// <paramref name="spec"/> with the image's defaults where it says nothing: the command is the
    /// entrypoint followed by the spec's command, or by the config's Cmd when the spec has none;
    /// the environment is the config's with the spec's entries over it (PATH and HOME when neither
    /// sets them); the working directory and the user are the config's unless the spec names them.
    /// </summary>
    public SandboxSpec Apply(SandboxSpec spec, ImageFileSystem fs)
    {
        var run = Image.Config.Config;
        var entrypoint = fs.Entrypoint ?? [.. run?.Entrypoint ?? []];
        var args = spec.Command.IsDefaultOrEmpty ? [.. run?.Cmd ?? []] : spec.Command;
        ImmutableArray<string> command = [.. entrypoint, .. args];
        if (command.IsEmpty || command[0].Length == 0)
            throw new SandboxSpecException([$"image {Image.Reference} names no command (its config has neither Entrypoint nor Cmd): give one"]);
        var env = new List<string>(run?.Env ?? []);
        foreach (string entry in spec.Environment)
        {
            string name = entry.Split('=', 2)[0];
            env.RemoveAll(e => e.Split('=', 2)[0] == name);
            env.Add(entry);
        }
        if (!env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal)))
            env.Add("PATH=" + DefaultPath);
        uint uid = spec.Identity.Uid ?? User.Uid;
        if (!env.Any(e => e.StartsWith("HOME=", StringComparison.Ordinal)))
            env.Add("HOME=" + (uid == User.Uid ? User.Home : "/"));
        return spec with
        {
            Command = command,
            Environment = [.. env],
            WorkingDirectory = spec.WorkingDirectory ?? (run?.WorkingDir is { Length: > 0 } wd ? wd : "/"),
            Identity = spec.Identity with { Uid = uid, Gid = spec.Identity.Gid ?? User.Gid },
        };
    }

    /// <summary>
    /// What the sandbox shows otherwise than the image says, as lines for the caller: owners an
    /// unprivileged cache could not keep (its files are the caller's, so inside they belong to
    /// whoever the caller is mapped to, <paramref name="uid"/>), device nodes left out.
    /// </summary>
    public IEnumerable<string> Notes(uint uid)
    {
        if (!Layers.All(l => l.OwnersKept))
        {
            int others = Layers.Sum(l => l.OtherOwners);
            if (uid != 0)
                yield return $"husk: image {Image.Reference}: its files show as owned by uid {uid}, who runs it: unpacked without root, the cache cannot keep root or other owners";
            else if (others > 0)
                yield return $"husk: image {Image.Reference}: {others} entries owned by users other than root show as root's: unpacked without root, the cache cannot keep their owners";
        }
        int devices = Layers.Sum(l => l.DevicesSkipped);
        if (devices > 0)
            yield return $"husk: image {Image.Reference}: {devices} device nodes of the image were not made (the sandbox has its own /dev)";
    }

    public void Dispose()
    {
        foreach (var fd in _locks)
            fd.Dispose();
        _locks.Clear();
    }
}
