// Kept models through real processes: a train job with trainer.keep_model run by an
// optbench-worker process uploads its final model in pieces (1 KiB here, so a small model takes
// several) to an optbench-coordinator process, which stores it in its SQLite file; the model
// equals the one the same job keeps in-process, survives the coordinator being killed and
// restarted, and reads back piece by piece as LoadSourceModel serves it.
#include <stdio.h>
#include <sys/wait.h>

#include <csignal>
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
}

}  // namespace
}  // namespace optbench::testing
