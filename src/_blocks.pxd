# Work cut in fixed blocks, each owned by one thread, so that results do not depend on
# the thread count: the one way the kernels find where a block ends.
cdef inline Py_ssize_t block_end(Py_ssize_t lo, Py_ssize_t size, Py_ssize_t n) noexcept nogil:
    # the block [lo, lo + size), cut at n
    return lo + size if lo + size < n else n
