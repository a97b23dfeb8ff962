using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Serialization;

namespace Husk.Cli.Profiles;

/// <summary>Source-generated TOML metadata (NativeAOT: no reflection): profiles are read as tables, with the position of every key.</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class TomlContext : TomlSerializerContext
{
    public TomlContext(TomlSerializerOptions options)
        : base(options)
    {
    }
}
