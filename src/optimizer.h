/* The optimizers' fused update kernels (see _optimizer.pyx). */
#ifndef CCONV_OPTIMIZER_H
#define CCONV_OPTIMIZER_H
#include <Python.h>  /* Py_ssize_t; Cython's generated C includes it first */
#include <float.h>
#include <math.h>
#if defined(_MSC_VER)
#define CCONV_RESTRICT __restrict
#else
#define CCONV_RESTRICT __restrict__
#endif
/* The book's Adam step, one pass; each operation rounded in T, in the NumPy order.
 * A moment whose magnitude falls below T's smallest normal number (MIN) is set to +0
 * (cconv.optimizer.Adam's NumPy path does the same): where a gradient stays zero, m
 * decays by beta1 each step into the subnormal range, and on CPUs that handle
 * subnormal operands in microcode that made every later step many times slower. */
#define CCONV_ADAM(T, SUF, SQRT, FABS, MIN)                                        \
static void cconv_adam_##SUF(T* CCONV_RESTRICT p, const T* CCONV_RESTRICT g,       \
                             T* CCONV_RESTRICT m, T* CCONV_RESTRICT v, Py_ssize_t n, \
                             T lr, T a, T b, T e) {                                 \
    for (Py_ssize_t i = 0; i < n; ++i) {                                            \
        T gi = g[i];                                                                \
        T mi = m[i] + (gi - m[i]) * a;                                              \
        T vi = v[i] + (gi * gi - v[i]) * b;                                         \
        mi = FABS(mi) < MIN ? (T)0 : mi;                                            \
        vi = FABS(vi) < MIN ? (T)0 : vi;                                            \
        m[i] = mi;                                                                  \
        v[i] = vi;                                                                  \
        p[i] = p[i] - (mi * lr) / (SQRT(vi) + e);                                   \
    }                                                                               \
}
CCONV_ADAM(float, f, sqrtf, fabsf, FLT_MIN)
CCONV_ADAM(double, d, sqrt, fabs, DBL_MIN)
#endif  /* CCONV_OPTIMIZER_H */
