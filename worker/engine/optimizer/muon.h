// Muon: momentum orthogonalized by quintic Newton–Schulz (Jordan et al. 2024, KellerJordan/Muon
// muon.py; ALGORITHMS.md 0.7) and paper 2's variant (Frans et al. 2025, kvfrans/matrix-whitening
// optimizers/muon.py; ALGORITHMS.md 2.4.3).
#ifndef OPTBENCH_WORKER_ENGINE_OPTIMIZER_MUON_H_
#define OPTBENCH_WORKER_ENGINE_OPTIMIZER_MUON_H_

#include <map>
#include <string>

#include "worker/engine/optimizer/matrix_functions.h"
#include "worker/engine/optimizer/optimizer.h"
#include "worker/engine/optimizer/optimizer_def.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

struct MuonOptions {
  double momentum = 0.95;  // beta.
  // Look ahead M = (1 - beta) G + beta buf instead of buf (reference Nesterov = paper 2's
  // lookahead with lambda = 1 - beta).
  bool nesterov = true;
  bool schedule_coefficients = false;  // Paper 2's per-step schedule instead of the fixed triple.
  int ns_steps = 5;
  double weight_decay = 0;  // Decoupled: theta <- theta (1 - lr wd) before the step.
  // false: the reference, buf = beta buf + (1 - beta) G, X = M / (||M||_F + 1e-7).
  // true: paper 2, the same buffer bias-corrected, X = (M / (1 - beta^t)) / (||.||_F + 1e-8).
  bool paper_variant = false;
};

// For every slot that is not a vector (role != kVector), any m x n:
//   buf = beta buf + (1 - beta) G;  M = nesterov ? (1 - beta) G + beta buf : buf;
//   O = NewtonSchulz(M) on the short side;  U = O sqrt(max(1, m/n));
//   theta <- theta (1 - lr wd) - lr U.
// Vector slots (role kVector; the reference refuses non-2-D tensors) get the reference's
// auxiliary Adam rule instead (MuonWithAuxAdam: betas (0.9, 0.95), eps 1e-10, no weight decay,
// same lr); route them with GroupedOptimizer to choose another rule. State per slot:
// "momentum_buffer" (matrices) or "exp_avg"/"exp_avg_sq" (vectors). Not thread-safe.
class Muon : public Optimizer {
 public:
  // Preconditions (checked): 0 <= momentum < 1, ns_steps >= 0, weight_decay >= 0.
  explicit Muon(const MuonOptions& options);

 protected:
  void Update(const std::vector<ParamSlot>& slots, double lr) override;

 private:
  MuonOptions options_;
  std::map<std::string, NewtonSchulzWorkspace, std::less<>> work_;  // Per slot id.
  Matrix lookahead_, orthogonal_;
};

// The orthogonalized momentum direction shared by Muon and AdaMuon: updates "momentum_buffer" of
// `slot` in `state` and writes U = NewtonSchulz(M) sqrt(max(1, m/n)) to *u (see Muon).
void MuonDirection(const MuonOptions& options, OptimizerState* state, const ParamSlot& slot,
                   Matrix* lookahead, NewtonSchulzWorkspace* work, Matrix* u);

// The registered "muon".
const OptimizerDef& MuonDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_OPTIMIZER_MUON_H_
