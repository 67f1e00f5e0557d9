#ifndef CAPG_ADAM_H
#define CAPG_ADAM_H
#include <stddef.h>

/// One Adam ascent step over p[0..<n] (Float), elementwise and in exactly the operation
/// order of the scalar Swift loop it replaces, with no fused multiply-adds:
///
///   m ← b1·m + (1 − b1)·g,   v ← b2·v + ((1 − b2)·g)·g,   p ← p + (step·m) / (√v + eps),
///
/// so the AVX2 and the generic variant give bitwise the scalar loop's values (+, ×, ÷ and √
/// are correctly rounded in every lane). Cost: one streaming pass over four arrays, 8 items
/// per AVX2 step (the scalar loop was bound by one √ and one ÷ per item).
void capg_adam_ascend_f32(float *p, float *m, float *v, const float *g, size_t n,
                          float b1, float b2, float step, float eps);

/// The generic variant (for tests).
void capg_adam_ascend_f32_generic(float *p, float *m, float *v, const float *g, size_t n,
                                  float b1, float b2, float step, float eps);

#endif
