"""mini-sandbox's Python API (pyminisandbox 1.1.x) on Husk.

    import pyminisandbox.pyminisandbox as mn_sbx
    mn_sbx.mini_sandbox_setup_default()
    mn_sbx.mini_sandbox_start()
    # from here on this program runs inside the sandbox

``pyminisandbox.pyminisandbox`` is libmini-sandbox's build (``mini_sandbox_share_network``),
``pyminisandbox.pyminitapbox`` libmini-tapbox's (``mini_sandbox_allow_*``: Husk's egress
allowlist). Both are ctypes over Husk's libmini-sandbox.so and libmini-tapbox.so, which run on
libhusk.so; see docs/compat-mini-sandbox.md for what differs from mini-sandbox.
"""
