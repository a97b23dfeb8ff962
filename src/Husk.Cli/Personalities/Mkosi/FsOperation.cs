using System.Collections.Immutable;
using System.Text;

namespace Husk.Cli.Personalities.Mkosi;

/// <summary>
/// One filesystem option of mkosi-sandbox, as parsed: paths are already absolute. The ordering
/// model (<see cref="FsOrdering"/>) sorts these; each then expands into the engine's mount ops.
/// </summary>
internal abstract record FsOperation(string Destination)
{
    /// <summary>A bind whose source is looked up in the sandbox (the <c>+</c> prefix): these go last.</summary>
    public virtual bool Relative => false;

    /// <summary>The line --debug prints for this operation.</summary>
    public abstract string Describe();

    /// <summary>The engine ops that carry this operation out, in order.</summary>
    public abstract IEnumerable<MountOp> Expand(ExpandContext context);

    /// <summary>mkosi-sandbox makes */tmp and */var/tmp world-writable and sticky.</summary>
    protected static bool IsTemporaryDirectory(string path) => path.EndsWith("/tmp", StringComparison.Ordinal);

    protected const int DirMode = 0x1ED;      // 0755
    protected const int StickyMode = 0x3FF;   // 01777
}

/// <summary>What expanding needs from the caller's side.</summary>
internal sealed record ExpandContext(uint Umask, string? Tty);

internal sealed record BindOperation(string Source, string Destination) : FsOperation(Destination)
{
    public bool ReadOnly { get; init; }
    public bool Required { get; init; } = true;
    public bool Foreign { get; init; }
    public bool SourceInSandbox { get; init; }
    public bool NoFollow { get; init; }

    public override bool Relative => SourceInSandbox;

    /// <summary>Two binds are the same when these agree (mkosi leaves the source root and foreign out).</summary>
    public (string, string, bool, bool, bool) Identity =>
        (string.Join('/', PythonPath.Split(Source)), string.Join('/', PythonPath.Split(Destination)), ReadOnly, Required, NoFollow);

    public override string Describe()
    {
        var flags = new List<string>();
        if (ReadOnly)
            flags.Add("readonly");
        if (!Required)
            flags.Add("optional");
        if (Foreign)
            flags.Add("foreign");
        if (SourceInSandbox)
            flags.Add("relative");
        if (NoFollow)
            flags.Add("nofollow");
        return $"bind {Source} -> {Destination}" + (flags.Count > 0 ? $" [{string.Join(", ", flags)}]" : "");
    }

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        yield return new BindMount(Source, Destination)
        {
            ReadOnly = ReadOnly,
            Optional = !Required,
            NoFollow = NoFollow,
            SourceRoot = SourceInSandbox ? SourceRoot.Sandbox : SourceRoot.Host,
            // mkosi-sandbox adds no flags of its own: devices and setuid work as on the source.
            Devices = true,
            AllowSetuid = true,
            OntoSymlink = true,
        };
    }
}

internal sealed record DevOperation(string Destination, string? Tty) : FsOperation(Destination)
{
    private static readonly string[] Nodes = ["null", "zero", "full", "random", "urandom", "tty"];

    public override string Describe() => $"dev at {Destination}" + (Tty is { Length: > 0 } ? $" (tty={Tty})" : "");

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        string At(string name) => PythonPath.Join(Destination, name);
        yield return new TmpfsMount(Destination) { Mode = (UnixFileMode)(DirMode), Devices = true, AllowSetuid = true };
        foreach (string node in Nodes)
            yield return new BindMount("/dev/" + node, At(node)) { Devices = true, AllowSetuid = true };
        yield return new BindMount("/dev/fuse", At("fuse")) { Devices = true, AllowSetuid = true, Optional = true };
        string[] stdio = ["stdin", "stdout", "stderr"];
        for (int i = 0; i < stdio.Length; i++)
            yield return new MakeSymlink($"/proc/self/fd/{i}", At(stdio[i]));
        yield return new MakeSymlink("/proc/self/fd", At("fd"));
        yield return new MakeSymlink("/proc/kcore", At("core"));
        // A plain sticky directory, not a tmpfs of its own.
        yield return new MakeDirectory(At("shm")) { Mode = (UnixFileMode)(StickyMode) };
        yield return new MakeDirectory(At("pts")) { Mode = (UnixFileMode)(DirMode) };
        yield return new FilesystemMount("devpts", At("pts"))
        {
            Options = ["newinstance", "ptmxmode=0666", "mode=620"],
            Devices = true,
            AllowSetuid = true,
        };
        yield return new MakeSymlink("pts/ptmx", At("ptmx"));
        if (Tty is { Length: > 0 } tty)
            yield return new BindMount(tty, At("console")) { Devices = true, AllowSetuid = true };
    }
}

