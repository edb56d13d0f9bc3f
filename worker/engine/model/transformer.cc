#include "worker/engine/model/transformer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "worker/engine/random.h"

namespace optbench::engine {

absl::Status ValidateTransformerOptions(const TransformerOptions& o) {
  const std::pair<const char*, int64_t> sizes[] = {
      {"context", o.context}, {"vocab", o.vocab},   {"d_model", o.d_model},
      {"heads", o.heads},     {"layers", o.layers}, {"mlp_width", o.mlp_width}};
  for (const auto& [name, value] : sizes) {
    if (value < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.", name, ": ", value, " must be >= 1 for the transformer"));
    }
  }
  if (o.d_model % o.heads != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.heads: d_model ", o.d_model, " is not divisible by heads ", o.heads));
  }
  if (!(o.init_std > 0) || !std::isfinite(o.init_std)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.init_std: ", o.init_std, " must be > 0 and finite"));
  }
  return absl::OkStatus();
}

namespace {

// Parameters of one full block: LN1, Q/K/V/O with biases, LN2, MLP with biases.
int64_t BlockParams(const TransformerOptions& o) {
  const int64_t d = o.d_model, m = o.mlp_width;
  return 2 * d + 4 * (d * d + d) + 2 * d + (m * d + m) + (d * m + d);
}

}  // namespace

int64_t TransformerParameterCount(const TransformerOptions& o) {
  const int64_t d = o.d_model, head = o.vocab * d + o.vocab;
  if (o.last_layer_only) return head;
  return o.vocab * d + (o.sinusoidal ? 0 : o.context * d) + o.layers * BlockParams(o) + 2 * d +
         head;
}

int64_t TransformerFrozenReals(const TransformerOptions& o) {
  const int64_t d = o.d_model;
  if (o.last_layer_only) return o.vocab * d + o.context * d + o.layers * 4 * (d * d + d);
  return o.sinusoidal ? o.context * d : 0;
}

int64_t TransformerFeatureCacheReals(const TransformerOptions& o, int64_t rows) {
  if (!o.last_layer_only) return 0;
  const int64_t per_row = o.context + (o.all_positions ? o.context : 1) * o.d_model;
  return rows >= kTransformerFeatureCacheMaxReals / per_row ? kTransformerFeatureCacheMaxReals
                                                            : rows * per_row;
}

int64_t TransformerBufferRealsPerRow(const TransformerOptions& o) {
  // Mirrors the allocations of TransformerModel::Forward / Backward per example (T positions).
  const int64_t t = o.context, d = o.d_model, m = o.mlp_width, full = o.last_layer_only ? 0 : 1;
  int64_t reals = t * d + t;  // hs_[0] and the token ids.
  for (int64_t l = 0; l < o.layers; ++l) {
    const int64_t tq = (l + 1 == o.layers && o.last_position_only && !o.all_positions) ? 1 : t;
    reals += tq * d;                                 // Block output.
    reals += 2 * t * d + full * (2 * t * d + t);     // k, v; xhat1, a, rstd1.
    reals += (tq < t ? tq * d : 0) + 3 * tq * d;     // aq; q, y, h1.
    reals += o.heads * tq * t;                       // Attention probabilities.
    reals += full * (2 * tq * d + tq + 2 * tq * m);  // xhat2, b, rstd2; u, g.
  }
  // The head positions' hidden states, xhatf, feat, rstdf.
  reals += (o.all_positions ? t : 1) * (3 * d + 1);
  reals += full * (8 * t * d + t * m);  // Backward scratch.
  return reals;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

constexpr double kLayerNormEps = 1e-5;

// Grows `m` to at least `rows` x `cols` (keeping capacity for later, smaller chunks).
void Ensure(Matrix* m, Eigen::Index rows, Eigen::Index cols) {
  if (m->rows() < rows || m->cols() != cols) m->resize(std::max(rows, m->rows()), cols);
}
void Ensure(Vector* v, Eigen::Index rows) {
  if (v->rows() < rows) v->resize(rows);
}

// FNV-1a over the token ids, for the feature cache (collisions are caught by the exact compare).
uint64_t HashTokens(const std::vector<int32_t>& tokens) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int32_t t : tokens) {
    h ^= static_cast<uint32_t>(t);
    h *= 0x100000001b3ULL;
  }
  return h;
}

void FillNormal(Rng* rng, double std, Matrix* m) {
  for (Eigen::Index i = 0; i < m->size(); ++i)
    m->data()[i] = static_cast<Real>(std * rng->Normal());
}

// Row-wise LayerNorm (torch.nn.LayerNorm: biased variance, eps inside the sqrt):
// out = xhat * gain + bias, xhat = (x - mean) * rstd. x and out may not alias.
void LayerNormForward(const ConstMatrixRef& x, const Matrix& gain, const Matrix& bias,
                      MatrixRef xhat, Eigen::Ref<Vector> rstd, MatrixRef out) {
  const Eigen::Index d = x.cols();
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const double mean = x.row(i).cast<double>().sum() / static_cast<double>(d);
    double var = 0;
    for (Eigen::Index j = 0; j < d; ++j) {
      const double c = static_cast<double>(x(i, j)) - mean;
      var += c * c;
    }
    const double rs = 1.0 / std::sqrt(var / static_cast<double>(d) + kLayerNormEps);
    rstd(i) = static_cast<Real>(rs);
    for (Eigen::Index j = 0; j < d; ++j) {
      xhat(i, j) = static_cast<Real>((static_cast<double>(x(i, j)) - mean) * rs);
    }
  }
  out.noalias() = (xhat.array().rowwise() * AsRow(gain).array()).matrix();
  out.rowwise() += AsRow(bias);
}

