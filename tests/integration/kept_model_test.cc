// Kept models through real processes: a train job with trainer.keep_model run by an
// optbench-worker process uploads its final model in pieces (1 KiB here, so a small model takes
// several) to an optbench-coordinator process, which stores it in its SQLite file; the model
// equals the one the same job keeps in-process, survives the coordinator being killed and
// restarted, and reads back piece by piece as LoadSourceModel serves it.
#include <stdio.h>
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/convert.h"
#include "storage/sqlite_store.h"
#include "tests/integration/service_fixture.h"
#include "worker/engine/byte_io.h"
#include "worker/engine/run_job.h"

namespace optbench::testing {
namespace {

using KeptModelTest = ServiceFixture;

// What a job hands to OnKeptModel when run in this process.
class KeepingSink : public CaptureSink {
 public:
  absl::Status OnKeptModel(std::string bytes) override {
    kept = std::move(bytes);
    return absl::OkStatus();
  }
  std::optional<std::string> kept;
};

std::string KeptInProcess(const v1::JobSpec& wire) {
  auto spec = proto::FromProto(wire);
  EXPECT_TRUE(spec.ok()) << spec.status();
  KeepingSink sink;
  auto result = engine::RunJob(*spec, &sink, [] { return false; });
  EXPECT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(sink.kept.has_value());
  return sink.kept.value_or("");
}

// `optbench ARGS`: its standard output and error together.
std::string RunCli(const std::string& args) {
  FILE* pipe = popen(absl::StrCat(OPTBENCH_CLI_BIN, " ", args, " 2>&1").c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

int64_t NumberAfter(const std::string& log, const std::string& prefix) {
  const size_t at = log.find(prefix);
  if (at == std::string::npos) return -1;
  return std::atoll(log.c_str() + at + prefix.size());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(KeptModelTest, AKeptModelIsStoredInPiecesAndSurvivesACoordinatorRestart) {
  listen_port_ = FreePort();
  StartCoordinator();
  StartWorker("wa", {"--model_piece_kib=1"});
  // The same job twice, keeping its model or not.
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 3}
model: {name: mlp, hidden: [64]}
optimizer: {name: adam, lr: 0.01}
trainer: {steps: 20, eval_every: 10, keep_model: [true, false]}
)");
  ASSERT_EQ(sweep.jobs_size(), 2);
  std::vector<v1::Job> jobs = WaitForSweep(sweep.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(jobs.size(), 2u);
  for (const v1::Job& j : jobs) {
    ASSERT_EQ(j.state(), v1::JOB_STATE_SUCCEEDED) << j.id() << ": " << j.error();
  }
  const std::string model = KeptInProcess(jobs[0].spec());
  ASSERT_GT(model.size(), 3u << 10) << "make the model larger: it must take several pieces";
  ASSERT_TRUE(jobs[0].has_kept_model());
  EXPECT_EQ(jobs[0].kept_model().size_bytes(), static_cast<int64_t>(model.size()));
  EXPECT_EQ(jobs[0].kept_model().checksum(), engine::Fnv1a64(model));
  EXPECT_FALSE(jobs[1].has_kept_model());
  EXPECT_TRUE(WaitForLog(*workers_[0], absl::StrCat("kept model of ", model.size(), " bytes sent"),
                         absl::Seconds(1)));
  const std::string listing =
      RunCli(absl::StrCat("list ", sweep.sweep().id(), " --coordinator ", address_));
  EXPECT_NE(listing.find("model"), std::string::npos) << listing;
  EXPECT_NE(listing.find("KiB"), std::string::npos) << listing;

  // Killed without warning and started again on the same file: the model is still there.
  coordinator_->Kill(SIGKILL);
  coordinator_->Wait();
  StartCoordinator();
  const v1::Job after = GetJob(jobs[0].id());
  ASSERT_TRUE(after.has_kept_model());
  EXPECT_EQ(after.kept_model().size_bytes(), static_cast<int64_t>(model.size()));
  EXPECT_EQ(after.kept_model().checksum(), engine::Fnv1a64(model));

  // Read back from the file (read-only, beside the running coordinator) piece by piece, as
  // LoadSourceModel streams it: the same bytes.
  storage::SqliteStoreOptions read_only;
  read_only.read_only = true;
  auto store = storage::SqliteStore::Open(dir_ + "/optbench.db", read_only);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string back;
  int pieces = 0;
  while (back.size() < model.size()) {
    auto piece = (*store)->ReadKeptModelChunk(jobs[0].id(), static_cast<int64_t>(back.size()));
    ASSERT_TRUE(piece.ok()) << piece.status();
    EXPECT_LE(piece->data.size(), 1024u);
    back += piece->data;
    ++pieces;
  }
  EXPECT_EQ(back, model);
  EXPECT_EQ(pieces, static_cast<int>((model.size() + 1023) / 1024));

  // `optbench export` gives the same bytes, from the coordinator (DownloadKeptModel) and from the
  // file; a job without a model is an error naming it.
  const std::string remote = dir_ + "/remote.model";
  const std::string local = dir_ + "/local.model";
  EXPECT_NE(
      RunCli(absl::StrCat("export ", jobs[0].id(), " --out ", remote, " --coordinator ", address_))
          .find("wrote " + remote),
      std::string::npos);
  EXPECT_NE(RunCli(absl::StrCat("export ", jobs[0].id(), " --out ", local, " --db ", dir_,
                                "/optbench.db"))
                .find("wrote " + local),
            std::string::npos);
  EXPECT_EQ(ReadFile(remote), model);
  EXPECT_EQ(ReadFile(local), model);
  EXPECT_NE(RunCli(absl::StrCat("export ", jobs[1].id(), " --out ", dir_, "/none --coordinator ",
                                address_))
                .find(absl::StrCat("job ", jobs[1].id(), " has no kept model")),
            std::string::npos);
  EXPECT_FALSE(std::ifstream(dir_ + "/none").good());
}

TEST_F(KeptModelTest, AQuantizeJobWhoseWorkerIsKilledResumesAndGivesIdenticalResults) {
  listen_port_ = FreePort();
  StartCoordinator({"--lease_seconds=2", "--heartbeat_seconds=1"});
  StartWorker("trainer");
  v1::SubmitSweepResponse train = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 5}
model: {name: mlp, hidden: [128, 128, 128]}
optimizer: {name: adam, lr: 0.01}
trainer: {steps: 50, eval_every: 50, keep_model: true}
)");
  std::vector<v1::Job> trained = WaitForSweep(train.sweep().id(), absl::Seconds(60));
  ASSERT_EQ(trained.size(), 1u);
  ASSERT_EQ(trained[0].state(), v1::JOB_STATE_SUCCEEDED) << trained[0].error();
  workers_[0]->Kill(SIGKILL);
  workers_[0]->Wait();

  // Three blocks of `iters` steps each; a checkpoint after each block.
  constexpr int64_t kIters = 6000;
  const std::string quantize = absl::StrCat(
      "task: quantize\nsource: ", trained[0].id(),
      "\nquantize: {bits: 2, group_size: 16, samples: 64, batch_size: 32, eval_every: 500, "
      "iters: ",
      kIters, "}\n");
  Subprocess* doomed = StartWorker("doomed");
  v1::SubmitSweepResponse killed = Submit(quantize);
  ASSERT_EQ(killed.jobs_size(), 1);
  const std::string job_id = killed.jobs(0).id();
  // Killed without warning in the second block, after the first block's checkpoint.
  v1::Job job = WaitForProgress(job_id, kIters + 200, absl::Seconds(60));
  ASSERT_EQ(job.state(), v1::JOB_STATE_RUNNING) << job.error();
  ASSERT_LT(job.progress_step(), 3 * kIters) << "finished before the kill; make it longer";
  doomed->Kill(SIGKILL);
  doomed->Wait();
  Subprocess* rescuer = StartWorker("rescuer");
  std::vector<v1::Job> jobs = WaitForSweep(killed.sweep().id(), absl::Seconds(120));
  ASSERT_EQ(jobs.size(), 1u);
  ASSERT_EQ(jobs[0].state(), v1::JOB_STATE_SUCCEEDED) << jobs[0].error();
  EXPECT_EQ(jobs[0].attempt(), 2);
  const int64_t resumed = NumberAfter(rescuer->Log(), "resuming from the checkpoint at step ");
  EXPECT_GE(resumed, kIters) << rescuer->Log();
  EXPECT_EQ(resumed % kIters, 0) << rescuer->Log();
  ASSERT_TRUE(jobs[0].has_kept_model());

  // The same job again, undisturbed, on the same worker: the same numbers and the same model.
  v1::SubmitSweepResponse calm = Submit(quantize);
  std::vector<v1::Job> again = WaitForSweep(calm.sweep().id(), absl::Seconds(120));
  ASSERT_EQ(again.size(), 1u);
  ASSERT_EQ(again[0].state(), v1::JOB_STATE_SUCCEEDED) << again[0].error();
  EXPECT_EQ(again[0].attempt(), 1);
  for (const char* metric : {"loss", "block_mse", "block_mse_rtn", "agreement"}) {
    SCOPED_TRACE(metric);
    const std::map<int64_t, std::vector<double>> want = QueryPerClass(again[0].id(), metric);
    ASSERT_FALSE(want.empty());
    ExpectSameSeries(QueryPerClass(job_id, metric), want);
  }
  EXPECT_EQ(jobs[0].kept_model().checksum(), again[0].kept_model().checksum());
  EXPECT_EQ(jobs[0].kept_model().size_bytes(), again[0].kept_model().size_bytes());
}

}  // namespace
}  // namespace optbench::testing
