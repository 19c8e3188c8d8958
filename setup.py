"""Build of cconv's compiled kernels.

Environment switches (read at build time):

CCONV_OPENMP=auto|1|0   auto (default) probes the compiler and builds serially with one
                        warning if OpenMP is missing; 1 makes a failed probe an error; 0
                        builds without OpenMP.
CCONV_DEBUG=1           Cython bounds/wraparound checks on, -O0 -g (for debugging); the
                        C it generates goes to build/cython-debug/, apart from the release C.
CCONV_SANITIZE=...      comma list passed to -fsanitize= (e.g. address,undefined); run the
                        result with the sanitizer runtime preloaded (see .ci/sanitize).
CCONV_NATIVE=1          add -march=native (only for a build that stays on this machine).
CCONV_BUILD_JOBS=N      compilers run at once (default: one per CPU this process may use;
                        `-j N` on the command line wins). The engine's instruction-set
                        variants compile beside the other modules.
CCONV_ISA_BUILD=auto|baseline
                        auto (default): on x86 with gcc/clang, the convolution engine's
                        AVX2 and AVX-512 variants are compiled too (each with its own -m
                        flags; the CPU picks at import); baseline builds the portable one only.

A build whose configuration (these switches, CFLAGS, the compiler) differs from the one
that built the objects in build/ before rebuilds every module: no switch ever leaves a
stale module beside fresh ones. Each module reports its real build (``build_info()``,
from the compiler's own macros and the configuration tag), and ``cconv info`` says when
they differ.
"""
import glob
import os
import platform
import re
import sys
import tempfile
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# One compiled module per op family; cconv/ops/<family>.py is its only importer.
# (cconv._conv, the convolution engine, is built by _conv_extension below)
KERNELS = ["_im2col", "_pooling", "_lrn", "_activation", "_optimizer"]

# The C of the kernels lives in headers under src/ (static inline, so that it inlines
# into the Cython loops); each module's headers are listed so that a change rebuilds it.
# build_info.h comes with _build.pxi, which every module includes.
HEADERS = {
    "_im2col": ["im2col.h", "simd.h", "sse2.h", "openmp_compat.h"],
    "_pooling": ["pooling.h", "max22.h", "simd.h", "sse2.h"],
    "_optimizer": ["optimizer.h"],
    "_activation": ["activation.h", "tanh_template.h", "sse2.h"],
}


def _env(name, default=""):
    return os.environ.get(name, default).strip().lower()


