# The one place that touches omp.h. Without OpenMP the names still exist, so the
# kernels compile serially and report the truth through CCONV_OPENMP.
cdef extern from "openmp_compat.h":
    const int CCONV_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_threads() noexcept nogil