// dx += dL/dx for dy = dL/d(out); accumulates dL/dgain and dL/dbias.
void LayerNormBackward(const ConstMatrixRef& dy, const ConstMatrixRef& xhat,
                       const Eigen::Ref<const Vector>& rstd, const Matrix& gain, Matrix* dgain,
                       Matrix* dbias, MatrixRef dx) {
  using Row = Eigen::Matrix<Real, 1, Eigen::Dynamic>;
  const Eigen::Index d = dy.cols();
  const Real inv_d = Real{1} / static_cast<Real>(d);
  const Row g = AsRow(gain);
  Row dxhat(d);  // One row at a time, evaluated once.
  Row sum_gain = Row::Zero(d), sum_bias = Row::Zero(d);
  for (Eigen::Index i = 0; i < dy.rows(); ++i) {
    sum_gain += dy.row(i).cwiseProduct(xhat.row(i));
    sum_bias += dy.row(i);
    dxhat = dy.row(i).cwiseProduct(g);
    const Real mean_dxhat = dxhat.sum() * inv_d;
    const Real mean_dxhat_xhat = dxhat.dot(xhat.row(i)) * inv_d;
    dx.row(i).array() +=
        rstd(i) * (dxhat.array() - mean_dxhat - xhat.row(i).array() * mean_dxhat_xhat);
  }
  dgain->col(0) += sum_gain.transpose();
  dbias->col(0) += sum_bias.transpose();
}

// Exact GELU x Phi(x) and its derivative Phi(x) + x phi(x) (PyTorch's nn.GELU default).
Real Gelu(Real x) { return Real{0.5} * x * (Real{1} + std::erf(x * Real{M_SQRT1_2})); }
Real GeluGrad(Real x) {
  const Real cdf = Real{0.5} * (Real{1} + std::erf(x * Real{M_SQRT1_2}));
  const Real pdf = std::exp(Real{-0.5} * x * x) * Real{0.5 * M_2_SQRTPI * M_SQRT1_2};
  return cdf + x * pdf;
}

}  // namespace

TransformerModel::TransformerModel(const TransformerOptions& options, uint64_t seed)
    : o_(options), d_head_(options.d_model / options.heads) {
  OPTBENCH_CHECK(ValidateTransformerOptions(options).ok());
  const int64_t d = o_.d_model, t = o_.context, v = o_.vocab;
  const bool frozen = o_.last_layer_only;
  Rng rng(seed, RngStream::kInit);
  // Frozen features are unit scale (see the header); trained ones GPT-2's N(0, init_std^2).
  const double embed_std = frozen ? 1.0 : o_.init_std;
  embed_ = Matrix::Zero(v, d);
  FillNormal(&rng, embed_std, &embed_);
  pos_ = Matrix::Zero(t, d);
  if (o_.sinusoidal) {
    // Vaswani et al. (2017): PE(t, 2k) = sin(t / 10000^(2k/d)), PE(t, 2k+1) = cos(same).
    for (int64_t p = 0; p < t; ++p) {
      for (int64_t j = 0; j < d; ++j) {
        const double freq =
            std::exp(-static_cast<double>(j - j % 2) * std::log(10000.0) / static_cast<double>(d));
        const double angle = static_cast<double>(p) * freq;
        pos_(p, j) = static_cast<Real>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
      }
    }
  } else {
    FillNormal(&rng, embed_std, &pos_);
  }
  if (!frozen) {
    g_embed_ = Matrix::Zero(v, d);
    if (!o_.sinusoidal) g_pos_ = Matrix::Zero(t, d);
  }
  blocks_.resize(static_cast<size_t>(o_.layers));
  for (Block& blk : blocks_) InitBlock(&blk, &rng, frozen);
  hs_.resize(blocks_.size() + 1);
  if (!frozen) {
    lnf_gain_ = Matrix::Ones(d, 1);
    lnf_bias_ = Matrix::Zero(d, 1);
    g_lnf_gain_ = Matrix::Zero(d, 1);
    g_lnf_bias_ = Matrix::Zero(d, 1);
  }
  head_ = Matrix::Zero(v, d);
  head_bias_ = Matrix::Zero(v, 1);
  g_head_ = Matrix::Zero(v, d);
  g_head_bias_ = Matrix::Zero(v, 1);
  if (!o_.zero_head) FillNormal(&rng, o_.init_std, &head_);
}