def _openmp_flags(compiler_type):
    """(compile_args, link_args) that switch OpenMP on for this compiler."""
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":
        # Apple clang has no -fopenmp driver flag; it works with libomp (Homebrew).
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def _compiles(compiler, cflags, ldflags):
    """True when a program using omp.h compiles, links and reports _OPENMP."""
    src = textwrap.dedent(
        """
        #include <omp.h>
        #ifndef _OPENMP
        #error no _OPENMP
        #endif
        int main(void) {
            int n = 0;
            #pragma omp parallel reduction(+:n)
            n += 1;
            return n > 0 ? 0 : 1;
        }
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(src)
        try:
            objs = compiler.compile([path], output_dir=tmp, extra_postargs=cflags)
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=ldflags)
        except Exception:
            return False
    return True


def _build_tag(use_omp, compiler):
    """One line naming everything that changes the compiled code."""
    parts = [f"openmp={'on' if use_omp else 'off'}",
             f"debug={'on' if _env('CCONV_DEBUG') in ('1', 'true', 'on') else 'off'}",
             f"sanitize={_env('CCONV_SANITIZE') or 'off'}",
             f"native={'on' if _env('CCONV_NATIVE') in ('1', 'true', 'on') else 'off'}",
             f"isa_build={_env('CCONV_ISA_BUILD') or 'auto'}",
             f"cflags={' '.join(os.environ.get('CFLAGS', '').split()) or '-'}",
             f"cc={os.path.basename(str((getattr(compiler, 'compiler_so', None) or ['?'])[0]))}"]
    # Kept to characters that need no escaping inside a C string literal.
    return re.sub(r"[^A-Za-z0-9=,._+/ -]", "_", " ".join(parts))


def _build_jobs():
    """How many compilers run at once: CCONV_BUILD_JOBS, else one per usable CPU."""
    v = _env("CCONV_BUILD_JOBS")
    if v:
        if not v.isdigit() or int(v) < 1:
            raise SystemExit(f"CCONV_BUILD_JOBS must be a whole number >= 1, not {v!r}")
        return int(v)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class BuildExt(build_ext):
    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:   # no -j given (pip never gives one)
            self.parallel = _build_jobs()

    def build_extension(self, ext):
        # the engine links its instruction-set variants: wait for their objects
        for job in self._isa_jobs.pop(ext.name, []):
            ext.extra_objects = list(ext.extra_objects or []) + job.result()
        super().build_extension(ext)

    def build_extensions(self):
        ctype = self.compiler.compiler_type
        mode = _env("CCONV_OPENMP", "auto")
        if mode not in ("auto", "1", "0", "on", "off", "true", "false"):
            raise SystemExit(f"CCONV_OPENMP must be auto, 1 or 0, not {mode!r}")
        want = mode in ("auto", "1", "on", "true")
        cflags, ldflags = _openmp_flags(ctype)
        use_omp = False
        if want:
            use_omp = _compiles(self.compiler, cflags, ldflags)
            if not use_omp:
                if mode != "auto":
                    raise SystemExit(
                        "CCONV_OPENMP=1 but the compiler cannot build an OpenMP program "
                        f"with {cflags} {ldflags}; install libgomp/libomp or set CCONV_OPENMP=0"
                    )
                warnings.warn(
                    "cconv: the C compiler has no usable OpenMP; building the kernels "
                    "serially (single-threaded). Set CCONV_OPENMP=1 to make this an error."
                )
        extra_c, extra_l = [], []
        if ctype != "msvc":
            debug = _env("CCONV_DEBUG") in ("1", "true", "on")
            extra_c += ["-O0", "-g"] if debug else ["-O3"]
            # No kernel reads errno; with it, GCC cannot vectorise sqrt (LRN).
            extra_c.append("-fno-math-errno")
            # No fused multiply-adds behind the source's back (-march=native would allow
            # them): each operation rounds as NumPy's does, so results match it bit for bit.
            extra_c.append("-ffp-contract=off")
            if _env("CCONV_NATIVE") in ("1", "true", "on"):
                extra_c.append("-march=native")
            san = _env("CCONV_SANITIZE")
            if san:
                extra_c += [f"-fsanitize={san}", "-fno-omit-frame-pointer", "-g"]
                extra_l += [f"-fsanitize={san}"]
        else:
            extra_c.append("/O2")
        if use_omp:
            extra_c += cflags
            extra_l += ldflags
        tag = _build_tag(use_omp, self.compiler)
        macros = [("CCONV_BUILD_TAG", f'"{tag}"')]
        if _env("CCONV_DEBUG") in ("1", "true", "on"):
            macros.append(("CCONV_BUILD_DEBUG", "1"))
        for ext in self.extensions:
            ext.extra_compile_args = list(ext.extra_compile_args or []) + extra_c
            ext.extra_link_args = list(ext.extra_link_args or []) + extra_l
            ext.define_macros = list(ext.define_macros or []) + macros
        stamp = os.path.join(self.build_temp, "cconv-build-tag.txt")
        try:
            with open(stamp, encoding="utf-8") as f:
                previous = f.read().strip()
        except OSError:
            previous = None
        if previous != tag:
            # Objects in build/ from another configuration look up to date to setuptools
            # (it compares timestamps only): rebuild every module.
            self.force = True
        print(f"cconv: building with OpenMP {'on' if use_omp else 'off'} ({tag})"
              + (", configuration changed: rebuilding all modules"
                 if previous is not None and previous != tag else ""))
        # The longest module first, its variants compiling beside the other modules.
        self.extensions.sort(key=lambda e: e.name != "cconv._conv")
        jobs = self.parallel if isinstance(self.parallel, int) and self.parallel > 1 else 1
        self._isa_jobs = {}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for ext in self.extensions:
                if ext.name == "cconv._conv":
                    self._isa_jobs[ext.name] = _build_isa_objects(self, ext, pool)
            try:
                super().build_extensions()
            finally:   # nothing left running if another module failed
                for job in self._isa_jobs.pop("cconv._conv", []):
                    job.cancel()
        os.makedirs(self.build_temp, exist_ok=True)
        with open(stamp, "w", encoding="utf-8") as f:
            f.write(tag + "\n")


# The convolution engine's per-instruction-set variants: one C file each, compiled to an
# object with its own flags (so no other code is built for a CPU it may not run on) and
# linked into cconv._conv, whose dispatcher picks one at import from cpuid + xgetbv.
_ISA_VARIANTS = [
    ("avx2", "src/conv/conv_avx2.c", ["-mavx2", "-mfma"]),
    ("avx512", "src/conv/conv_avx512.c", ["-mavx512f", "-mfma"]),
]


def _isa_variants_wanted(compiler_type):
    mode = _env("CCONV_ISA_BUILD", "auto")
    if mode not in ("auto", "baseline"):
        raise SystemExit(f"CCONV_ISA_BUILD must be auto or baseline, not {mode!r}")
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")
    return mode == "auto" and x86 and compiler_type != "msvc"


def _build_isa_objects(cmd, ext, pool):
    """Start compiling the AVX2/AVX-512 variants of the convolution engine in pool: the
    futures of their object lists, which ext links."""
    if not _isa_variants_wanted(cmd.compiler.compiler_type):
        print("cconv: convolution engine: portable baseline only")
        return []
    jobs, macros = [], list(ext.define_macros)
    for name, src, flags in _ISA_VARIANTS:
        # FMA contraction is the point of these variants (the base flags forbid it).
        args = list(ext.extra_compile_args) + flags + ["-ffp-contract=fast"]
        jobs.append(pool.submit(cmd.compiler.compile, [src], output_dir=cmd.build_temp,
                                macros=macros, include_dirs=ext.include_dirs,
                                extra_postargs=args, depends=ext.depends))
        ext.define_macros = list(ext.define_macros) + [(f"CCONV_HAVE_{name.upper()}", "1")]
    print("cconv: convolution engine: baseline, "
          + ", ".join(n for n, _, _ in _ISA_VARIANTS))
    return jobs


def _conv_extension():
    return Extension("cconv._conv", ["src/_conv.pyx", "src/conv/conv_dispatch.c",
                                     "src/conv/conv_baseline.c"],
                     include_dirs=["src"],
                     depends=sorted(glob.glob("src/conv/*")) + ["src/sse2.h", "src/max22.h"],
                     define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])


def _extensions():
    debug = _env("CCONV_DEBUG") in ("1", "true", "on")
    directives = {
        "language_level": 3,
        "boundscheck": debug,
        "wraparound": debug,
        "initializedcheck": debug,
        "cdivision": True,
        "nonecheck": False,
        "embedsignature": True,
    }
    exts = [
        Extension(f"cconv.{name}", [f"src/{name}.pyx"], include_dirs=["src"],
                  depends=[f"src/{h}" for h in ["build_info.h"] + HEADERS.get(name, [])],
                  define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
        for name in KERNELS
    ] + [_conv_extension()]
    # cythonize regenerates C from timestamps only, not from the directives: a debug
    # build writes its C under build/cython-debug, so neither build ever compiles the
    # other's stale C (bounds checks left in a release build, or missing from a debug one).
    return cythonize(exts, compiler_directives=directives, include_path=["src"],
                     quiet=True, build_dir="build/cython-debug" if debug else None)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
