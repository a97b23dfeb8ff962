using System.Collections.Immutable;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// A config mount's options, sorted the way runc sorts them: mount flags (ro, nosuid, noexec,
/// atime...), propagation, and the rest, which go to the filesystem as data ("mode=755").
/// The recursive forms (rro, rnosuid...) read as the plain ones: Husk's binds apply flags to
/// every mount below anyway.
/// </summary>
internal sealed record MountOptions
{
    public bool ReadOnly { get; init; }
    public bool NoSetuid { get; init; }
    public bool NoDevices { get; init; }
    public bool NoExec { get; init; }
    public bool NoSymlinks { get; init; }
    public AccessTime AccessTime { get; init; }
    public bool NoDirectoryAccessTime { get; init; }
    public ImmutableArray<string> Data { get; init; } = [];

    /// <summary>Flags the kernel reads itself when given as filesystem parameters.</summary>
    private static readonly string[] SuperblockFlags = ["sync", "dirsync", "lazytime", "mand"];

    /// <summary>Options that mean nothing to a new mount (the defaults they undo are Husk's anyway).</summary>
    private static readonly string[] Ignored = ["async", "nomand", "nolazytime", "loud", "silent", "defaults", "bind", "rbind", "iversion", "noiversion"];

    public static MountOptions Parse(OciMount m, List<string> warnings, List<string>? notes = null)
    {
        var o = new MountOptions();
        var data = ImmutableArray.CreateBuilder<string>();
        foreach (string raw in m.Options)
        {
            string opt = raw.Length > 1 && raw[0] == 'r' && IsFlag(raw[1..]) ? raw[1..] : raw;
            switch (opt)
            {
                case "ro": o = o with { ReadOnly = true }; break;
                case "rw": o = o with { ReadOnly = false }; break;
                case "nosuid": o = o with { NoSetuid = true }; break;
                case "suid": o = o with { NoSetuid = false }; break;
                case "nodev": o = o with { NoDevices = true }; break;
                case "dev": o = o with { NoDevices = false }; break;
                case "noexec": o = o with { NoExec = true }; break;
                case "exec": o = o with { NoExec = false }; break;
                case "nosymfollow": o = o with { NoSymlinks = true }; break;
                case "symfollow": o = o with { NoSymlinks = false }; break;
                case "noatime": o = o with { AccessTime = AccessTime.None }; break;
                case "strictatime": o = o with { AccessTime = AccessTime.Strict }; break;
                case "relatime" or "atime" or "norelatime" or "nostrictatime": o = o with { AccessTime = AccessTime.Relative }; break;
                case "nodiratime": o = o with { NoDirectoryAccessTime = true }; break;
                case "diratime": o = o with { NoDirectoryAccessTime = false }; break;
                case "private" or "rprivate":
                    break; // Husk's mounts are private to the container already
                case "shared" or "rshared" or "slave" or "rslave" or "unbindable" or "runbindable":
                    warnings.Add($"{m.Where}.options: \"{raw}\": per-mount propagation is not supported; the mount is private (linux.rootfsPropagation sets it for all)");
                    break;
                case "remount":
                    warnings.Add($"{m.Where}.options: \"remount\" is ignored: the mount is made with its options");
                    break;
                case "tmpcopyup":
                    // podman asks it for /dev, /run, /tmp..., which images hardly ever fill.
                    notes?.Add($"{m.Where}.options: \"tmpcopyup\" is not supported: the tmpfs starts empty");
                    break;
                case "idmap" or "ridmap":
                    throw new OciConfigException($"{m.Where}.options: \"{raw}\": idmapped mounts are not supported by husk-runtime");
                case var _ when SuperblockFlags.Contains(opt):
                    data.Add(opt);
                    break;
                case var _ when Ignored.Contains(opt):
                    break;
                default:
                    if (opt.Length == 0 || opt[0] is '@' or '%' or '+')
                        throw new OciConfigException($"{m.Where}.options: \"{raw}\" is not a mount option");
                    data.Add(opt);
                    break;
            }
        }
        return o with { Data = data.ToImmutable() };
    }

    private static bool IsFlag(string s) => s is "ro" or "rw" or "nosuid" or "suid" or "nodev" or "dev" or "noexec" or "exec" or "atime" or "noatime"
        or "diratime" or "nodiratime" or "relatime" or "norelatime" or "strictatime" or "nostrictatime" or "nosymfollow" or "symfollow";
}
