// One mini-batch Adam step (forward, cross-entropy, backward, update) through the engine's own
// Trainer, for the two models of issue 12's targets, on 1 or 2 GEMM threads:
//  - MLP 784-512-512-10 on Fashion-MNIST, batch 256;
//  - transformer on every position (sequence_cross_entropy): fortunes text, vocabulary 5,000,
//    context 64, d 128, 2 layers, 4 heads, MLP 512, batch 32 windows.
// The peer is bench/peer/torch_model_step.py (the same steps in PyTorch); run both with
// bench/run_model_step.sh, which reports the ratios. Wall time (threads).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "worker/engine/catalog.h"
#include "worker/engine/gemm_backend.h"
#include "worker/engine/task/train.h"
#include "worker/engine/trainer.h"

namespace optbench::engine {
namespace {

TrainJob MlpJob() {
  TrainJob job;
  job.dataset = {"fashion_mnist", {}};
  job.model = {"mlp", {{"hidden", std::vector<int64_t>{512, 512}}}};
  job.trainer.batch_size = 256;
  return job;
}

TrainJob TransformerJob() {
  TrainJob job;
  job.dataset = {"text", {{"vocab_size", int64_t{5000}}, {"context", int64_t{64}}}};
  job.model = {"transformer",
               {{"d_model", int64_t{128}},
                {"heads", int64_t{4}},
                {"layers", int64_t{2}},
                {"mlp_width", int64_t{512}}}};
  job.objective = {"sequence_cross_entropy", {}};
  job.trainer.batch_size = 32;
  return job;
}

void AdamSteps(benchmark::State& state, TrainJob job) {
  if (absl::Status s = SetGemmThreads(static_cast<int>(state.range(0))); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  job.optimizer = {"adam", {{"lr", 1e-3}}};
  job.trainer.steps = 1'000'000;
  auto validated = Catalog().Validate(job.ToSpec());
  if (!validated.ok()) {
    state.SkipWithError(std::string(validated.status().message()).c_str());
    return;
  }
  job = TrainJob::From(*validated);
  auto data = FindDataset(job.dataset.name).build(job.dataset.params);
  if (!data.ok()) {
    state.SkipWithError(std::string(data.status().message()).c_str());
    return;
  }
  const ObjectiveDef& objective = FindObjective(job.objective.name);
  TrainerParts parts;
  parts.objective = objective.build(job.objective.params, data->num_features());
  const ModelShape shape{data->num_features(), data->num_classes(),
                         parts.objective->outputs_per_example()};
  auto model = FindModel(job.model.name).build(job.model.params, shape, /*seed=*/0);
  auto optimizer = MakeOptimizer("adam", job.optimizer.params);
  Trainer trainer(job.trainer, 1e-3, &*data, model->get(), optimizer->get(), 0, std::move(parts));
  const std::vector<ParamSlot> params = (*model)->Params();
  for (auto _ : state) {
    benchmark::DoNotOptimize(trainer.MiniBatchGradient());
    (*optimizer)->Step(params, 1e-3);
  }
}

void BM_MlpAdamStep(benchmark::State& state) { AdamSteps(state, MlpJob()); }
void BM_TransformerAdamStep(benchmark::State& state) { AdamSteps(state, TransformerJob()); }
void OneAndTwoThreads(benchmark::internal::Benchmark* b) {
  b->Arg(1)->Arg(2)->ArgName("threads")->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
}
BENCHMARK(BM_MlpAdamStep)->Apply(OneAndTwoThreads);
BENCHMARK(BM_TransformerAdamStep)->Apply(OneAndTwoThreads);

}  // namespace
}  // namespace optbench::engine
