# The one place that touches omp.h. Without OpenMP the names still exist, so the
# kernels compile serially and report the truth through CCONV_OPENMP.
cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define CCONV_OPENMP 1
    #else
    #define CCONV_OPENMP 0
    static inline int omp_get_max_threads(void) { return 1; }
    static inline int omp_get_num_threads(void) { return 1; }
    #endif
    """
    const int CCONV_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_num_threads() noexcept nogil