void TransformerModel::InitBlock(Block* blk, Rng* rng, bool frozen) {
  const int64_t d = o_.d_model, m = o_.mlp_width;
  // Frozen attention: N(0, 1/d) keeps the residual stream at unit scale. Trained: GPT-2.
  const double std = frozen ? 1.0 / std::sqrt(static_cast<double>(d)) : o_.init_std;
  const double residual_std =
      frozen || !o_.scale_residual ? std : std / std::sqrt(2.0 * static_cast<double>(o_.layers));
  const auto dense = [&](Matrix* w, Matrix* b, int64_t out, int64_t in, double s) {
    *w = Matrix::Zero(out, in);
    *b = Matrix::Zero(out, 1);
    FillNormal(rng, s, w);
  };
  dense(&blk->wq, &blk->bq, d, d, std);
  dense(&blk->wk, &blk->bk, d, d, std);
  dense(&blk->wv, &blk->bv, d, d, std);
  dense(&blk->wo, &blk->bo, d, d, residual_std);
  if (frozen) return;  // No layer norms, no MLP, no gradients.
  blk->ln1_gain = Matrix::Ones(d, 1);
  blk->ln1_bias = Matrix::Zero(d, 1);
  blk->ln2_gain = Matrix::Ones(d, 1);
  blk->ln2_bias = Matrix::Zero(d, 1);
  dense(&blk->w1, &blk->b1, m, d, std);
  dense(&blk->w2, &blk->b2, d, m, residual_std);
  const std::pair<Matrix*, Matrix*> grads[] = {{&blk->g_ln1_gain, &blk->ln1_gain},
                                               {&blk->g_ln1_bias, &blk->ln1_bias},
                                               {&blk->g_wq, &blk->wq},
                                               {&blk->g_bq, &blk->bq},
                                               {&blk->g_wk, &blk->wk},
                                               {&blk->g_bk, &blk->bk},
                                               {&blk->g_wv, &blk->wv},
                                               {&blk->g_bv, &blk->bv},
                                               {&blk->g_wo, &blk->wo},
                                               {&blk->g_bo, &blk->bo},
                                               {&blk->g_ln2_gain, &blk->ln2_gain},
                                               {&blk->g_ln2_bias, &blk->ln2_bias},
                                               {&blk->g_w1, &blk->w1},
                                               {&blk->g_b1, &blk->b1},
                                               {&blk->g_w2, &blk->w2},
                                               {&blk->g_b2, &blk->b2}};
  for (const auto& [g, p] : grads) {
    *g = Matrix::Zero(p->rows(), p->cols());
  }
}

void TransformerModel::Forward(const ConstMatrixRef& x, MatrixRef logits) {
  const Eigen::Index r = x.rows(), t = o_.context, d = o_.d_model, n = r * t;
  const Eigen::Index nout = o_.all_positions ? n : r;  // Output rows: one per position, or per row.
  OPTBENCH_CHECK(x.cols() == o_.context && logits.rows() == nout && logits.cols() == o_.vocab &&
                 x.rows() >= 1);
  rows_ = r;
  ReadTokens(x);
  const uint64_t key = o_.last_layer_only ? HashTokens(tokens_) : 0;
  Ensure(&feat_, nout, d);
  auto feat = feat_.topRows(nout);
  if (o_.last_layer_only) {
    const auto it = feature_cache_.find(key);
    if (it != feature_cache_.end() && it->second.tokens == tokens_) {
      feat = it->second.features;
      logits.noalias() = feat * head_.transpose();
      logits.rowwise() += AsRow(head_bias_);
      forward_done_ = true;
      return;
    }
  }
  Ensure(&hs_[0], n, d);
  EmbedTokens(hs_[0].topRows(n));
  for (int64_t l = 0; l < o_.layers; ++l) ForwardBlock(l, r);
  // The head's positions: every one (all_positions), or the last of each example — row i of the
  // last block's output when it computed only that position, row i·T + T - 1 otherwise.
  const Block& last = blocks_.back();
  const Matrix& top = hs_.back();
  Matrix& hlast = o_.last_layer_only ? feat_ : dq_;  // Pre-norm input; dq_ is free until Backward.
  Ensure(&hlast, nout, d);
  if (o_.all_positions) {
    hlast.topRows(nout) = top.topRows(nout);
  } else {
    for (Eigen::Index i = 0; i < r; ++i) hlast.row(i) = top.row(last.tq == 1 ? i : i * t + t - 1);
  }
  if (!o_.last_layer_only) {
    Ensure(&xhatf_, nout, d);
    Ensure(&rstdf_, nout);
    LayerNormForward(hlast.topRows(nout), lnf_gain_, lnf_bias_, xhatf_.topRows(nout),
                     rstdf_.head(nout), feat);
  } else if (cached_reals_ + n + nout * d <= kTransformerFeatureCacheMaxReals &&
             feature_cache_.count(key) == 0) {
    feature_cache_.emplace(key, CachedFeatures{tokens_, feat});
    cached_reals_ += n + nout * d;
  }
  logits.noalias() = feat * head_.transpose();
  logits.rowwise() += AsRow(head_bias_);
  forward_done_ = true;
}

void TransformerModel::ReadTokens(const ConstMatrixRef& x) {
  // Token ids are copied (not viewed): Backward needs them and chunks reuse their buffers.
  const Eigen::Index r = x.rows(), t = o_.context;
  tokens_.resize(static_cast<size_t>(r * t));
  for (Eigen::Index i = 0; i < r; ++i) {
    for (Eigen::Index p = 0; p < t; ++p) {
      const Real id = x(i, p);
      OPTBENCH_CHECK(id >= 0 && id < static_cast<Real>(o_.vocab) && id == std::floor(id));
      tokens_[static_cast<size_t>(i * t + p)] = static_cast<int32_t>(id);
    }
  }
}

