"""Build of the C extension (``setup.py`` only because setuptools takes C extensions from here)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "liveops_native",
            ["liveops_native.c"],
            # One build for every CPython >= 3.11 (the stable ABI).
            define_macros=[("Py_LIMITED_API", "0x030B0000")],
            py_limited_api=True,
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"],
        )
    ],
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
