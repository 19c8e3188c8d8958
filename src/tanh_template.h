/* The float32 tanh of activation.h for one vector width (no include guard: included once
   per width). The includer defines TV_BYTES (vector bytes), TV(name) (the name with the
   width's suffix) and TV_TARGET (a function attribute: the instruction set, or empty).
   Every width runs the same operations in the same order (no fused multiply-adds: the
   module is built with -ffp-contract=off), so all give the same bits. */
typedef float TV(v) __attribute__((vector_size(TV_BYTES)));
typedef int32_t TV(i) __attribute__((vector_size(TV_BYTES)));
#define TV_VL ((ptrdiff_t)(TV_BYTES / sizeof(float)))

/* s in every lane (0 + s: right for every s but -0) */
static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(splat)(float s)
{
    return (TV(v)){0} + s;
}

/* lanes where m is all ones from a, the others from b */
static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(pick)(TV(i) m, TV(v) a,
                                                                        TV(v) b)
{
    return (TV(v))(((TV(i))a & m) | ((TV(i))b & ~m));
}

static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(tanh)(TV(v) x)
{
    const TV(i) signbit = (TV(i)){0} + INT32_MIN;   /* (0.0f + -0.0f would be +0) */
    const TV(i) sign = (TV(i))x & signbit;
    TV(v) a = (TV(v))((TV(i))x & ~signbit);   /* |x| */
    TV(v) a2, a4, a8, s01, s23, s45, s67, small, y, n, r, r2, r4, e01, e23, e45, e67, t,
        big;
    TV(i) big_lanes;
    /* NaN > 9 is false: NaN goes on as NaN */
    a = TV(pick)(a > TV(splat)(CC_TANH_CLAMP), TV(splat)(CC_TANH_CLAMP), a);
    /* the series x + x^3 (c1 + c2 x^2 + ... + c8 x^14), the bracket by Estrin's scheme
       in x^2 (pairs, then pairs of pairs: a short chain of dependent operations); x is
       added last, so that the rounding of the bracket hardly shows */
    a2 = a * a;
    a4 = a2 * a2;
    a8 = a4 * a4;
    s01 = TV(splat)(-1.0f / 3.0f) + a2 * TV(splat)(2.0f / 15.0f);
    s23 = TV(splat)(-17.0f / 315.0f) + a2 * TV(splat)(62.0f / 2835.0f);
    s45 = TV(splat)(-1382.0f / 155925.0f) + a2 * TV(splat)(21844.0f / 6081075.0f);
    s67 = TV(splat)(-929569.0f / 638512875.0f) + a2 * TV(splat)(6404582.0f / 10854718875.0f);
    small = (s01 + a4 * s23) + a8 * (s45 + a4 * s67);
    small = a + (a * a2) * small;
    /* exp(y), y = -2|x| in [-18, 0]: y = n ln2 + r, |r| <= ln2/2 */
    y = a * TV(splat)(-2.0f);
    n = y * TV(splat)(1.44269504088896341f);
    n = (n + TV(splat)(12582912.0f)) - TV(splat)(12582912.0f);   /* round to an integer */
    r = y - n * TV(splat)(0.693359375f);          /* ln2's high part: n * it is exact */
    r = r - n * TV(splat)(-2.12194440e-4f);       /* and its low part */
    r2 = r * r;
    r4 = r2 * r2;
    e01 = TV(splat)(1.0f) + r;
    e23 = TV(splat)(0.5f) + r * TV(splat)(1.0f / 6.0f);
    e45 = TV(splat)(1.0f / 24.0f) + r * TV(splat)(1.0f / 120.0f);
    e67 = TV(splat)(1.0f / 720.0f) + r * TV(splat)(1.0f / 5040.0f);
    t = (e01 + r2 * e23) + r4 * (e45 + r2 * e67);
    /* times 2^n: n in [-26, 0], a normal float's exponent field */
    t = t * (TV(v))((__builtin_convertvector(n, TV(i)) + 127) << 23);
    big = (TV(splat)(1.0f) - t) / (TV(splat)(1.0f) + t);
    /* the exp form from CC_TANH_SMALL on, and for NaN (which is NaN all through) */
    big_lanes = (a >= TV(splat)(CC_TANH_SMALL)) | ~(a == a);
    return (TV(v))((TV(i))TV(pick)(big_lanes, big, small) | sign);
}

/* y[i] = tanh(x[i]) for i < n; y2 (unless NULL) gets the same values. */
static TV_TARGET void TV(cc_tanh_f32)(const float* x, float* y, float* y2, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    for (; i + TV_VL <= n; i += TV_VL) {
        TV(v) v;
        memcpy(&v, x + i, sizeof v);
        v = TV(tanh)(v);
        memcpy(y + i, &v, sizeof v);
        if (y2)
            memcpy(y2 + i, &v, sizeof v);
    }
    if (i < n) {   /* the last few through one padded vector */
        float buf[TV_VL];
        TV(v) v;
        memset(buf, 0, sizeof buf);
        memcpy(buf, x + i, (size_t)(n - i) * sizeof(float));
        memcpy(&v, buf, sizeof v);
        v = TV(tanh)(v);
        memcpy(buf, &v, sizeof v);
        memcpy(y + i, buf, (size_t)(n - i) * sizeof(float));
        if (y2)
            memcpy(y2 + i, buf, (size_t)(n - i) * sizeof(float));
    }
}

#undef TV_VL