void TransformerModel::EmbedTokens(MatrixRef h) {
  const Eigen::Index t = o_.context;
  OPTBENCH_CHECK(h.rows() == static_cast<Eigen::Index>(tokens_.size()) && h.cols() == o_.d_model);
  for (Eigen::Index row = 0; row < h.rows(); ++row) {
    h.row(row) = embed_.row(tokens_[static_cast<size_t>(row)]) + pos_.row(row % t);
  }
}

void TransformerModel::ForwardBlock(int64_t l, Eigen::Index r) {
  Block& blk = blocks_[static_cast<size_t>(l)];
  const bool full = !o_.last_layer_only;
  const Eigen::Index t = o_.context, d = o_.d_model, m = o_.mlp_width, dh = d_head_;
  const Eigen::Index heads = o_.heads;
  const Eigen::Index tq = LastPositionOnly(l) ? 1 : t;
  const Eigen::Index n = r * t, nq = r * tq;
  blk.tq = tq;
  const auto h = hs_[static_cast<size_t>(l)].topRows(n);
  Ensure(&blk.k, n, d);
  Ensure(&blk.v, n, d);
  Ensure(&blk.q, nq, d);
  Ensure(&blk.y, nq, d);
  Ensure(&blk.h1, nq, d);
  Ensure(&blk.probs, r * heads * tq, t);
  if (tq < t) Ensure(&blk.aq, nq, d);
  if (full) {
    Ensure(&blk.xhat1, n, d);
    Ensure(&blk.a, n, d);
    Ensure(&blk.rstd1, n);
    LayerNormForward(h, blk.ln1_gain, blk.ln1_bias, blk.xhat1.topRows(n), blk.rstd1.head(n),
                     blk.a.topRows(n));
  }
  const ConstMatrixRef a = full ? ConstMatrixRef(blk.a.topRows(n)) : ConstMatrixRef(h);
  auto k = blk.k.topRows(n);
  auto v = blk.v.topRows(n);
  k.noalias() = a * blk.wk.transpose();
  k.rowwise() += AsRow(blk.bk);
  v.noalias() = a * blk.wv.transpose();
  v.rowwise() += AsRow(blk.bv);
  // Query rows: every position, or the last tq of each example.
  if (tq < t) {
    for (Eigen::Index i = 0; i < r; ++i) {
      blk.aq.middleRows(i * tq, tq) = a.middleRows(i * t + t - tq, tq);
    }
  }
  const ConstMatrixRef aq = tq < t ? ConstMatrixRef(blk.aq.topRows(nq)) : a;
  auto q = blk.q.topRows(nq);
  q.noalias() = aq * blk.wq.transpose();
  q.rowwise() += AsRow(blk.bq);
  const Real scale = Real{1} / std::sqrt(static_cast<Real>(dh));
  auto y = blk.y.topRows(nq);
  for (Eigen::Index i = 0; i < r; ++i) {
    for (Eigen::Index hd = 0; hd < heads; ++hd) {
      auto p = blk.probs.middleRows((i * heads + hd) * tq, tq);
      p.noalias() = (q.block(i * tq, hd * dh, tq, dh) * k.block(i * t, hd * dh, t, dh).transpose());
      for (Eigen::Index qi = 0; qi < tq; ++qi) {
        const Eigen::Index visible = t - tq + qi + 1;  // Causal: keys at positions <= the query's.
        auto row = p.row(qi);
        const Real mx = (row.head(visible) * scale).maxCoeff();
        row.head(visible) = ((row.head(visible) * scale).array() - mx).exp().matrix();
        row.head(visible) /= row.head(visible).sum();
        row.tail(t - visible).setZero();
      }
      y.block(i * tq, hd * dh, tq, dh).noalias() = p * v.block(i * t, hd * dh, t, dh);
    }
  }
  auto h1 = blk.h1.topRows(nq);
  h1.noalias() = y * blk.wo.transpose();
  h1.rowwise() += AsRow(blk.bo);
  for (Eigen::Index i = 0; i < r; ++i) {
    h1.middleRows(i * tq, tq) += h.middleRows(i * t + t - tq, tq);
  }
  Matrix& out_buf = hs_[static_cast<size_t>(l + 1)];
  Ensure(&out_buf, nq, d);
  auto out = out_buf.topRows(nq);
  if (!full) {
    out = h1;
    return;
  }
  Ensure(&blk.xhat2, nq, d);
  Ensure(&blk.b, nq, d);
  Ensure(&blk.rstd2, nq);
  Ensure(&blk.u, nq, m);
  Ensure(&blk.g, nq, m);
  LayerNormForward(h1, blk.ln2_gain, blk.ln2_bias, blk.xhat2.topRows(nq), blk.rstd2.head(nq),
                   blk.b.topRows(nq));
  auto u = blk.u.topRows(nq);
  auto g = blk.g.topRows(nq);
  u.noalias() = blk.b.topRows(nq) * blk.w1.transpose();
  u.rowwise() += AsRow(blk.b1);
  g = u.unaryExpr([](Real z) { return Gelu(z); });
  out.noalias() = g * blk.w2.transpose();
  out.rowwise() += AsRow(blk.b2);
  out += h1;
}

