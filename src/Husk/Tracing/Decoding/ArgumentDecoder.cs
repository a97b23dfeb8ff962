using System.Globalization;

namespace Husk.Tracing;

/// <summary>
/// Decodes a call's arguments by their kinds: inputs at entry (before the call can change what
/// they point to), outputs once it returned (when it failed, their addresses).
/// </summary>
internal static class ArgumentDecoder
{
    /// <summary>The inputs of <paramref name="signature"/>, into <paramref name="into"/>; outputs stay null.</summary>
    public static void DecodeInputs(SyscallSignature signature, ReadOnlySpan<ulong> args, ITraceeMemory memory, SyscallArgument?[] into)
    {
        for (int i = 0; i < signature.Arguments.Length && i < args.Length; i++)
        {
            var kind = signature.Arguments[i];
            if (!SyscallSignature.IsOutput(kind))
                into[i] = Decode(kind, i, args, memory, 0, false);
        }
    }

    /// <summary>The outputs of <paramref name="signature"/>, once the call returned <paramref name="returned"/>.</summary>
    public static void DecodeOutputs(SyscallSignature signature, ReadOnlySpan<ulong> args, long returned, bool failed, ITraceeMemory memory, SyscallArgument?[] into)
    {
        for (int i = 0; i < signature.Arguments.Length && i < args.Length; i++)
        {
            var kind = signature.Arguments[i];
            if (SyscallSignature.IsOutput(kind))
                into[i] = Decode(kind, i, args, memory, returned, failed);
        }
    }

    /// <summary>Whether argument <paramref name="index"/> is shown: open's mode only when its flags create a file.</summary>
    public static bool Shown(ArgumentKind kind, int index, ReadOnlySpan<ulong> args) =>
        kind != ArgumentKind.OpenMode || index == 0 || (args[index - 1] & 0x40) != 0 || (args[index - 1] & 0x400000) != 0;

