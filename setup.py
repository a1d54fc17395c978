"""Build hook for the optional C accelerator of ``seccompat.raw`` (see _rawcall.c).

``optional=True``: without a compiler the package installs and uses ctypes.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("seccompat._rawcall", ["src/seccompat/_rawcall.c"], optional=True),
    ]
)
