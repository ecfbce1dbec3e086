"""Finds and imports the compiled `_hvsim` module (built by CMake into build/python)."""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("HVSIM_BUILD_DIR", os.path.join(_ROOT, "build"))
GUEST_DIR = os.path.join(BUILD_DIR, "guest")

try:
    import _hvsim as native  # noqa: F401  (already on sys.path, e.g. via PYTHONPATH)
except ImportError:
    sys.path.insert(0, os.path.join(BUILD_DIR, "python"))
    try:
        import _hvsim as native  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "hvsim's native module is not built (looked in %s/python): run ./hvsim build"
            % BUILD_DIR) from e


def guest_program(name):
    """Path of a guest-kit program built by the build (e.g. 'hello' -> build/guest/hello.elf)."""
    path = os.path.join(GUEST_DIR, name + ".elf")
    if not os.path.exists(path):
        raise FileNotFoundError("guest program %r not built (expected %s): run ./hvsim build"
                                % (name, path))
    return path