    /// <summary>Argument <paramref name="index"/> of <paramref name="args"/> as <paramref name="kind"/>.</summary>
    public static SyscallArgument Decode(ArgumentKind kind, int index, ReadOnlySpan<ulong> args, ITraceeMemory memory, long returned, bool failed)
    {
        ulong raw = args[index];
        ulong next = index + 1 < args.Length ? args[index + 1] : 0;
        SyscallArgument Text(string text) => new(raw, text);
        if (failed && SyscallSignature.IsOutput(kind))
            return Text(raw == 0 ? "NULL" : StringDecoder.Hex(raw));
        return kind switch
        {
            ArgumentKind.Int or ArgumentKind.Fd => Text(((int)raw).ToString(CultureInfo.InvariantCulture)),
            ArgumentKind.Long => Text(((long)raw).ToString(CultureInfo.InvariantCulture)),
            ArgumentKind.Size => Text(raw.ToString(CultureInfo.InvariantCulture)),
            ArgumentKind.Hex => Text(raw == 0 ? "0" : StringDecoder.Hex(raw)),
            ArgumentKind.Pointer => Text(raw == 0 ? "NULL" : StringDecoder.Hex(raw)),
            ArgumentKind.DirFd => Text((int)raw == -100 ? "AT_FDCWD" : ((int)raw).ToString(CultureInfo.InvariantCulture)),
            ArgumentKind.Path => StringDecoder.Path(memory, raw),
            ArgumentKind.Buffer => StringDecoder.Data(memory, raw, (long)next),
            ArgumentKind.OutBuffer => StringDecoder.Data(memory, raw, Math.Min(returned, (long)next)),
            ArgumentKind.OutPath => OutPath(memory, raw, returned),
            ArgumentKind.OutString => StringDecoder.Path(memory, raw),
            ArgumentKind.Argv => StringDecoder.Argv(memory, raw),
            ArgumentKind.Environment => StringDecoder.Environment(memory, raw),
            ArgumentKind.OpenFlags => Text(FlagTables.Open.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.Mode or ArgumentKind.OpenMode => Text(ModeDecoder.Octal(raw & 0xFFFFFFFF)),
            ArgumentKind.FileMode => Text(ModeDecoder.WithType(raw & 0xFFFFFFFF)),
            ArgumentKind.AtFlags => Text(FlagTables.At.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.AccessMode => Text(FlagTables.Access.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.Protection => Text(FlagTables.Protection.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.MmapFlags => Text(FlagTables.Mmap.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.CloneFlags => Text(FlagTables.Clone.Decode(raw)),
            ArgumentKind.Signal => Text((int)raw == 0 ? "0" : SignalDecoder.Name((int)raw)),
            ArgumentKind.SignalSet or ArgumentKind.OutSignalSet => SignalDecoder.SetAt(memory, raw),
            ArgumentKind.Sockaddr => SockaddrDecoder.At(memory, raw, (long)(next & 0xFFFFFFFF)),
            ArgumentKind.OutSockaddr => OutSockaddr(memory, raw, next),
            ArgumentKind.OutLength => SockaddrDecoder.Length(memory, raw),
            ArgumentKind.Family => Text(FlagTables.Family.Decode((int)raw)),
            ArgumentKind.SocketType => Text(FlagTables.SocketType.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.OutStat => StatDecoder.StatAt(memory, raw, failed),
            ArgumentKind.OutStatx => StatDecoder.StatxAt(memory, raw, failed),
            ArgumentKind.Whence => Text(FlagTables.Whence.Decode((int)raw)),
            ArgumentKind.FcntlCommand => Text(FlagTables.Fcntl.Decode((int)raw)),
            ArgumentKind.IoctlRequest => Text(FlagTables.Ioctl.Decode((long)(raw & 0xFFFFFFFF), hex: true)),
            ArgumentKind.OutWaitStatus => WaitStatusDecoder.At(memory, raw, returned),
            ArgumentKind.WaitOptions => Text(FlagTables.Wait.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.OutFdPair => FdPair(memory, raw),
            ArgumentKind.Timespec or ArgumentKind.OutTimespec => TimespecDecoder.At(memory, raw),
            ArgumentKind.Clock => Text(FlagTables.Clock.Decode((int)raw)),
            ArgumentKind.PrctlOption => Text(FlagTables.Prctl.Decode((int)raw)),
            ArgumentKind.ArchPrctlCode => Text(FlagTables.ArchPrctl.Decode((int)raw, hex: true)),
            ArgumentKind.Resource => Text(FlagTables.Resource.Decode((int)raw)),
            ArgumentKind.RenameFlags => Text(FlagTables.Rename.Decode(raw & 0xFFFFFFFF)),
            ArgumentKind.SocketLevel => Text(FlagTables.SocketLevel.Decode((int)raw)),
            ArgumentKind.SigprocmaskHow => Text(FlagTables.SigprocmaskHow.Decode((int)raw)),
            ArgumentKind.ShutdownHow => Text(FlagTables.ShutdownHow.Decode((int)raw)),
            ArgumentKind.FutexOp => Text(FlagTables.Futex(raw & 0xFFFFFFFF)),
            _ => Text(StringDecoder.Hex(raw)),
        };
    }

    private static SyscallArgument OutPath(ITraceeMemory memory, ulong address, long returned)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        var bytes = returned > 0 ? memory.ReadExactly(address, (int)Math.Min(returned, StringDecoder.PathLimit)) : [];
        if (bytes is null)
            return new SyscallArgument(address, StringDecoder.Hex(address));
        return new SyscallArgument(address, StringDecoder.Quote(bytes)) { Value = System.Text.Encoding.UTF8.GetString(bytes) };
    }

    private static SyscallArgument OutSockaddr(ITraceeMemory memory, ulong address, ulong lengthPointer)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        long length = lengthPointer != 0 && memory.ReadValue<uint>(lengthPointer) is { } n ? n : 0;
        return SockaddrDecoder.At(memory, address, length);
    }

    private static SyscallArgument FdPair(ITraceeMemory memory, ulong address)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        return memory.ReadValue<ulong>(address) is { } pair
            ? new SyscallArgument(address, $"[{(int)pair}, {(int)(pair >> 32)}]")
            : new SyscallArgument(address, StringDecoder.Hex(address));
    }

    /// <summary>
    /// A return value as strace shows it: 3, 0x7f..., 022, ?, -1 ENOENT (No such file or
    /// directory), ? ERESTARTSYS (To be restarted if SA_RESTART is set).
    /// </summary>
    public static string Return(ReturnKind kind, long? value, int? errno)
    {
        if (errno is { } e)
            return ErrnoText.IsRestart(e)
                ? $"? {ErrnoText.Name(e)} ({ErrnoText.Message(e)})"
                : $"-1 {ErrnoText.Name(e)} ({ErrnoText.Message(e)})";
        if (value is not { } v || kind == ReturnKind.None)
            return "?";
        return kind switch
        {
            ReturnKind.Hex => StringDecoder.Hex((ulong)v),
            ReturnKind.Octal => ModeDecoder.Octal((ulong)v),
            _ => v.ToString(CultureInfo.InvariantCulture),
        };
    }
}
