namespace Husk;

/// <summary>What one of the payload's standard descriptors (0, 1, 2) is connected to.</summary>
public enum StdioMode
{
    /// <summary>The caller's own descriptor (or what <see cref="SandboxSpec.Fds"/> maps there).</summary>
    Inherit,

    /// <summary>
    /// A pipe to the supervisor: <see cref="SandboxProcess.StandardInput"/>, <see cref="SandboxProcess.StandardOutput"/>
    /// or <see cref="SandboxProcess.StandardError"/>. Output through it is counted and held to the output limit.
    /// </summary>
    Pipe,

    /// <summary>/dev/null.</summary>
    Null,
}
