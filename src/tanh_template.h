/* The tanh of activation.h for one element type and vector width (no include guard:
   included once per type and width). The includer defines TV_DOUBLE (0: float32, 1:
   float64), TV_BYTES (vector bytes), TV(name) (the name with the type's and width's
   suffix) and TV_TARGET (a function attribute: the instruction set, or empty). Every
   width runs the same operations in the same order (no fused multiply-adds: the module
   is built with -ffp-contract=off), so all give the same bits. */
#if TV_DOUBLE
typedef double TV(t);
typedef int64_t TV(it);
#define TV_SIGN INT64_MIN
#else
typedef float TV(t);
typedef int32_t TV(it);
#define TV_SIGN INT32_MIN
#endif
typedef TV(t) TV(v) __attribute__((vector_size(TV_BYTES)));
typedef TV(it) TV(i) __attribute__((vector_size(TV_BYTES)));
#define TV_VL ((ptrdiff_t)(TV_BYTES / sizeof(TV(t))))

/* s in every lane (0 + s: right for every s but -0) */
static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(splat)(TV(t) s)
{
    return (TV(v)){0} + s;
}

/* lanes where m is all ones from a, the others from b */
static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(pick)(TV(i) m, TV(v) a,
                                                                        TV(v) b)
{
    return (TV(v))(((TV(i))a & m) | ((TV(i))b & ~m));
}

