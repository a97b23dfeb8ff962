namespace Husk.Tests;

/// <summary>
/// Tests that look at process-wide state (open descriptors, the host's mount table) run alone:
/// other test classes start sandboxes in parallel, opening and closing descriptors meanwhile.
/// </summary>
[CollectionDefinition(ProcessWideState, DisableParallelization = true)]
public sealed class ProcessWideStateCollection
{
    public const string ProcessWideState = "process-wide state";
}
