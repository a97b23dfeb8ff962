using System.Collections.Immutable;

namespace Husk;

/// <summary>A spec that cannot run, with every problem found.</summary>
public sealed class SandboxSpecException : Exception
{
    internal SandboxSpecException(IEnumerable<string> problems)
        : base(string.Join("; ", problems))
    {
        Problems = [.. problems];
    }

    /// <summary>Each problem as a sentence a user can act on.</summary>
    public ImmutableArray<string> Problems { get; }
}
