"""The build and runtime configuration report (``cconv.show_config()``, ``cconv info``).

Thread settings live in :mod:`cconv._threads` and are re-exported here.
"""
import platform
import sys

from ._threads import (MAX_THREADS, _available_cpus, get_num_threads,  # noqa: F401
                       last_level_cache_bytes, resolve_threads,  # noqa: F401
                       set_num_threads)  # noqa: F401  (re-exported)


def config():
    """Build and runtime facts as a dict (see show_config)."""
    import numpy as np

    from . import ops
    modules = {m.__name__.rsplit(".", 1)[-1]: m for m in ops.compiled_modules().values()}
    builds = {name: m.build_info() for name, m in modules.items()}
    _im2col = modules["_im2col"]
    isa = ops.conv_isa()   # ConfigError if CCONV_ISA cannot be honoured
    stream_min_bytes = ops.configure_streaming()

    info = {
        "cconv": _version(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "openmp_compiled": all(b["openmp"] for b in builds.values()),
        "modules": builds,
        "mixed_build": len({tuple(sorted(b.items())) for b in builds.values()}) > 1,
        "openmp_max_threads": int(_im2col.openmp_max_threads()),
        "sse2_compiled": bool(_im2col.sse2_compiled()),
        # the convolution engine's instruction-set variant (CCONV_ISA forces one)
        "conv_isa": isa["info"],
        "conv_isa_forced": isa["forced"],
        "winograd": ops.winograd(),
        "cvec": ops.cvec(),
        "conv_isas_built": isa["built"],
        "conv_isas_supported": isa["supported"],
        "last_level_cache": last_level_cache_bytes(),
        "stream_min_bytes": stream_min_bytes,
        "num_threads": get_num_threads(),
        "available_cpus": _available_cpus(),
        "blas": [],
    }
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            info["blas"].append({k: pool.get(k) for k in
                                 ("user_api", "internal_api", "version", "num_threads",
                                  "threading_layer", "architecture", "filepath")})
    except ImportError:  # threadpoolctl is a dependency, but stay usable without it
        info["blas"] = "threadpoolctl not installed"
    return info


def _build_text(b):
    flags = [f"OpenMP {'on' if b['openmp'] else 'off'}",
             "optimized" if b["optimized"] else "not optimized (-O0)"]
    flags += ["debug (bounds checks)"] * b["debug"] + ["AddressSanitizer"] * b["asan"]
    return f"{', '.join(flags)}; configuration: {b['tag']}"


def _version():
    from . import __version__
    return __version__


def show_config(file=None):
    """Print what cconv was built with and what it runs with.

    Reports the version, whether OpenMP was really compiled in (the ``_OPENMP`` macro seen
    by the compiler), the thread count in effect, and the BLAS libraries numpy uses (via
    threadpoolctl).
    """
    info = config()
    out = file or sys.stdout
    print(f"cconv {info['cconv']}  (python {info['python']}, numpy {info['numpy']})", file=out)
    print(f"platform:        {info['platform']}", file=out)
    print(f"OpenMP compiled: {'yes' if info['openmp_compiled'] else 'no (serial kernels)'}",
          file=out)
    builds = info["modules"]
    if info["mixed_build"]:
        print("build:           MIXED: the compiled modules come from different builds "
              "(reinstall: pip install --force-reinstall .)", file=out)
        for name, b in builds.items():
            print(f"  {name:<14} {_build_text(b)}", file=out)
    else:
        print(f"build:           {_build_text(next(iter(builds.values())))} "
              f"({', '.join(builds)})", file=out)
    print(f"SSE2 paths:      {'yes' if info['sse2_compiled'] else 'no (portable C)'}",
          file=out)
    isa = info["conv_isa"]
    print(f"convolutions:    {isa['name']} ({isa['detail']}; {isa['block']} in registers)"
          f"{', forced by CCONV_ISA' if info['conv_isa_forced'] else ''}; "
          f"built: {', '.join(info['conv_isas_built'])}; this CPU runs: "
          f"{', '.join(info['conv_isas_supported'])}", file=out)
    print(f"winograd:        {info['winograd']} (F(2x2, 3x3) for 3x3 stride-1 layers with 16+ "
          "channels: off, auto = where it measured faster, on = wherever it applies)",
          file=out)
    print(f"cvec:            {info['cvec']} (the channel-vector kernel for stride-1 layers on "
          "small planes, forward and input gradient in the direct kernel's bits, weight "
          "gradient in its own order: off, auto = where it measured faster, on = wherever "
          "it applies)", file=out)
    cache = info["last_level_cache"]
    print(f"streaming:       im2col outputs of {info['stream_min_bytes'] / 2**20:.1f} MiB and "
          f"more ({'half the ' + format(cache / 2**20, '.0f') + ' MiB' if cache else 'no'}"
          f" last-level cache{'' if cache else ' size found'})", file=out)
    print(f"threads:         {info['num_threads']} in use, "
          f"{info['available_cpus']} CPUs available", file=out)
    if isinstance(info["blas"], str):
        print(f"BLAS:            {info['blas']}", file=out)
    else:
        for b in info["blas"]:
            print(f"threadpool:      {b['user_api']} {b['internal_api']} {b['version']} "
                  f"({b['num_threads']} threads) {b['filepath']}", file=out)
    return info
