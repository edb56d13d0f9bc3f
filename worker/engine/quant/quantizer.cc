#include "worker/engine/quant/quantizer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/check.h"

namespace optbench::engine {

absl::Status ValidateQuantConfig(const QuantConfig& c) {
  if (c.bits != 2 && c.bits != 3 && c.bits != 4 && c.bits != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantize.bits: ", c.bits, " is not one of 2, 3, 4, 8"));
  }
  if (c.group_size == 0 || c.group_size < -1) {
    return absl::InvalidArgumentError(absl::StrCat("quantize.group_size: ", c.group_size,
                                                   " is neither >= 1 nor -1 (one group per row)"));
  }
  return absl::OkStatus();
}

absl::Status CheckGroupsFit(const QuantConfig& c, const std::string& layer_id, int64_t in) {
  if (absl::Status s = ValidateQuantConfig(c); !s.ok()) return s;
  if (in < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("quantize: layer ", layer_id, " has ", in, " inputs; nothing to quantize"));
  }
  if (c.group_size != -1 && in % c.group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("quantize.group_size: ", c.group_size,
                                                   " does not divide the ", in, " inputs of ",
                                                   layer_id));
  }
  return absl::OkStatus();
}

int64_t NumGroups(const QuantConfig& c, int64_t in) {
  OPTBENCH_CHECK(CheckGroupsFit(c, "", in).ok());
  return c.group_size == -1 ? 1 : in / c.group_size;
}

int32_t MinQuantized(const QuantConfig& c) {
  return c.symmetric ? -(int32_t{1} << (c.bits - 1)) : 0;
}

int32_t MaxQuantized(const QuantConfig& c) {
  return c.symmetric ? (int32_t{1} << (c.bits - 1)) - 1 : (int32_t{1} << c.bits) - 1;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// auto-round's q_scale_thresh, at the float32 the scale is rounded to: torch.clamp compares in the
// scale's dtype, and a float64 threshold would make a clamped scale unexportable as float32.
constexpr float kScaleThreshold = 1e-5f;

Real RoundToFloat32(Real x) { return static_cast<Real>(static_cast<float>(x)); }

// torch.round: half to even. nearbyint rounds in the current mode (to nearest, ties to even, by
// default) without raising FE_INEXACT.
Real RoundHalfEven(Real x) { return std::nearbyint(x); }

// Everything one group's quantization needs besides V, and what the backward needs to reach alpha
// and beta. In the symmetric scheme A = hi a and B = -lo b are the two candidate extremes.
struct GroupScale {
  Real lo = 0;  // min(min(w), 0).
  Real hi = 0;  // max(max(w), 0).
  Real a = 1;   // alpha clamped to [0, 1].
  Real b = 1;   // beta clamped to [0, 1].
  Real scale = 0;
  Real zero = 0;  // The asymmetric zero point; 0 when symmetric.
  // The threshold left the scale alone, so the gradient reaches the range (alpha, beta).
  bool scale_passes = true;
  // Symmetric only: +1 when A < B (the scale is B / 2^(bits-1)), else -1 (it is -A / 2^(bits-1));
  // and d max(A, B) / dA, dB: 1 and 0 for the larger, half each on a tie (torch.maximum).
  Real sign = 0;
  Real share_a = 0;
  Real share_b = 0;
};

// The order of operations is auto-round's (and the fixture's): results are bit-identical to it
// in float64.
GroupScale ScaleOf(const Real* w, int64_t g, Real alpha, Real beta, const QuantConfig& c) {
  GroupScale s;
  Real min = w[0], max = w[0];
  for (int64_t j = 1; j < g; ++j) {
    min = std::min(min, w[j]);
    max = std::max(max, w[j]);
  }
  s.lo = std::min(min, Real{0});
  s.hi = std::max(max, Real{0});
  s.a = std::clamp(alpha, Real{0}, Real{1});
  s.b = std::clamp(beta, Real{0}, Real{1});
  const Real threshold = kScaleThreshold;
  if (!c.symmetric) {
    const Real wmin = s.lo * s.b, wmax = s.hi * s.a;
    const Real rounded = RoundToFloat32((wmax - wmin) / MaxQuantized(c));
    s.scale_passes = rounded >= threshold;
    s.scale = std::max(rounded, threshold);
    s.zero = RoundHalfEven(-wmin / s.scale);
    return s;
  }
  const Real big = s.hi * s.a, small = -(s.lo * s.b);
  s.sign = big < small ? 1 : -1;
  s.share_a = big > small ? 1 : big == small ? Real{0.5} : 0;
  s.share_b = small > big ? 1 : big == small ? Real{0.5} : 0;
  const Real rounded = RoundToFloat32(s.sign * std::max(big, small) / -MinQuantized(c));
  if (rounded < 0) {
    s.scale_passes = rounded <= -threshold;
    s.scale = std::min(rounded, -threshold);
  } else {
    s.scale_passes = rounded >= threshold;
    s.scale = std::max(rounded, threshold);
  }
  return s;
}

void CheckShapes(const ConstMatrixRef& w, const RoundingParams& p, int64_t groups) {
  OPTBENCH_CHECK(p.v.rows() == w.rows() && p.v.cols() == w.cols());
  OPTBENCH_CHECK(p.alpha.rows() == w.rows() && p.alpha.cols() == groups);
  OPTBENCH_CHECK(p.beta.rows() == w.rows() && p.beta.cols() == groups);
}

// Calls fn(r, k, first, g, s) for group k of row r of W, in order: its columns are
// [first, first + g) and s its GroupScale under p.
template <typename Fn>
void ForEachGroup(const ConstMatrixRef& w, const RoundingParams& p, const QuantConfig& c, Fn fn) {
  const int64_t groups = NumGroups(c, w.cols());
  const int64_t g = w.cols() / groups;
  CheckShapes(w, p, groups);
  for (int64_t r = 0; r < w.rows(); ++r) {
    for (int64_t k = 0; k < groups; ++k) {
      const int64_t first = k * g;
      fn(r, k, first, g, ScaleOf(w.row(r).data() + first, g, p.alpha(r, k), p.beta(r, k), c));
    }
  }
}

}  // namespace

