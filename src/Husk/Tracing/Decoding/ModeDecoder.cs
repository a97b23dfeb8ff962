using System.Globalization;

namespace Husk.Tracing;

/// <summary>File modes as strace prints them: 0644, and S_IFREG|0644 where the type is part of it.</summary>
internal static class ModeDecoder
{
    private static readonly (uint Type, string Name)[] Types =
    [
        (0xC000, "S_IFSOCK"), (0xA000, "S_IFLNK"), (0x8000, "S_IFREG"), (0x6000, "S_IFBLK"),
        (0x4000, "S_IFDIR"), (0x2000, "S_IFCHR"), (0x1000, "S_IFIFO"),
    ];

    /// <summary>The permission bits in octal with a leading 0 (0755, 04755).</summary>
    public static string Permissions(ulong mode) => "0" + Convert.ToString((long)(mode & 0xFFF), 8).PadLeft(3, '0');

    /// <summary>The type and permissions: S_IFDIR|0755; the permissions alone when there is no type.</summary>
    public static string WithType(ulong mode)
    {
        uint type = (uint)mode & 0xF000;
        string perms = Permissions(mode);
        if (type == 0)
            return perms;
        string? name = Types.FirstOrDefault(t => t.Type == type).Name;
        return (name ?? "0" + Convert.ToString(type, 8)) + "|" + perms;
    }

    public static string Octal(ulong value) => value == 0 ? "0" : "0" + Convert.ToString((long)value, 8);

    internal static string Decimal(long value) => value.ToString(CultureInfo.InvariantCulture);
}
