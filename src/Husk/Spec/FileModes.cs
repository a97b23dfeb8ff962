namespace Husk;

/// <summary>
/// The permission modes Husk uses by name. Written as binary literals grouped rwx|rwx|rwx, so that
/// <c>0b111_101_101</c> reads as rwxr-xr-x (C#'s missing octal).
/// </summary>
public static class FileModes
{
    /// <summary>rwxr-xr-x (0755): directories, executables.</summary>
    public const UnixFileMode Directory = (UnixFileMode)0b111_101_101;
    /// <summary>rwx------ (0700): private directories.</summary>
    public const UnixFileMode Private = (UnixFileMode)0b111_000_000;
    /// <summary>rw-r--r-- (0644): files.</summary>
    public const UnixFileMode File = (UnixFileMode)0b110_100_100;
    /// <summary>rw-rw-rw- (0666): files before the umask.</summary>
    public const UnixFileMode ReadWriteAll = (UnixFileMode)0b110_110_110;
    /// <summary>rwxrwxrwt (01777): /tmp.</summary>
    public const UnixFileMode SharedSticky = (UnixFileMode)0b111_111_111 | UnixFileMode.StickyBit;
    /// <summary>r-------- (0400): an unreadable stand-in for a hidden file.</summary>
    public const UnixFileMode OwnerRead = UnixFileMode.UserRead;
}
