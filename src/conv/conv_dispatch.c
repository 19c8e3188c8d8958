/* Which variant of the convolution engine runs: the ones this build compiled
   (CCONV_HAVE_AVX2 / CCONV_HAVE_AVX512, defined by setup.py when it built their
   objects), and what this CPU and its OS support (cpuid for the instructions, xgetbv for
   the OS saving the ymm/zmm state on context switches). */
#include <stddef.h>
#include "conv.h"

extern const cconv_conv_isa cconv_conv_isa_baseline;
#ifdef CCONV_HAVE_AVX2
extern const cconv_conv_isa cconv_conv_isa_avx2;
#endif
#ifdef CCONV_HAVE_AVX512
extern const cconv_conv_isa cconv_conv_isa_avx512;
#endif

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define CC_X86 1
static unsigned long long cc_xgetbv0(void)
{
    unsigned int lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));  /* xgetbv */
    return ((unsigned long long)hi << 32) | lo;
}
#else
#define CC_X86 0
#endif

static int cc_cpu_supports(int i)
{
    if (i == CCONV_ISA_BASELINE)
        return 1;
#if CC_X86
    {
        unsigned int a, b, c, d, b7 = 0, c7, d7, a7;
        unsigned long long xcr0;
        int avx_os, fma, avx2, avx512f;
        if (!__get_cpuid(1, &a, &b, &c, &d))
            return 0;
        if (!(c & (1u << 27)) || !(c & (1u << 28)))  /* OSXSAVE, AVX */
            return 0;
        xcr0 = cc_xgetbv0();
        avx_os = (xcr0 & 0x6) == 0x6;  /* xmm and ymm state */
        fma = (c >> 12) & 1;
        if (__get_cpuid_max(0, NULL) >= 7)
            __cpuid_count(7, 0, a7, b7, c7, d7);
        (void)a7; (void)c7; (void)d7;
        avx2 = (b7 >> 5) & 1;
        avx512f = (b7 >> 16) & 1;
        if (i == CCONV_ISA_AVX2)
            return avx_os && fma && avx2;
        if (i == CCONV_ISA_AVX512)  /* + opmask, upper halves of zmm0-15, zmm16-31 */
            return avx_os && fma && avx512f && (xcr0 & 0xe0) == 0xe0;
    }
#endif
    return 0;
}

const cconv_conv_isa* cconv_conv_isa_built(int i)
{
    switch (i) {
    case CCONV_ISA_BASELINE:
        return &cconv_conv_isa_baseline;
#ifdef CCONV_HAVE_AVX2
    case CCONV_ISA_AVX2:
        return &cconv_conv_isa_avx2;
#endif
#ifdef CCONV_HAVE_AVX512
    case CCONV_ISA_AVX512:
        return &cconv_conv_isa_avx512;
#endif
    default:
        return NULL;
    }
}

int cconv_conv_isa_supported(int i)
{
    return i >= 0 && i < CCONV_ISA_COUNT && cc_cpu_supports(i);
}

int cconv_conv_best(void)
{
    int i;
    for (i = CCONV_ISA_COUNT - 1; i > 0; i--)
        if (cconv_conv_isa_built(i) && cconv_conv_isa_supported(i))
            return i;
    return CCONV_ISA_BASELINE;
}

static const cconv_conv_isa* cc_active = NULL;

const cconv_conv_isa* cconv_conv_active(void)
{
    if (!cc_active)
        cc_active = cconv_conv_isa_built(cconv_conv_best());
    return cc_active;
}

int cconv_conv_select(int i)
{
    const cconv_conv_isa* v = cconv_conv_isa_built(i);
    if (!v)
        return -1;
    if (!cconv_conv_isa_supported(i))
        return -2;
    cc_active = v;
    return 0;
}

static int cc_winograd_mode = CCONV_WINOGRAD_AUTO;

int cconv_conv_winograd(void) { return cc_winograd_mode; }

void cconv_conv_set_winograd(int mode)
{
    if (mode >= CCONV_WINOGRAD_OFF && mode <= CCONV_WINOGRAD_ON)
        cc_winograd_mode = mode;
}

static int cc_cvec_mode = CCONV_CVEC_AUTO;

int cconv_conv_cvec(void) { return cc_cvec_mode; }

void cconv_conv_set_cvec(int mode)
{
    if (mode >= CCONV_CVEC_OFF && mode <= CCONV_CVEC_ON)
        cc_cvec_mode = mode;
}
