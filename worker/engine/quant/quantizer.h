// The weight quantizer of SignRound (paper 5; ALGORITHMS.md 5.1): integer weights in groups with
// a learnable rounding offset V and learnable clipping of the range (alpha, beta), its
// straight-through gradients, and the round-to-nearest (RTN) baseline as its initial point.
//
// Semantics are intel/auto-round's quant_tensor_asym and quant_tensor_sym
// (auto_round/data_type/int.py) with round_ste (forward: round half to even, like torch.round;
// backward: identity). For one group w of g consecutive inputs of a row, with
// a = clamp(alpha, 0, 1), b = clamp(beta, 0, 1), lo = min(min(w), 0), hi = max(max(w), 0) and
// t = q_scale_thresh = 1e-5 (as a float32):
//
//   asymmetric (q in [0, 2^bits - 1]):
//     s  = max(fp32((hi a - lo b) / (2^bits - 1)), t)
//     zp = round(-lo b / s)
//     q  = clamp(round(w / s + V) + zp, 0, 2^bits - 1),  dequantized = s (q - zp)
//   symmetric (q in [-2^(bits-1), 2^(bits-1) - 1], zero point 0):
//     A = hi a, B = -lo b;  s0 = (A < B ? B : -A) / 2^(bits-1)   (a signed scale)
//     s  = s0 < 0 ? min(fp32(s0), -t) : max(fp32(s0), t)
//     q  = clamp(round(w / s + V), -2^(bits-1), 2^(bits-1) - 1),  dequantized = s q
//
// Note the symmetric scale's sign: when the positive extreme is at least as large as the negative
// one the scale is negative, so the larger side maps to -2^(bits-1), the end of the two's
// complement range that has no positive twin (auto-round's "full range" symmetric scheme,
// credited there to llama.cpp). Both ends of the integer range are used.
//
// One deliberate difference from auto-round: it casts the scale to float16 (scale_dtype); we
// round it to float32 (fp32 above) and keep everything else at the engine's precision. A float32
// scale is what the export format stores (quantized_export.h), so the exported model
// dequantizes to exactly the weights a job evaluated, in both engine precisions.
//
// Gradients (QuantizeBackward) are the exact reverse-mode derivative of that forward as PyTorch's
// autograd computes it, round replaced by the identity in the backward pass only: through V, and
// through the scale and the zero point (zp = round_ste(-lo b / s) passes gradient too) to alpha
// and beta. Clamps pass the gradient where min <= x <= max, boundaries included (torch.clamp);
// the scale threshold stops it where the scale was raised to t; the symmetric max(A, B) splits it
// in half on a tie (torch.maximum). The float32 rounding of the scale passes it unchanged.
//
// alpha and beta are clamped to [0, 1] for use, and the gradient is the one auto-round's clamped
// parameter receives: auto-round clamps the parameter itself (wrapper.py, WrapperLinear:
// `min_scale.data.clamp_(0, 1)` before every forward, minmax_scale_bound), outside the autograd
// graph, so nothing masks the gradient. An alpha of 1.2 therefore quantizes and differentiates
// exactly like an alpha of 1. ClampAlphaBeta is auto-round's in-place clamp: a caller that applies
// it after every optimizer step keeps alpha and beta in [0, 1] as auto-round does. (Without it,
// alpha and beta may drift past 1 or below 0, where they act as 1 or 0 and still move with the
// gradient; masking that gradient instead would freeze them there for good under sign descent.)
#ifndef OPTBENCH_WORKER_ENGINE_QUANT_QUANTIZER_H_
#define OPTBENCH_WORKER_ENGINE_QUANT_QUANTIZER_H_

#include <Eigen/Core>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {

// How a weight matrix is quantized; precision independent.
struct QuantConfig {
  int bits = 4;             // One of 2, 3, 4, 8.
  int64_t group_size = 32;  // >= 1 and dividing the input width, or -1: one group per row.
  bool symmetric = false;
};

// InvalidArgument naming the bad value: bits not one of 2, 3, 4, 8
// ("quantize.bits: 5 is not one of 2, 3, 4, 8"), or group_size 0 or below -1.
absl::Status ValidateQuantConfig(const QuantConfig& c);

// ValidateQuantConfig, then InvalidArgument when layer `layer_id` of `in` inputs cannot be split
// into groups: there is no padding rule, so group_size must divide `in`
// ("quantize.group_size: 32 does not divide the 784 inputs of layer0.weight"); `in` must be >= 1.
absl::Status CheckGroupsFit(const QuantConfig& c, const std::string& layer_id, int64_t in);

// Groups per row: in / group_size, or 1 for group_size -1. Precondition: CheckGroupsFit passed
// (aborts otherwise).
int64_t NumGroups(const QuantConfig& c, int64_t in);

// The largest and smallest integer of a quantized weight: [0, 2^bits - 1] asymmetric,
// [-2^(bits-1), 2^(bits-1) - 1] symmetric.
int32_t MinQuantized(const QuantConfig& c);
int32_t MaxQuantized(const QuantConfig& c);

inline namespace OPTBENCH_ENGINE_PRECISION {

// The learnable rounding of one weight matrix W (out x in): the offset V (out x in) added before
// rounding, and alpha = max_scale, beta = min_scale (out x NumGroups), the factors on the group's
// largest and smallest weight. A plain value; the caller owns it.
struct RoundingParams {
  Matrix v, alpha, beta;
};

// V = 0, alpha = beta = 1: round to nearest (RTN). Also the zero gradient of those shapes.
// Precondition: CheckGroupsFit(c, id, in) passed.
RoundingParams InitialRounding(const QuantConfig& c, int64_t out, int64_t in);

// Clamps alpha and beta into [0, 1] in place, as auto-round does to its parameters before every
// forward (see the file comment); V is left alone. Quantize clamps for use either way.
void ClampAlphaBeta(RoundingParams* p);

// One quantization of W: the dequantized weights and what export needs.
struct QuantizedMatrix {
  Matrix dequantized;  // out x in, = scale * (q - zero) per group.
  // out x in integers in [MinQuantized(c), MaxQuantized(c)].
  Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> q;
  Matrix scale;  // out x groups; float32 values (exactly representable), negative allowed if sym.
  Matrix zero;   // out x groups; integral zero points in [0, 2^bits - 1] (asym), 0 (sym).
};

// Quantizes W (out x in) with the rounding `p` (shapes as InitialRounding's) into *out, resizing
// its members. Preconditions: CheckGroupsFit(c, id, in) passed, shapes agree (aborts otherwise),
// W and p are finite. Deterministic; allocation-free when *out already has the shapes.
void Quantize(const ConstMatrixRef& w, const RoundingParams& p, const QuantConfig& c,
              QuantizedMatrix* out);

// The straight-through backward of Quantize: given d_dequantized = dL/d(dequantized) (out x in),
// ADDS dL/dV, dL/dalpha and dL/dbeta into grad->v, grad->alpha, grad->beta (shapes as p's; the
// caller zeroes them). Recomputes the forward's intermediates from (w, p). Preconditions as
// Quantize's, and d_dequantized and *grad have the shapes of W and p (aborts otherwise).
void QuantizeBackward(const ConstMatrixRef& w, const RoundingParams& p, const QuantConfig& c,
                      const ConstMatrixRef& d_dequantized, RoundingParams* grad);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_QUANT_QUANTIZER_H_
