// AdaMuon as simplified by paper 2 (Frans et al. 2025, kvfrans/matrix-whitening
// optimizers/adamuon.py; ALGORITHMS.md 2.4.7): Muon's orthogonalized momentum, then Adam-style
// variance adaptation of the orthogonalized update, with a full or a rank-1 variance.
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAMUON_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAMUON_H_

#include <map>
#include <string>

#include "worker/engine/optimizer/matrix_functions.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

enum class AdaMuonVariance {
  kFull,       // v = b2 v + (1 - b2) O^2.
  kRank1,      // Adafactor-style r c^T / mean(r) (ALGORITHMS.md 2.4.7).
  kRank1Code,  // The code's form: the rank-1 estimate times rows / cols (fan_out / fan_in).
};

struct AdaMuonOptions {
  double beta = 0.9;    // Momentum EMA.
  double beta2 = 0.95;  // Variance EMA.
  double eps = 1e-8;
  bool schedule_coefficients = true;  // The code's default schedule (kMuonScheduleCoefficients).
  int ns_steps = 5;
  double weight_decay = 0;  // Decoupled, scaled by lr.
  AdaMuonVariance variance = AdaMuonVariance::kFull;
};

// Per matrix slot G (m x n), t the step:
//   m = b m + (1 - b) G;  O = NewtonSchulz(m / (1 - b^t)) sqrt(max(1, m/n))  (Muon, paper variant);
//   full: v = b2 v + (1 - b2) O^2;  rank-1: r = b2 r + (1 - b2) rowmean(O^2) (m x 1),
//   c = b2 c + (1 - b2) colmean(O^2) (1 x n), v = r c / mean(r) (times m / n for kRank1Code);
//   U = O / (sqrt(v / (1 - b2^t)) + eps);  theta <- theta (1 - lr wd) - lr U.
//   While mean(r) = 0 (all O so far zero) the rank-1 v is 0, not the code's 0/0.
// Vector slots (role kVector; the paper never gives AdaMuon one) get bias-corrected Adam with
// (beta, beta2, eps) and the same weight decay [service default]. State per slot:
// "momentum_buffer" and "exp_avg_sq" (full) or "exp_avg_sq_row" (m x 1) / "exp_avg_sq_col"
// (1 x n); vectors "exp_avg", "exp_avg_sq". Not thread-safe.
class AdaMuon : public Optimizer {
 public:
  // Preconditions (checked): betas in [0, 1), eps > 0, ns_steps >= 0, weight_decay >= 0.
  explicit AdaMuon(const AdaMuonOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  AdaMuonOptions options_;
  std::map<std::string, NewtonSchulzWorkspace, std::less<>> work_;  // Per slot id.
  Matrix lookahead_, orthogonal_, variance_;
};

// The registered "adamuon".
const OptimizerDef& AdaMuonDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_ADAMUON_H_