internal sealed record TmpfsOperation(string Destination) : FsOperation(Destination)
{
    public override string Describe() => $"tmpfs at {Destination}";

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        yield return new TmpfsMount(Destination)
        {
            Mode = (UnixFileMode)(IsTemporaryDirectory(Destination) ? StickyMode : DirMode),
            Devices = true,
            AllowSetuid = true,
        };
    }
}

/// <summary>
/// --proc DST, mkosi-sandbox's option in mkosi 25 and 26, dropped since for <c>--bind /proc DST</c>: the
/// host's /proc bound (recursively) on DST, its missing directories made 0755. It is not a bind in
/// the ordering model: it keeps its place among the other operations on the same destination and
/// is never dropped as covered by another bind.
/// </summary>
internal sealed record ProcOperation(string Destination) : FsOperation(Destination)
{
    public override string Describe() => $"proc at {Destination}";

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        yield return new BindMount("/proc", Destination) { Devices = true, AllowSetuid = true };
    }
}

internal sealed record DirOperation(string Destination) : FsOperation(Destination)
{
    public override string Describe() => $"mkdir {Destination}";

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        yield return new MakeDirectory(Destination) { Mode = (UnixFileMode)(IsTemporaryDirectory(Destination) ? StickyMode : DirMode) };
    }
}

internal sealed record SymlinkOperation(string Target, string Destination) : FsOperation(Destination)
{
    public override string Describe() => $"symlink {Destination} -> {Target}";

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        yield return new MakeSymlink(Target, Destination) { CreateParents = false, Overmount = true };
    }
}

internal sealed record WriteOperation(string Data, string Destination) : FsOperation(Destination)
{
    /// <summary>mkosi counts characters (code points), not bytes.</summary>
    public override string Describe() => $"write {Data.EnumerateRunes().Count()} bytes to {Destination}";

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        // Created like open(path, "wb"): 0666 less the caller's umask.
        yield return new WriteFile(Destination)
        {
            Data = [.. Encoding.UTF8.GetBytes(Data)],
            Mode = FileModes.ReadWriteAll & ~(UnixFileMode)context.Umask,
        };
    }
}

internal sealed record OverlayOperation(ImmutableArray<string> Lowers, string Upper, string Work, string Destination) : FsOperation(Destination)
{
    /// <summary>The upper directory value that asks for a fresh tmpfs.</summary>
    public const string TmpfsUpper = "tmpfs";

    private static readonly ImmutableArray<string> Options = ["userxattr", "index=off", "metacopy=off", "source=overlayfs"];

    /// <summary>Top layer first, as mkosi prints it (the lowers are kept in the order given).</summary>
    public override string Describe() =>
        $"overlay at {Destination} (lowers=[{string.Join(", ", Lowers.Reverse())}], upper={(Upper.Length > 0 ? Upper : "-")})";

    public override IEnumerable<MountOp> Expand(ExpandContext context)
    {
        if (Upper == TmpfsUpper)
        {
            // A tmpfs on the destination holds upper/ and work/; the overlay then covers it.
            string upper = PythonPath.Join(Destination, "upper"), work = PythonPath.Join(Destination, "work");
            yield return new TmpfsMount(Destination) { Mode = (UnixFileMode)(DirMode), Devices = true, AllowSetuid = true };
            yield return new MakeDirectory(upper) { Mode = (UnixFileMode)(IsTemporaryDirectory(Destination) ? StickyMode : DirMode) };
            yield return new MakeDirectory(work) { Mode = (UnixFileMode)(DirMode) };
            yield return new OverlayMount(Destination, Lowers)
            {
                Kind = OverlayKind.Persistent,
                Upper = upper,
                Work = work,
                UpperRoot = SourceRoot.Sandbox,
                Options = Options,
            };
        }
        else if (Upper.Length > 0)
        {
            yield return new OverlayMount(Destination, Lowers)
            {
                Kind = OverlayKind.Persistent,
                Upper = Upper,
                Work = Work.Length > 0 ? Work : null,
                Options = Options,
            };
        }
        else
        {
            yield return new OverlayMount(Destination, Lowers) { Kind = OverlayKind.ReadOnly, Options = Options };
        }
    }
}