RoundingParams InitialRounding(const QuantConfig& c, int64_t out, int64_t in) {
  const int64_t groups = NumGroups(c, in);
  return {Matrix::Zero(out, in), Matrix::Ones(out, groups), Matrix::Ones(out, groups)};
}

void ClampAlphaBeta(RoundingParams* p) {
  p->alpha = p->alpha.cwiseMax(Real{0}).cwiseMin(Real{1});
  p->beta = p->beta.cwiseMax(Real{0}).cwiseMin(Real{1});
}

void Quantize(const ConstMatrixRef& w, const RoundingParams& p, const QuantConfig& c,
              QuantizedMatrix* out) {
  const int64_t groups = NumGroups(c, w.cols());
  out->dequantized.resize(w.rows(), w.cols());
  out->q.resize(w.rows(), w.cols());
  out->scale.resize(w.rows(), groups);
  out->zero.resize(w.rows(), groups);
  const Real q_min = MinQuantized(c), q_max = MaxQuantized(c);
  ForEachGroup(w, p, c, [&](int64_t r, int64_t k, int64_t first, int64_t g, const GroupScale& s) {
    out->scale(r, k) = s.scale;
    out->zero(r, k) = s.zero;
    const Real* wg = w.row(r).data() + first;
    const Real* vg = &p.v(r, first);
    Real* y = &out->dequantized(r, first);
    int32_t* q_out = &out->q(r, first);
    // round(w/s + V) + zp, not round(w/s + V + zp): the same integer (zp is one), but the former
    // is what auto-round computes and what its gradient flows through.
    for (int64_t j = 0; j < g; ++j) {
      const Real q = std::clamp(RoundHalfEven(wg[j] / s.scale + vg[j]) + s.zero, q_min, q_max);
      q_out[j] = static_cast<int32_t>(q);
      y[j] = s.scale * (q - s.zero);
    }
  });
}

void QuantizeBackward(const ConstMatrixRef& w, const RoundingParams& p, const QuantConfig& c,
                      const ConstMatrixRef& d_dequantized, RoundingParams* grad) {
  CheckShapes(w, *grad, NumGroups(c, w.cols()));
  OPTBENCH_CHECK(d_dequantized.rows() == w.rows() && d_dequantized.cols() == w.cols());
  const Real q_min = MinQuantized(c), q_max = MaxQuantized(c);
  ForEachGroup(w, p, c, [&](int64_t r, int64_t k, int64_t first, int64_t g, const GroupScale& s) {
    const Real* wg = w.row(r).data() + first;
    const Real* vg = &p.v(r, first);
    const Real* dy = d_dequantized.row(r).data() + first;
    Real* dv = &grad->v(r, first);
    // Reverse sweep of y = s (clamp(round(w/s + V) + zp) - zp), round's derivative taken as 1.
    Real d_scale = 0, d_zero = 0;
    for (int64_t j = 0; j < g; ++j) {
      const Real ratio = wg[j] / s.scale;
      const Real x = RoundHalfEven(ratio + vg[j]) + s.zero;
      const Real q = std::clamp(x, q_min, q_max);
      d_scale += dy[j] * (q - s.zero);
      const Real d_q = dy[j] * s.scale;
      if (q_min <= x && x <= q_max) {
        dv[j] += d_q;
        // d(w/s)/ds = -(w/s)/s, evaluated in PyTorch's order.
        d_scale -= d_q * (ratio / s.scale);
        // zp enters y twice, as +zp inside the clamp and -zp outside: inside, they cancel.
      } else {
        d_zero -= d_q;
      }
    }
    if (!c.symmetric) {
      // zp = round_ste(-wmin / s) with wmin = lo b: d zp / d wmin = -1/s, d zp / ds = wmin/s^2.
      const Real wmin = s.lo * s.b;
      Real d_wmin = -d_zero / s.scale, d_wmax = 0;
      d_scale -= d_zero * ((-wmin / s.scale) / s.scale);
      if (s.scale_passes) {
        // s = (wmax - wmin) / (2^bits - 1).
        d_wmax += d_scale / q_max;
        d_wmin -= d_scale / q_max;
      }
      grad->alpha(r, k) += d_wmax * s.hi;
      grad->beta(r, k) += d_wmin * s.lo;
    } else if (s.scale_passes) {
      // s = sign max(A, B) / 2^(bits-1), A = hi a, B = -lo b.
      const Real d_max = d_scale / -q_min * s.sign;
      grad->alpha(r, k) += d_max * s.share_a * s.hi;
      grad->beta(r, k) -= d_max * s.share_b * s.lo;
    }
  });
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
