# How this module was really compiled, from the compiler's own macros (plus the
# configuration tag setup.py passes in), so that `cconv info` can tell a stale or mixed
# build: include it in every compiled module (it also defines openmp_compiled()).
cdef extern from "build_info.h":
    const char* CCONV_BUILD_TAG
    const int CCONV_BUILD_OPENMP
    const int CCONV_BUILD_ASAN
    const int CCONV_BUILD_OPTIMIZED
    const int CCONV_BUILD_DEBUG


def build_info():
    """This module's build: ``openmp`` (``_OPENMP`` was defined), ``asan``, ``optimized``
    (``__OPTIMIZE__``), ``debug`` (the CCONV_DEBUG build: Cython's bounds checks on) and
    ``tag`` (the build configuration setup.py recorded)."""
    return {"openmp": bool(CCONV_BUILD_OPENMP), "asan": bool(CCONV_BUILD_ASAN),
            "optimized": bool(CCONV_BUILD_OPTIMIZED),
            "debug": bool(CCONV_BUILD_DEBUG),
            "tag": CCONV_BUILD_TAG.decode("utf-8", "replace")}


def openmp_compiled():
    """True when this module was compiled with OpenMP (``_OPENMP`` defined)."""
    return bool(CCONV_BUILD_OPENMP)
