# The C that the kernel modules share: the one switch for their SIMD paths, and
# streaming copies. CCONV_SSE2 is 1 where the compiler targets SSE2 (every x86-64 CPU;
# gcc/clang say __SSE2__, MSVC _M_X64), else 0 and the kernels are portable C; a build
# can force it off with CFLAGS=-DCCONV_SSE2=0. Streaming (non-temporal) copies serve
# outputs larger than the caches: the stores skip the read-for-ownership of each
# destination line and do not evict the inputs; without SSE2 they are a plain memcpy.
# The C is in simd.h; the kernel headers that use it include it themselves.
cdef extern from "simd.h":
    const int CCONV_SSE2
    void cconv_stream_part(void* dst, const void* src, size_t n) noexcept nogil
    void cconv_stream_fence() noexcept nogil
    size_t cconv_stream_cut(const void* base, size_t x, size_t n) noexcept nogil


# Outputs at least this large are streamed out, smaller ones written in place to stay in
# cache for whatever reads them next: the default, where the cache size is not known.
cdef enum:
    STREAM_MIN_BYTES = 8388608   # 8 MiB
