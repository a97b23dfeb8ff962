namespace Husk.Tests;

/// <summary>
/// Tests that count the test process's own descriptors or read the host's mount table run alone:
/// other test classes running sandboxes in parallel open and close descriptors meanwhile.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideState
{
    public const string Name = "process-wide state";
}
