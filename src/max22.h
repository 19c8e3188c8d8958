/* CCONV_MAX22: a 2x2 pooling window v0 v1 / v2 v3 (row by row) -> its first maximum and
   that maximum's index kh*2 + kw, as comparisons and selects that compile branch-free
   (the index by arithmetic: gcc turns a select there into a branch). NaN is the
   callers' business: they flag a window holding one and redo it (the first NaN wins).
   The one definition for the pooling kernels (pooling.h) and the convolution engine's
   pooling epilogue (conv/conv_template.h). */
#ifndef CCONV_MAX22_H
#define CCONV_MAX22_H
#include <stdint.h>

#define CCONV_MAX22(T, v0, v1, v2, v3, out, arg)                      \
    do {                                                              \
        int g01_ = (v1) > (v0), g23_ = (v3) > (v2), g_;               \
        T m01_ = g01_ ? (v1) : (v0), m23_ = g23_ ? (v3) : (v2);       \
        g_ = m23_ > m01_;                                             \
        (out) = g_ ? m23_ : m01_;                                     \
        (arg) = (uint16_t)(g01_ + g_ * (2 + g23_ - g01_));            \
    } while (0)

#endif