void TransformerModel::Backward(const ConstMatrixRef& dlogits) {
  const Eigen::Index r = rows_, t = o_.context, d = o_.d_model, n = r * t;
  const Eigen::Index nout = o_.all_positions ? n : r;
  OPTBENCH_CHECK(forward_done_ && dlogits.rows() == nout && dlogits.cols() == o_.vocab);
  forward_done_ = false;
  const auto feat = feat_.topRows(nout);
  g_head_.noalias() += dlogits.transpose() * feat;
  AddColumnSums(dlogits, g_head_bias_);
  if (o_.last_layer_only) return;  // Everything below the head is frozen.

  // Ensure the scratch buffers (the largest block needs r·T rows each).
  for (Matrix* s : {&dh_a_, &dh_b_, &da_, &dk_, &dv_, &dq_, &dy_, &dxq_}) Ensure(s, n, d);
  Ensure(&du_, n, o_.mlp_width);
  Ensure(&dscore_, t, t);
  // Through the head and the final norm into the head positions' hidden states.
  const Eigen::Index tq_last = blocks_.back().tq;
  auto dout = dh_a_.topRows(r * tq_last);
  auto dfeat = dy_.topRows(nout);
  dfeat.noalias() = dlogits * head_;
  if (o_.all_positions) {
    dout.setZero();
    LayerNormBackward(dfeat, xhatf_.topRows(nout), rstdf_.head(nout), lnf_gain_, &g_lnf_gain_,
                      &g_lnf_bias_, dout);
  } else {
    dout.setZero();
    Matrix& dlast = dxq_;
    dlast.topRows(r).setZero();
    LayerNormBackward(dfeat, xhatf_.topRows(r), rstdf_.head(r), lnf_gain_, &g_lnf_gain_,
                      &g_lnf_bias_, dlast.topRows(r));
    for (Eigen::Index i = 0; i < r; ++i) {
      dout.row(tq_last == 1 ? i : i * t + t - 1) = dlast.row(i);
    }
  }
  Matrix* cur = &dh_a_;
  Matrix* below = &dh_b_;
  for (int64_t l = o_.layers; l-- > 0;) {
    const Eigen::Index nq = r * blocks_[static_cast<size_t>(l)].tq;
    BackwardBlock(l, r, cur->topRows(nq), below->topRows(n));
    std::swap(cur, below);
  }
  // cur = dL/d(embeddings), r·T x d.
  for (Eigen::Index row = 0; row < n; ++row) {
    g_embed_.row(tokens_[static_cast<size_t>(row)]) += cur->row(row);
    if (!o_.sinusoidal) g_pos_.row(row % t) += cur->row(row);
  }
}

void TransformerModel::BackwardBlock(int64_t l, Eigen::Index r, MatrixRef dout, MatrixRef din) {
  Block& blk = blocks_[static_cast<size_t>(l)];
  const Eigen::Index t = o_.context, dh = d_head_, heads = o_.heads;
  const Eigen::Index tq = blk.tq, n = r * t, nq = r * tq;
  const auto a = blk.a.topRows(n);
  const auto k = blk.k.topRows(n);
  const auto v = blk.v.topRows(n);
  const auto q = blk.q.topRows(nq);
  // MLP: out = h1 + gelu(b W1^T + b1) W2^T + b2, b = LN2(h1).
  {
    const auto g = blk.g.topRows(nq);
    blk.g_w2.noalias() += dout.transpose() * g;
    AddColumnSums(dout, blk.g_b2);
    auto du = du_.topRows(nq);
    du.noalias() = dout * blk.w2;
    du.array() *= blk.u.topRows(nq).unaryExpr([](Real z) { return GeluGrad(z); }).array();
    blk.g_w1.noalias() += du.transpose() * blk.b.topRows(nq);
    AddColumnSums(du, blk.g_b1);
    auto db = dxq_.topRows(nq);
    db.noalias() = du * blk.w1;
    // dout becomes dL/dh1: the residual path plus the path through LN2.
    LayerNormBackward(db, blk.xhat2.topRows(nq), blk.rstd2.head(nq), blk.ln2_gain, &blk.g_ln2_gain,
                      &blk.g_ln2_bias, dout);
  }
  // Attention: h1 = h[query rows] + y Wo^T + bo.
  const auto dh1 = dout;
  blk.g_wo.noalias() += dh1.transpose() * blk.y.topRows(nq);
  AddColumnSums(dh1, blk.g_bo);
  auto dy = dy_.topRows(nq);
  dy.noalias() = dh1 * blk.wo;
  auto dq = dq_.topRows(nq);
  auto dk = dk_.topRows(n);
  auto dv = dv_.topRows(n);
  const Real scale = Real{1} / std::sqrt(static_cast<Real>(dh));
  for (Eigen::Index i = 0; i < r; ++i) {
    for (Eigen::Index hd = 0; hd < heads; ++hd) {
      const auto p = blk.probs.middleRows((i * heads + hd) * tq, tq);
      const auto dyb = dy.block(i * tq, hd * dh, tq, dh);
      auto ds = dscore_.topRows(tq);
      ds.noalias() = dyb * v.block(i * t, hd * dh, t, dh).transpose();  // dL/dP.
      dv.block(i * t, hd * dh, t, dh).noalias() = p.transpose() * dyb;
      // Softmax backward, then the 1/sqrt(d_head) scale: dS = scale P .* (dP - rowsum(dP .* P)).
      // Masked entries have P = 0, so their dS is 0.
      const Vector rowdot = (ds.array() * p.array()).rowwise().sum();
      ds = (scale * p.array() * (ds.array().colwise() - rowdot.array())).matrix();
      dq.block(i * tq, hd * dh, tq, dh).noalias() = ds * k.block(i * t, hd * dh, t, dh);
      dk.block(i * t, hd * dh, t, dh).noalias() = ds.transpose() * q.block(i * tq, hd * dh, tq, dh);
    }
  }
  const ConstMatrixRef aq = tq < t ? ConstMatrixRef(blk.aq.topRows(nq)) : ConstMatrixRef(a);
  blk.g_wq.noalias() += dq.transpose() * aq;
  AddColumnSums(dq, blk.g_bq);
  blk.g_wk.noalias() += dk.transpose() * a;
  AddColumnSums(dk, blk.g_bk);
  blk.g_wv.noalias() += dv.transpose() * a;
  AddColumnSums(dv, blk.g_bv);
  auto da = da_.topRows(n);
  da.noalias() = dk * blk.wk;
  da.noalias() += dv * blk.wv;
  if (tq == t) {
    da.noalias() += dq * blk.wq;
  } else {
    auto dxq = dxq_.topRows(nq);
    dxq.noalias() = dq * blk.wq;
    for (Eigen::Index i = 0; i < r; ++i)
      da.middleRows(i * t + t - tq, tq) += dxq.middleRows(i * tq, tq);
  }
  // din = residual (dh1 at the query rows, 0 elsewhere) + LN1's backward of da.
  if (tq == t) {
    din = dh1;
  } else {
    din.setZero();
    for (Eigen::Index i = 0; i < r; ++i)
      din.middleRows(i * t + t - tq, tq) = dh1.middleRows(i * tq, tq);
  }
  LayerNormBackward(da, blk.xhat1.topRows(n), blk.rstd1.head(n), blk.ln1_gain, &blk.g_ln1_gain,
                    &blk.g_ln1_bias, din);
}