#if !TV_DOUBLE
static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(tanh)(TV(v) x)
{
    const TV(i) signbit = (TV(i)){0} + TV_SIGN;   /* (0.0f + -0.0f would be +0) */
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
#else
/* float64: the same two forms with float64's terms. |x| clamped to 20 (tanh(20) rounds
   to 1); below CC_TANH_SMALL the odd Taylor series to x^35; above it
   (1 - t) / (1 + t), t = exp(-2|x|) = 2^n e^r, e^r by its Taylor polynomial of degree
   13 (|r| <= ln2/2), both by Estrin's scheme, ln2 in two parts (n * the high part exact), 2^n put into the
   exponent bits from the integer that rounding n leaves in the low mantissa bits (no
   float64 -> int64 conversion: AVX2 has none). Within 1.6 ulp (tested against long
   double on a dense grid). */
static const double TV(series)[17] = {
    -0.3333333333333333, 0.13333333333333333, -0.05396825396825397, 0.021869488536155203,
    -0.008863235529902197, 0.003592128036572481, -0.0014558343870513183,
    0.000590027440945586, -0.00023912911424355248, 9.691537956929451e-05,
    -3.927832388331683e-05, 1.5918905069328964e-05, -6.451689215655431e-06,
    2.6147711512907546e-06, -1.0597268320104654e-06, 4.294911078273806e-07,
    -1.7406618963571648e-07};   /* x^3, x^5, ... x^35 */
static const double TV(expo)[14] = {
    1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333,
    0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05,
    2.7557319223985893e-06, 2.755731922398589e-07, 2.505210838544172e-08,
    2.08767569878681e-09, 1.6059043836821613e-10};   /* 1/k!, k = 0 .. 13 */

/* Estrin's scheme: neighbouring coefficients paired (c[k] + z c[k+1]), the pairs then
   with z^2, and so on, an odd last one carried up; short chains of dependent operations.
   The series' bracket: 17 coefficients in z = x^2. */
static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(series17)(TV(v) z)
{
#define TV_C(k) TV(splat)(TV(series)[k])
    const TV(v) z2 = z * z, z4 = z2 * z2, z8 = z4 * z4, z16 = z8 * z8;
    const TV(v) p0 = TV_C(0) + z * TV_C(1), p1 = TV_C(2) + z * TV_C(3);
    const TV(v) p2 = TV_C(4) + z * TV_C(5), p3 = TV_C(6) + z * TV_C(7);
    const TV(v) p4 = TV_C(8) + z * TV_C(9), p5 = TV_C(10) + z * TV_C(11);
    const TV(v) p6 = TV_C(12) + z * TV_C(13), p7 = TV_C(14) + z * TV_C(15);
    const TV(v) q0 = p0 + z2 * p1, q1 = p2 + z2 * p3, q2 = p4 + z2 * p5, q3 = p6 + z2 * p7;
    const TV(v) o0 = q0 + z4 * q1, o1 = q2 + z4 * q3;
    return (o0 + z8 * o1) + z16 * TV_C(16);
#undef TV_C
}

/* 1/2! + r/3! + ... + r^11/13! by the same scheme (12 coefficients). */
static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(expo12)(TV(v) r)
{
#define TV_C(k) TV(splat)(TV(expo)[k])
    const TV(v) r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const TV(v) p0 = TV_C(2) + r * TV_C(3), p1 = TV_C(4) + r * TV_C(5);
    const TV(v) p2 = TV_C(6) + r * TV_C(7), p3 = TV_C(8) + r * TV_C(9);
    const TV(v) p4 = TV_C(10) + r * TV_C(11), p5 = TV_C(12) + r * TV_C(13);
    const TV(v) q0 = p0 + r2 * p1, q1 = p2 + r2 * p3, q2 = p4 + r2 * p5;
    return (q0 + r4 * q1) + r8 * q2;
#undef TV_C
}

static inline TV_TARGET __attribute__((always_inline)) TV(v) TV(tanh)(TV(v) x)
{
    const TV(i) signbit = (TV(i)){0} + TV_SIGN;
    const TV(i) sign = (TV(i))x & signbit;
    const TV(v) magic = TV(splat)(6755399441055744.0);   /* 1.5 * 2^52 */
    const TV(v) one = TV(splat)(1.0);
    TV(v) a = (TV(v))((TV(i))x & ~signbit);   /* |x| */
    TV(v) a2, small, y, m, n, r, p, t, big;
    TV(i) big_lanes;
    a = TV(pick)(a > TV(splat)(CC_TANH_CLAMP64), TV(splat)(CC_TANH_CLAMP64), a);
    a2 = a * a;
    small = a + (a * a2) * TV(series17)(a2);
    y = a * TV(splat)(-2.0);
    m = y * TV(splat)(1.4426950408889634) + magic;   /* n + 1.5 * 2^52: n in the low bits */
    n = m - magic;
    r = y - n * TV(splat)(0.6931471803691238);      /* ln2's high part: n * it is exact */
    r = r - n * TV(splat)(1.9082149292705877e-10);  /* and its low part */
    /* e^r = 1 + r (1 + r (1/2! + r/3! + ... r^11/13!)): the bracket by Estrin's scheme,
       the two leading terms added last */
    p = one + r * (one + r * TV(expo12)(r));
    /* times 2^n: n in [-58, 0], a normal float64's exponent field */
    t = p * (TV(v))((((TV(i))m - (TV(i))magic) + 1023) << 52);
    big = (one - t) / (one + t);
    big_lanes = (a >= TV(splat)(CC_TANH_SMALL)) | ~(a == a);
    return (TV(v))((TV(i))TV(pick)(big_lanes, big, small) | sign);
}
#endif

/* y[i] = tanh(x[i]) for i < n; y2 (unless NULL) gets the same values. */
static TV_TARGET void TV(cc_tanh)(const TV(t)* x, TV(t)* y, TV(t)* y2, ptrdiff_t n)
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
        TV(t) buf[TV_VL];
        TV(v) v;
        memset(buf, 0, sizeof buf);
        memcpy(buf, x + i, (size_t)(n - i) * sizeof(TV(t)));
        memcpy(&v, buf, sizeof v);
        v = TV(tanh)(v);
        memcpy(buf, &v, sizeof v);
        memcpy(y + i, buf, (size_t)(n - i) * sizeof(TV(t)));
        if (y2)
            memcpy(y2 + i, buf, (size_t)(n - i) * sizeof(TV(t)));
    }
}

#undef TV_VL
#undef TV_SIGN
