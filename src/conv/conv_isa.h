/* The body of every conv_<isa>.c: both dtypes of the engine, and the variant's entry in
   the dispatch table. The includer defines ISA, ISA_NAME, ISA_DETAIL, VBYTES and the
   register blocks (see conv_template.h). */
#include "conv_common.h"

#define REAL float
#define CC_IREAL int32_t   /* the integer lanes of REAL's width */
#define SFX f32
#include "conv_template.h"
#undef REAL
#undef CC_IREAL
#undef SFX

#define REAL double
#define CC_IREAL int64_t
#define SFX f64
#include "conv_template.h"
#undef REAL
#undef CC_IREAL
#undef SFX

#define CC_ENTRY2(isa, sfx, name) cc_##isa##_##sfx##_##name
#define CC_ENTRY(isa, sfx, name) CC_ENTRY2(isa, sfx, name)
#define CC_TABLE2(isa) cconv_conv_isa_##isa
#define CC_TABLE(isa) CC_TABLE2(isa)

const cconv_conv_isa CC_TABLE(ISA) = {
    ISA_NAME, ISA_DETAIL, VBYTES, FWD_FB, FWD_NV,
    CC_ENTRY(ISA, f32, forward), CC_ENTRY(ISA, f64, forward),
    CC_ENTRY(ISA, f32, backward_data), CC_ENTRY(ISA, f64, backward_data),
    CC_ENTRY(ISA, f32, backward_filter), CC_ENTRY(ISA, f64, backward_filter),
    CC_ENTRY(ISA, f32, matmul), CC_ENTRY(ISA, f64, matmul),
    CC_ENTRY(ISA, f32, path), CC_ENTRY(ISA, f64, path),
    CC_ENTRY(ISA, f32, fma_loop), CC_ENTRY(ISA, f64, fma_loop),
};