std::vector<ParamSlot> TransformerModel::AllTensors() {
  feature_cache_.clear();
  cached_reals_ = 0;
  return Slots();
}

std::vector<ParamSlot> TransformerModel::Slots() {
  std::vector<ParamSlot> s;
  const auto grad = [](Matrix* g) { return g->size() == 0 ? nullptr : g; };
  s.push_back({"embed.token", &embed_, grad(&g_embed_), ParamRole::kEmbedding});
  if (!o_.sinusoidal) {
    s.push_back({"embed.position", &pos_, grad(&g_pos_), ParamRole::kEmbedding});
  }
  for (size_t l = 0; l < blocks_.size(); ++l) {
    Block& b = blocks_[l];
    const std::string p = absl::StrCat("block", l, ".");
    const auto add = [&](const char* name, Matrix* value, Matrix* g, ParamRole role) {
      if (value->size() > 0) s.push_back({absl::StrCat(p, name), value, grad(g), role});
    };
    constexpr ParamRole kM = ParamRole::kHiddenMatrix, kV = ParamRole::kVector;
    add("ln1.gain", &b.ln1_gain, &b.g_ln1_gain, kV);
    add("ln1.bias", &b.ln1_bias, &b.g_ln1_bias, kV);
    add("attn.q.weight", &b.wq, &b.g_wq, kM);
    add("attn.q.bias", &b.bq, &b.g_bq, kV);
    add("attn.k.weight", &b.wk, &b.g_wk, kM);
    add("attn.k.bias", &b.bk, &b.g_bk, kV);
    add("attn.v.weight", &b.wv, &b.g_wv, kM);
    add("attn.v.bias", &b.bv, &b.g_bv, kV);
    add("attn.o.weight", &b.wo, &b.g_wo, kM);
    add("attn.o.bias", &b.bo, &b.g_bo, kV);
    add("ln2.gain", &b.ln2_gain, &b.g_ln2_gain, kV);
    add("ln2.bias", &b.ln2_bias, &b.g_ln2_bias, kV);
    add("mlp.fc.weight", &b.w1, &b.g_w1, kM);
    add("mlp.fc.bias", &b.b1, &b.g_b1, kV);
    add("mlp.proj.weight", &b.w2, &b.g_w2, kM);
    add("mlp.proj.bias", &b.b2, &b.g_b2, kV);
  }
  if (!o_.last_layer_only) {
    s.push_back({"ln_f.gain", &lnf_gain_, &g_lnf_gain_, ParamRole::kVector});
    s.push_back({"ln_f.bias", &lnf_bias_, &g_lnf_bias_, ParamRole::kVector});
  }
  s.push_back({"head.weight", &head_, &g_head_, ParamRole::kOutputHead});
  s.push_back({"head.bias", &head_bias_, &g_head_bias_, ParamRole::kVector});
  return s;
}

