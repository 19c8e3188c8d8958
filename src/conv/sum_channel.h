/* Sum of channel f over all samples, for the bias gradient: row n is d + n*F*P. Eight
   running sums per row (lanes of i mod 8, which the compiler keeps in vector registers),
   combined pairwise, then the tail: an order fixed by P alone, and no chain of dependent
   adds the length of the row. One thread sums one channel, so the result does not depend
   on the thread count. */
#ifndef CCONV_SUM_CHANNEL_H
#define CCONV_SUM_CHANNEL_H

#include <stddef.h>

#define CCONV_SUM_CHANNEL(T, SUF)                                                      \
    static inline T cconv_sum_channel_##SUF(const T* d, ptrdiff_t N, ptrdiff_t F,      \
                                            ptrdiff_t P) {                             \
        T s = 0;                                                                        \
        for (ptrdiff_t n = 0; n < N; ++n) {                                             \
            const T* row = d + n * F * P;                                               \
            T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                        \
            ptrdiff_t i = 0;                                                            \
            for (; i + 8 <= P; i += 8)                                                  \
                for (int j = 0; j < 8; ++j) acc[j] += row[i + j];                       \
            T r = ((acc[0] + acc[1]) + (acc[2] + acc[3]))                               \
                  + ((acc[4] + acc[5]) + (acc[6] + acc[7]));                            \
            for (; i < P; ++i) r += row[i];                                             \
            s += r;                                                                     \
        }                                                                               \
        return s;                                                                       \
    }
CCONV_SUM_CHANNEL(float, f)
CCONV_SUM_CHANNEL(double, d)
#undef CCONV_SUM_CHANNEL

#endif
