/* The one place that touches omp.h; without OpenMP the names still exist. */
#ifndef CCONV_OPENMP_COMPAT_H
#define CCONV_OPENMP_COMPAT_H
#include <Python.h>  /* Py_ssize_t; Cython's generated C includes it first */
#ifdef _OPENMP
#include <omp.h>
#define CCONV_OPENMP 1
#else
#define CCONV_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_threads(void) { return 1; }
#endif
#endif  /* CCONV_OPENMP_COMPAT_H */