std::vector<ParamSlot> TransformerModel::Params() {
  if (o_.last_layer_only) {
    return {{"head.weight", &head_, &g_head_, ParamRole::kOutputHead},
            {"head.bias", &head_bias_, &g_head_bias_, ParamRole::kVector}};
  }
  return Slots();
}

void TransformerModel::ZeroGrad() {
  for (const ParamSlot& s : Slots()) {
    if (s.grad != nullptr) s.grad->setZero();
  }
}

std::optional<ConstMatrixRef> TransformerModel::HeadInput() const {
  if (rows_ == 0) return std::nullopt;
  return ConstMatrixRef(feat_.topRows(o_.all_positions ? rows_ * o_.context : rows_));
}

bool TransformerModel::LastPositionOnly(int64_t layer) const {
  return layer + 1 == o_.layers && o_.last_position_only && !o_.all_positions && !every_position_;
}

ModelBlocks* TransformerModel::Blocks() {
  if (o_.last_layer_only) return nullptr;
  return &blockwise_;
}

std::vector<std::string> TransformerModel::Blockwise::BlockWeights(int64_t block) const {
  OPTBENCH_CHECK(block >= 0 && block <= num_blocks());
  if (block == num_blocks()) return {"head.weight"};
  const std::string p = absl::StrCat("block", block, ".");
  return {absl::StrCat(p, "attn.q.weight"), absl::StrCat(p, "attn.k.weight"),
          absl::StrCat(p, "attn.v.weight"), absl::StrCat(p, "attn.o.weight"),
          absl::StrCat(p, "mlp.fc.weight"), absl::StrCat(p, "mlp.proj.weight")};
}

void TransformerModel::Blockwise::Embed(const ConstMatrixRef& x, Matrix* h0) {
  OPTBENCH_CHECK(x.cols() == m_->o_.context && x.rows() >= 1);
  m_->rows_ = 0;  // Invalidates a pending Backward: tokens_ now hold x's ids.
  m_->forward_done_ = false;
  m_->ReadTokens(x);
  h0->resize(x.rows() * m_->o_.context, m_->o_.d_model);
  m_->EmbedTokens(*h0);
}

void TransformerModel::Blockwise::BlockForward(int64_t block, const ConstMatrixRef& in,
                                               Matrix* out) {
  TransformerModel& m = *m_;
  const Eigen::Index t = m.o_.context, d = m.o_.d_model;
  OPTBENCH_CHECK(block >= 0 && block <= num_blocks() && in.cols() == d && in.rows() % t == 0 &&
                 in.rows() >= t);
  m.rows_ = 0;
  m.forward_done_ = false;
  block_ = block;
  rows_ = in.rows() / t;
  const Eigen::Index n = in.rows();
  if (block == num_blocks()) {
    Ensure(&xhat_, n, d);
    Ensure(&feat_, n, d);
    Ensure(&rstd_, n);
    LayerNormForward(in, m.lnf_gain_, m.lnf_bias_, xhat_.topRows(n), rstd_.head(n),
                     feat_.topRows(n));
    out->resize(n, m.o_.vocab);
    out->noalias() = feat_.topRows(n) * m.head_.transpose();
    out->rowwise() += AsRow(m.head_bias_);
    return;
  }
  const size_t l = static_cast<size_t>(block);
  Ensure(&m.hs_[l], n, d);
  m.hs_[l].topRows(n) = in;
  m.every_position_ = true;
  m.ForwardBlock(block, rows_);
  m.every_position_ = false;
  *out = m.hs_[l + 1].topRows(n);
}

void TransformerModel::Blockwise::BlockBackward(int64_t block, const ConstMatrixRef& dout) {
  TransformerModel& m = *m_;
  const Eigen::Index t = m.o_.context, d = m.o_.d_model, n = rows_ * t;
  OPTBENCH_CHECK(block == block_ && rows_ > 0 && dout.rows() == n);
  if (block == num_blocks()) {
    OPTBENCH_CHECK(dout.cols() == m.o_.vocab);
    m.g_head_.noalias() += dout.transpose() * feat_.topRows(n);
    AddColumnSums(dout, m.g_head_bias_);
    Ensure(&dscratch_, n, d);
    auto dfeat = dscratch_.topRows(n);
    dfeat.noalias() = dout * m.head_;
    Matrix dx = Matrix::Zero(n, d);  // The input's gradient is not asked for.
    LayerNormBackward(dfeat, xhat_.topRows(n), rstd_.head(n), m.lnf_gain_, &m.g_lnf_gain_,
                      &m.g_lnf_bias_, dx);
    return;
  }
  OPTBENCH_CHECK(dout.cols() == d);
  for (Matrix* s : {&m.dh_a_, &m.dh_b_, &m.da_, &m.dk_, &m.dv_, &m.dq_, &m.dy_, &m.dxq_}) {
    Ensure(s, n, d);
  }
  Ensure(&m.du_, n, m.o_.mlp_width);
  Ensure(&m.dscore_, t, t);
  m.dh_a_.topRows(n) = dout;
  m.BackwardBlock(block, rows_, m.dh_a_.topRows(n), m.dh_b_.topRows(n));
}

