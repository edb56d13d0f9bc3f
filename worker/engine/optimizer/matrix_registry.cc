#include "worker/engine/optimizer/matrix_registry.h"

#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "worker/engine/optimizer/adamuon.h"
#include "worker/engine/optimizer/grouped.h"
#include "worker/engine/optimizer/muon.h"
#include "worker/engine/optimizer/shampoo.h"
#include "worker/engine/optimizer/soap.h"
#include "worker/engine/optimizer/spa.h"
#include "worker/engine/optimizer/splus.h"

namespace optbench::engine {
namespace {

// InvalidArgument when `given` sets one of `unused` (parameters the variant does not read).
absl::Status RejectUnused(const std::string& name, const std::string& variant,
                          const ParamMap& given, std::initializer_list<const char*> unused) {
  for (const char* param : unused) {
    if (given.count(param) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer.", param, ": not used by ", name, " variant '", variant, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<int64_t> MatrixOptimizerStateTensorsPerSlot(const std::string& name,
                                                          const ParamMap& validated) {
  if (name == "muon") return 1;
  if (name == "adamuon") return GetString(validated, "variance") == "full" ? 2 : 1;
  if (name == "soap" || name == "shampoo" || name == "spa") return 6;
  if (name == "splus") return 5;
  if (name == "paper2_adam") return 2;
  return std::nullopt;
}

inline namespace OPTBENCH_ENGINE_PRECISION {

absl::StatusOr<std::unique_ptr<Optimizer>> MakeMatrixOptimizer(const std::string& name,
                                                               const ParamMap& given,
                                                               const ParamMap& p) {
  if (name == "paper2_adam") return std::make_unique<Paper2AuxAdam>();
  if (name == "muon") {
    MuonOptions o;
    o.momentum = GetDouble(p, "momentum");
    o.nesterov = GetBool(p, "nesterov");
    o.schedule_coefficients = GetString(p, "ns_coefficients") == "schedule";
    o.ns_steps = static_cast<int>(GetInt(p, "ns_steps"));
    o.weight_decay = GetDouble(p, "weight_decay");
    o.paper_variant = GetString(p, "variant") == "paper";
    return std::make_unique<Muon>(o);
  }
  if (name == "adamuon") {
    AdaMuonOptions o;
    o.beta = GetDouble(p, "beta1");
    o.beta2 = GetDouble(p, "beta2");
    o.eps = GetDouble(p, "eps");
    o.schedule_coefficients = GetString(p, "ns_coefficients") == "schedule";
    o.ns_steps = static_cast<int>(GetInt(p, "ns_steps"));
    o.weight_decay = GetDouble(p, "weight_decay");
    const std::string& variance = GetString(p, "variance");
    o.variance = variance == "full"    ? AdaMuonVariance::kFull
                 : variance == "rank1" ? AdaMuonVariance::kRank1
                                       : AdaMuonVariance::kRank1Code;
    return std::make_unique<AdaMuon>(o);
  }
  if (name == "soap") {
    SoapOptions o;
    o.beta1 = GetDouble(p, "beta1");
    o.beta2 = GetDouble(p, "beta2");
    o.shampoo_beta = GetDouble(p, "shampoo_beta");
    o.eps = GetDouble(p, "eps");
    o.weight_decay = GetDouble(p, "weight_decay");
    o.precondition_frequency = GetInt(p, "precondition_frequency");
    o.max_precond_dim = GetInt(p, "max_precond_dim");
    o.normalize_grads = GetBool(p, "normalize_grads");
    o.correct_bias = GetBool(p, "correct_bias");
    o.paper_variant = GetString(p, "variant") == "paper";
    if (o.paper_variant) {
      if (absl::Status s = RejectUnused(name, "paper", given, {"normalize_grads", "correct_bias"});
          !s.ok()) {
        return s;
      }
    }
    return std::make_unique<Soap>(o);
  }
  if (name == "shampoo") {
    ShampooOptions o;
    o.beta1 = GetDouble(p, "beta1");
    o.beta2 = GetDouble(p, "beta2");
    o.eps = GetDouble(p, "eps");
    o.root_eps = GetDouble(p, "root_eps");
    o.weight_decay = GetDouble(p, "weight_decay");
    o.precondition_frequency = GetInt(p, "precondition_frequency");
    o.max_precond_dim = GetInt(p, "max_precond_dim");
    o.graft_adam = GetBool(p, "graft_adam");
    o.paper_variant = GetString(p, "variant") == "paper";
    if (o.paper_variant) {
      if (absl::Status s = RejectUnused(name, "paper", given, {"root_eps", "graft_adam"});
          !s.ok()) {
        return s;
      }
    }
    return std::make_unique<Shampoo>(o);
  }
  if (name == "splus") {
    SplusOptions o;
    o.beta1 = GetDouble(p, "beta1");
    o.beta2 = GetDouble(p, "beta2");
    o.lookahead = GetDouble(p, "lookahead");
    o.eps = GetDouble(p, "eps");
    o.weight_decay = GetDouble(p, "weight_decay");
    o.precondition_frequency = GetInt(p, "precondition_frequency");
    o.max_precond_dim = GetInt(p, "max_precond_dim");
    return std::make_unique<Splus>(o);
  }
  if (name == "spa") {
    SpaOptions o;
    o.beta1 = GetDouble(p, "beta1");
    o.beta2 = GetDouble(p, "beta2");
    o.eps = GetDouble(p, "eps");
    o.weight_decay = GetDouble(p, "weight_decay");
    o.precondition_frequency = GetInt(p, "precondition_frequency");
    o.max_precond_dim = GetInt(p, "max_precond_dim");
    return std::make_unique<Spa>(o);
  }
  return std::unique_ptr<Optimizer>();
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
