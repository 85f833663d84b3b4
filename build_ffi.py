"""Builds fluxmq._native from csrc/ with cffi (API mode, out of line).

csrc/include/fluxmq.h is both the cdef cffi parses and the header the C files
include, so the two can never disagree.
"""

import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "csrc", "include", "fluxmq.h")


def _cdef_text() -> str:
    with open(HEADER, encoding="utf-8") as f:
        return f.read()


ffibuilder = FFI()
ffibuilder.cdef(_cdef_text())
ffibuilder.set_source(
    "fluxmq._native",
    '#include <stdint.h>\n#include <stddef.h>\n#include "fluxmq.h"\n',
    sources=sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, "csrc", "*.c"))),
    include_dirs=[os.path.join("csrc", "include")],
    extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
    libraries=["ssl", "crypto"],  # OpenSSL (libssl-dev): TLS listeners, csrc/tls.c
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
