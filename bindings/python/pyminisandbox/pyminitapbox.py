"""pyminisandbox.pyminitapbox: libmini-tapbox's build (the network through Husk's egress allowlist)."""

from ._library import MiniSandbox, MiniSandboxErrors, is_platform_supported

__all__ = ["MiniSandboxErrors", "is_platform_supported"]

_build = MiniSandbox(tap_mode=True)
globals().update(_build.functions())
__all__ += sorted(_build.functions())
