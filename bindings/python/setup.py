"""Builds the wheel with the C library inside: ``pip install ./bindings/python`` (from a checkout
of the repository, which has the Rust workspace two levels up; there is no sdist)."""
import os

from setuptools import setup
from setuptools_rust import Binding, RustExtension, Strip

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "..", "..", "crates", "hostgate-ffi", "Cargo.toml")

setup(
    rust_extensions=[
        # No Python bindings in the library: cffi opens it in ABI mode (hostgate/__init__.py).
        # The file is hostgate/libhostgate.abi3.so: one wheel serves every CPython 3 because the
        # library does not use Python's C API at all.
        RustExtension(
            "hostgate.libhostgate",
            path=MANIFEST,
            binding=Binding.NoBinding,
            py_limited_api=True,
            debug=False,
            # The release profile keeps line tables for profiling; the wheel need not carry them.
            strip=Strip.Debug,
        )
    ],
    options={"bdist_wheel": {"py_limited_api": "cp38"}},
)
