"""Build hook for the optional C accelerator of ``seccompat.raw`` (see _rawcall.c).

Without a working C compiler the package installs all the same and uses ctypes;
the build says so in one line instead of failing.
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that skips the accelerator, in one line, when it cannot be built."""

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, a missing compiler ...
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            print(f"seccompat: the C accelerator was not built ({reason}); "
                  "seccompat.raw uses ctypes, with the same answers", file=sys.stderr)

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler found at all
            print(f"seccompat: the C accelerator was not built ({exc}); "
                  "seccompat.raw uses ctypes, with the same answers", file=sys.stderr)


setup(
    ext_modules=[Extension("seccompat._rawcall", ["src/seccompat/_rawcall.c"])],
    cmdclass={"build_ext": OptionalBuildExt},
)
