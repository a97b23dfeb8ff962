using System.Runtime.InteropServices;

namespace Husk.Policy;

/// <summary>An architecture a seccomp filter is compiled for; every filter checks it first.</summary>
public enum SeccompArchitecture
{
    /// <summary>x86_64 (its x32 ABI is denied as a foreign ABI).</summary>
    X86_64,
    /// <summary>aarch64 (its 32-bit compat ABI is denied as a foreign architecture).</summary>
    Aarch64,
}

/// <summary>Facts about <see cref="SeccompArchitecture"/>.</summary>
public static class SeccompArchitectures
{
    /// <summary>AUDIT_ARCH_X86_64: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.</summary>
    public const uint AuditArchX86_64 = 0xC000003E;
    /// <summary>AUDIT_ARCH_AARCH64: EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.</summary>
    public const uint AuditArchAarch64 = 0xC00000B7;
    /// <summary>x32 system calls are x86_64 numbers with this bit set (__X32_SYSCALL_BIT).</summary>
    public const uint X32SyscallBit = 0x40000000;

    /// <summary>The architecture this process runs on.</summary>
    public static SeccompArchitecture Native => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => SeccompArchitecture.X86_64,
        Architecture.Arm64 => SeccompArchitecture.Aarch64,
        var other => throw new PlatformNotSupportedException($"seccomp filters are not built for {other}"),
    };

    /// <summary>The value seccomp_data.arch has for system calls of this architecture.</summary>
    public static uint AuditArch(this SeccompArchitecture arch) => arch switch
    {
        SeccompArchitecture.X86_64 => AuditArchX86_64,
        SeccompArchitecture.Aarch64 => AuditArchAarch64,
        _ => throw new ArgumentOutOfRangeException(nameof(arch)),
    };
}
