"""pyminisandbox.pyminisandbox: libmini-sandbox's build (loopback only, or the host's network)."""

from ._library import MiniSandbox, MiniSandboxErrors, is_platform_supported

__all__ = ["MiniSandboxErrors", "is_platform_supported"]

_build = MiniSandbox(tap_mode=False)
globals().update(_build.functions())
__all__ += sorted(_build.functions())