ConstMatrixRef TransformerModel::FinalHiddenStates() const {
  OPTBENCH_CHECK(rows_ > 0 && blocks_.back().tq == o_.context);
  return ConstMatrixRef(hs_.back().topRows(rows_ * o_.context));
}

namespace {

// The transformer's options for `shape`; InvalidArgument as ValidateTransformerOptions.
absl::StatusOr<TransformerOptions> TransformerOptionsFor(TransformerOptions o,
                                                         const ModelShape& shape) {
  o.context = shape.num_features;
  o.vocab = shape.num_classes;
  o.all_positions = shape.outputs_per_example > 1;
  if (o.all_positions && shape.outputs_per_example != shape.num_features) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.name: the transformer outputs 1 or ", shape.num_features,
                     " (every position) rows per example, not ", shape.outputs_per_example));
  }
  if (absl::Status s = ValidateTransformerOptions(o); !s.ok()) return s;
  return o;
}

}  // namespace

const ModelDef& TransformerDefinition() {
  using O = TransformerOptions;
  static const ModelDef* def = [] {
    auto* d = new ModelDef(DefineModel<O>(
        "transformer",
        "decoder-only LM over contexts of token ids: embedding + positional encoding, pre-norm "
        "blocks (causal multi-head attention, GELU MLP), final LN, head on the last position "
        "(or every position for a sequence objective); last_layer_only = paper 1's "
        "frozen-features variant",
        spec::Binding<O>(
            {spec::Bind(&O::d_model, "d_model", spec::Closed(1, 65536),
                        "embedding / residual width d (divisible by heads)"),
             spec::Bind(&O::heads, "heads", spec::Closed(1, 4096),
                        "attention heads; d_head = d_model / heads"),
             spec::Bind(&O::layers, "layers", spec::Closed(1, 1000), "number of blocks L"),
             spec::Bind(&O::mlp_width, "mlp_width", spec::Closed(1, 1e6),
                        "hidden width of each block's MLP"),
             spec::BindChoice(&O::sinusoidal, "positional",
                              {{"learned", false}, {"sinusoidal", true}},
                              "positional encoding: a learned T x d table or fixed sin/cos"),
             spec::Bind(&O::last_layer_only, "last_layer_only",
                        "paper 1: no MLP, no layer norm; embeddings and attention frozen at "
                        "unit-scale random init; only head.weight/head.bias trained"),
             ZeroHeadField(&O::zero_head),
             spec::Bind(&O::init_std, "init_std", spec::LeftOpen(0, 10),
                        "GPT-2 init: weights and embeddings N(0, init_std^2), biases 0 (with "
                        "last_layer_only: the head only)"),
             spec::Bind(&O::scale_residual, "scale_residual",
                        "GPT-2: attn.o and mlp.proj weights init_std / sqrt(2 layers)")}),
        [](const O& given, const ModelShape& shape,
           uint64_t seed) -> absl::StatusOr<std::unique_ptr<Model>> {
          absl::StatusOr<O> o = TransformerOptionsFor(given, shape);
          if (!o.ok()) return o.status();
          return std::make_unique<TransformerModel>(*o, seed);
        },
        [](const O& given, const ModelShape& shape) -> absl::StatusOr<ModelFootprint> {
          absl::StatusOr<O> o = TransformerOptionsFor(given, shape);
          if (!o.ok()) return o.status();
          ModelFootprint f;
          f.parameters = TransformerParameterCount(*o);
          f.buffer_reals_per_row = TransformerBufferRealsPerRow(*o);
          // Frozen tensors (last_layer_only's embeddings and attention, a sinusoidal table):
          // values only, no gradient or optimizer state.
          f.fixed_reals = TransformerFrozenReals(*o);
          f.cache_reals_per_row = TransformerFeatureCacheReals(*o, 1);
          f.cache_max_reals = TransformerFeatureCacheReals(*o, kTransformerFeatureCacheMaxReals);
          return f;
        },
        // The data's sizes are not known yet: the options' placeholders (1) pass.
        [](const O& o) { return ValidateTransformerOptions(o); }));
    // Rows must be token ids below the class count; the model treats anything else as a broken
    // precondition.
    d->spec.needs = {"token_ids"};
    d->spec.provides = {"positions"};
    d->spec.blocks = [](const spec::ParamMap& p) {
      return spec::GetBool(p, "last_layer_only") ? int64_t{0} : spec::GetInt(p, "layers");
    };
    // Block l: attention's Q, K, V, O and the MLP's two projections; then the head.
    d->block_weights = [](const spec::ParamMap& p, const ModelShape&) {
      std::vector<BlockWeight> out;
      if (spec::GetBool(p, "last_layer_only")) return out;
      const int64_t layers = spec::GetInt(p, "layers");
      const int64_t d_model = spec::GetInt(p, "d_model");
      for (int64_t l = 0; l < layers; ++l) {
        const std::string b = absl::StrCat("block", l, ".");
        for (const char* w : {"attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.o.weight",
                              "mlp.fc.weight"}) {
          out.push_back({absl::StrCat(b, w), l, d_model});
        }
        out.push_back({absl::StrCat(b, "mlp.proj.weight"), l, spec::GetInt(p, "mlp_width")});
      }
      out.push_back({"head.weight", layers, d_model});
      return out;
    };
    return d;
  }();
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
