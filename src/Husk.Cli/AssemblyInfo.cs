using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Husk.Tests")]
[assembly: DisableRuntimeMarshalling]
