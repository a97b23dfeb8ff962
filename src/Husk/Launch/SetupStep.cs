namespace Husk;

/// <summary>Which part of a setup operation failed (HUSK_STEP_* of the native stage).</summary>
public enum SetupStep
{
    /// <summary>The operation as a whole.</summary>
    None = 0,
    /// <summary>Finding its source.</summary>
    Source = 1,
    /// <summary>Creating or opening its destination.</summary>
    Destination = 2,
    /// <summary>Creating the destination's missing parent directories.</summary>
    Parents = 3,
    /// <summary>The mount itself.</summary>
    Mount = 4,
    /// <summary>Setting the mount's attributes (read-only, nosuid, nodev).</summary>
    Attributes = 5,
    /// <summary>Writing the data.</summary>
    Data = 6,
    /// <summary>A mount option (see <see cref="SandboxSetupException.Option"/>).</summary>
    Option = 7,
    /// <summary>Something different is already there (see <see cref="SandboxSetupException.Detail"/>).</summary>
    Exists = 8,
    /// <summary>What was mounted is not what was meant: it was replaced meanwhile.</summary>
    Race = 9,
    /// <summary>Refusing to mount outside a new mount namespace.</summary>
    Namespace = 10,
    /// <summary>Starting husk-init.</summary>
    Init = 11,
}
