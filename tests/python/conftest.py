"""Shared set-up for the tests of the Python package, its drop-in modules and the C ABI.

tests/run unpacks the wheel from artifacts/python into a directory of its own and runs these over
it, as nobody when started as root. Run by hand from a checkout (/usr/bin/python3 -m pytest
tests/python), they fall back to bindings/python over artifacts/lib.
"""

import os
import shutil
import sys
import uuid

import pytest

REPO = os.environ.get("HUSK_REPOSITORY") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.environ.get("HUSK_ARTIFACTS") or os.path.join(REPO, "artifacts")

try:
    import husk  # noqa: F401  (the installed wheel)
except ImportError:
    os.environ.setdefault("HUSK_LIBRARY", os.path.join(ARTIFACTS, "lib", "libhusk.so"))
    sys.path.insert(0, os.path.join(REPO, "bindings", "python"))


@pytest.fixture
def scratch():
    """A fresh directory a sandbox can see: not under /tmp, /var/tmp or /run, which husk run replaces."""
    # Root's home is 0700, and root's payload runs as a subordinate uid that could not enter it.
    home = os.environ.get("HOME", "")
    usable = os.getuid() != 0 and len(home) > 1 and not home.startswith("/tmp") and os.path.isdir(home)
    base = os.path.join(home, "scratch") if usable else "/var/lib/husk-test-scratch"
    os.makedirs(base, exist_ok=True)
    path = os.path.join(base, "py-" + uuid.uuid4().hex[:8])
    os.makedirs(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def repository():
    """The checkout (or tests/run's staged copy of what the tests read from it: docs/)."""
    return REPO


@pytest.fixture(scope="session")
def artifacts():
    return ARTIFACTS


@pytest.fixture(scope="session")
def cc():
    """gcc, or a skip saying it is missing."""
    path = shutil.which("gcc")
    if path is None:
        pytest.skip("gcc is not installed")
    return path
