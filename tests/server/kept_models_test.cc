// Kept models and sources through both services over an in-process channel: a model uploaded in
// pieces on the Report stream and shown by GetJob / ListJobs, sources resolved at submission
// (and their errors), and LoadSourceModel streaming a source's model to the job that works on
// it. Against the engine's catalog plus the test task refine (tests/testing/source_catalog.h).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fnv1a.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "optbench/v1/coordinator.grpc.pb.h"
#include "optbench/v1/worker.grpc.pb.h"
#include "proto/convert.h"
#include "server/coordinator_service.h"
#include "server/scheduler.h"
#include "server/worker_service.h"
#include "storage/sqlite_store.h"
#include "tests/server/services_fixture.h"
#include "tests/testing/source_catalog.h"
#include "tests/testing/status_matchers.h"

namespace optbench::server {
namespace {

using ::optbench::testing::IsOkAndHolds;
using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Five train jobs: gd at lr 0.1, 0.2, 0.3 and 0.4, then adam (lr 0.001).
constexpr char kTrained[] = R"(name: trained
dataset: {name: heavy_tail_uniform, m: 3}
model: {name: linear}
trainer: {steps: 5, keep_model: true}
optimizer:
  - {name: gd, lr: [0.1, 0.2, 0.3, 0.4]}
  - {name: adam}
)";

uint64_t Checksum(const std::string& bytes) {
  Fnv1a64Hash hash;
  hash.Update(bytes);
  return hash.value();
}

std::string ModelBytes(size_t n, int salt) {
  std::string bytes(n, '\0');
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<char>((i * 197 + salt * 31 + 5) & 0xff);
  return bytes;
}

class KeptModelsTest : public ServicesFixture {
 protected:
  using ReportStream = grpc::ClientReaderWriter<v1::ReportRequest, v1::ReportResponse>;

  const spec::Catalog& catalog() const override { return optbench::testing::SourceCatalog(); }

  absl::StatusOr<v1::SubmitSweepResponse> Submit(const std::string& text, bool dry_run = false) {
    grpc::ClientContext context;
    v1::SubmitSweepRequest request;
    request.set_sweep_text(text);
    request.set_source_name("sweep.yaml");
    request.set_dry_run(dry_run);
    v1::SubmitSweepResponse response;
    grpc::Status s = client_->SubmitSweep(&context, request, &response);
    if (!s.ok()) return FromGrpcStatus(s);
    return response;
  }

  // Sends `model` for the leased job in pieces of `piece_bytes` on one Report stream, each
  // acknowledged; the stream's final status (OK when every piece was taken).
  absl::Status Upload(const v1::AcquireJobResponse& leased, const std::string& model,
                      size_t piece_bytes, uint64_t checksum) {
    grpc::ClientContext context;
    std::unique_ptr<ReportStream> stream = workers_->Report(&context);
    int64_t seq = 0;
    for (size_t offset = 0; offset < model.size(); offset += piece_bytes) {
      v1::ReportRequest r;
      r.set_job_id(leased.job().id());
      r.set_lease_token(leased.lease_token());
      r.set_seq(++seq);
      v1::KeptModelChunk* piece = r.mutable_kept_model_chunk();
      piece->set_total_bytes(static_cast<int64_t>(model.size()));
      piece->set_offset(static_cast<int64_t>(offset));
      piece->set_checksum(checksum);
      piece->set_data(model.substr(offset, piece_bytes));
      v1::ReportResponse ack;
      if (!stream->Write(r) || !stream->Read(&ack)) break;
      EXPECT_EQ(ack.acked_seq(), seq);
    }
    stream->WritesDone();
    return FromGrpcStatus(stream->Finish());
  }

  void Complete(const v1::AcquireJobResponse& leased) { ASSERT_OK(Succeed(leased)); }

  // kTrained submitted and run: jobs 0 and 1 succeeded with models (models_[id]), job 2
  // succeeded without one, job 3 failed, job 4 is still running.
  void RunTrainedSweep() {
    ASSERT_OK_AND_ASSIGN(v1::SubmitSweepResponse submitted, Submit(kTrained));
    trained_ = submitted.sweep().id();
    for (int i = 0; i < 5; ++i) {
      const v1::AcquireJobResponse leased = Acquire();
      ASSERT_TRUE(leased.has_job());
      ASSERT_EQ(leased.job().index(), i);
      ids_.push_back(leased.job().id());
      if (i < 2) {
        const std::string model = ModelBytes(700 + 100 * i, i);
        ASSERT_OK(Upload(leased, model, 256, Checksum(model)));
        models_[leased.job().id()] = model;
      }
      if (i < 3) Complete(leased);
      if (i == 3) {
        ASSERT_OK(Fail(leased, "broken", /*release=*/false, /*permanent=*/true));
      }
    }
  }

  std::string trained_;
  std::vector<std::string> ids_;
  std::map<std::string, std::string> models_;
};

TEST_F(KeptModelsTest, AModelUploadedInPiecesShowsInGetJobAndListJobs) {
  ASSERT_OK_AND_ASSIGN(v1::SubmitSweepResponse submitted, Submit(kTrained));
  const v1::AcquireJobResponse leased = Acquire();
  ASSERT_TRUE(leased.has_job());
  const std::string model = ModelBytes(1000, 3);
  // A piece that spoils the checksum: refused when the last piece comes, the job has no model.
  std::string corrupted = model;
  corrupted[500] ^= 0x20;
  EXPECT_THAT(Upload(leased, corrupted, 300, Checksum(model)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("corrupted on the way")));
  EXPECT_FALSE(GetJob(leased.job().id()).has_kept_model());
  // Sent again from the start, it is kept; it shows before the job even completes.
  ASSERT_OK(Upload(leased, model, 300, Checksum(model)));
  const v1::Job job = GetJob(leased.job().id());
  ASSERT_TRUE(job.has_kept_model());
  EXPECT_EQ(job.kept_model().size_bytes(), 1000);
  EXPECT_EQ(job.kept_model().checksum(), Checksum(model));
  grpc::ClientContext context;
  v1::ListJobsRequest list;
  list.set_sweep_id(submitted.sweep().id());
  v1::ListJobsResponse listed;
  ASSERT_TRUE(client_->ListJobs(&context, list, &listed).ok());
  ASSERT_EQ(listed.jobs_size(), 5);
  EXPECT_EQ(listed.jobs(0).kept_model().size_bytes(), 1000);
  EXPECT_FALSE(listed.jobs(1).has_kept_model());
}

// Every piece a stream of model pieces gives, or its error.
absl::StatusOr<std::vector<v1::KeptModelChunk>> ReadPieces(
    grpc::ClientReader<v1::KeptModelChunk>* reader) {
  std::vector<v1::KeptModelChunk> pieces;
  v1::KeptModelChunk piece;
  while (reader->Read(&piece)) pieces.push_back(piece);
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FromGrpcStatus(s);
  return pieces;
}

// The reply of LoadSourceModel for `leased`: its pieces, or the stream's error.
absl::StatusOr<std::vector<v1::KeptModelChunk>> LoadSource(v1::WorkerService::Stub* workers,
                                                           const std::string& job_id,
                                                           const std::string& token) {
  grpc::ClientContext context;
  v1::LoadSourceModelRequest request;
  request.set_job_id(job_id);
  request.set_lease_token(token);
  return ReadPieces(workers->LoadSourceModel(&context, request).get());
}

TEST_F(KeptModelsTest, EachJobASourceMeansBecomesOneJobThatWorksOnItsModel) {
  RunTrainedSweep();
  // By name and by id, by label and by field, numbers compared as numbers; times a grid of two.
  ASSERT_OK_AND_ASSIGN(
      v1::SubmitSweepResponse refined,
      Submit(absl::StrCat("task: refine\nsource: [{sweep: trained, lr: 1e-1}, "
                          "{sweep: ",
                          trained_, ", optimizer.lr: 0.2}]\nrefine: {steps: [1, 2]}\n")));
  ASSERT_EQ(refined.jobs_size(), 4);
  const std::string sources[] = {ids_[0], ids_[1], ids_[0], ids_[1]};
  ASSERT_OK_AND_ASSIGN(const spec::JobSpec want, proto::FromProto(GetJob(ids_[0]).spec()));
  for (int i = 0; i < 4; ++i) {
    const v1::Job& job = refined.jobs(i);
    EXPECT_EQ(job.spec().settings().at("source").string_value(), sources[i]) << i;
    EXPECT_EQ(job.spec().settings().at("source_seed").int_value(), 0) << i;
    EXPECT_EQ(job.spec().settings().at("steps").int_value(), i < 2 ? 1 : 2) << i;
    // The source's data set, model and objective, copied in.
    ASSERT_OK_AND_ASSIGN(const spec::JobSpec got, proto::FromProto(job.spec()));
    for (const char* slot : {"dataset", "model", "objective"}) {
      EXPECT_TRUE(got.component(slot) == want.component(slot)) << i << " " << slot;
    }
    EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  }
  // Labelled by the source and, of its labels, what varies: its lr, not its optimizer or seed.
  const std::map<std::string, std::string> labels(refined.jobs(1).labels().begin(),
                                                  refined.jobs(1).labels().end());
  EXPECT_EQ(labels,
            (std::map<std::string, std::string>{
                {"source", ids_[1]}, {"source.lr", "0.2"}, {"refine.steps", "1"}, {"seed", "0"}}));
}

TEST_F(KeptModelsTest, DryRunsAndTheJobsApiResolveToo) {
  RunTrainedSweep();
  ASSERT_OK_AND_ASSIGN(v1::SubmitSweepResponse dry,
                       Submit(absl::StrCat("task: refine\nsource: ", ids_[1], "\n"), true));
  ASSERT_EQ(dry.jobs_size(), 1);
  EXPECT_EQ(dry.jobs(0).spec().settings().at("source").string_value(), ids_[1]);
  EXPECT_EQ(dry.jobs(0).spec().model().name(), "linear");
  EXPECT_THAT(store_->ListSweeps(10), IsOkAndHolds(::testing::SizeIs(1)));

  grpc::ClientContext context;
  v1::SubmitSweepRequest request;
  v1::JobSpec* spec = request.add_jobs();
  spec->set_task("refine");
  (*spec->mutable_settings())["source"].set_string_value("sweep=trained,lr=0.2");
  v1::SubmitSweepResponse response;
  ASSERT_TRUE(client_->SubmitSweep(&context, request, &response).ok());
  ASSERT_EQ(response.jobs_size(), 1);
  EXPECT_EQ(response.jobs(0).spec().settings().at("source").string_value(), ids_[1]);
  EXPECT_EQ(response.jobs(0).labels().at("source"), ids_[1]);
}

// The reply of DownloadKeptModel for `job_id`: its pieces, or the stream's error.
absl::StatusOr<std::vector<v1::KeptModelChunk>> Download(v1::Coordinator::Stub* client,
                                                         const std::string& job_id) {
  grpc::ClientContext context;
  v1::DownloadKeptModelRequest request;
  request.set_job_id(job_id);
  return ReadPieces(client->DownloadKeptModel(&context, request).get());
}

TEST_F(KeptModelsTest, DownloadKeptModelStreamsAJobsModelInPiecesAndNamesAJobWithout) {
  RunTrainedSweep();
  ASSERT_OK_AND_ASSIGN(std::vector<v1::KeptModelChunk> pieces, Download(client_.get(), ids_[0]));
  ASSERT_EQ(pieces.size(), 3u);  // 700 bytes uploaded in pieces of 256.
  std::string back;
  for (const v1::KeptModelChunk& piece : pieces) {
    EXPECT_EQ(piece.offset(), static_cast<int64_t>(back.size()));
    EXPECT_EQ(piece.total_bytes(), 700);
    EXPECT_EQ(piece.checksum(), Checksum(models_[ids_[0]]));
    back += piece.data();
  }
  EXPECT_EQ(back, models_[ids_[0]]);
  EXPECT_THAT(Download(client_.get(), ids_[2]),
              StatusIs(absl::StatusCode::kNotFound,
                       absl::StrCat("job ", ids_[2],
                                    " has no kept model (it is succeeded; a train job keeps one "
                                    "with trainer.keep_model: true, a quantize job when it "
                                    "succeeds)")));
  EXPECT_THAT(Download(client_.get(), ids_[4]),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("(it is running;")));
  EXPECT_THAT(Download(client_.get(), "s-00000000-9"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(KeptModelsTest, AJobThatWorkedOnASourceIsNoSourceItself) {
  RunTrainedSweep();
  ASSERT_OK(Submit(absl::StrCat("task: refine\nsource: ", ids_[0], "\n")).status());
  const v1::AcquireJobResponse leased = Acquire();
  ASSERT_TRUE(leased.has_job());
  const std::string output = ModelBytes(300, 7);
  ASSERT_OK(Upload(leased, output, 256, Checksum(output)));
  Complete(leased);
  EXPECT_THAT(Submit(absl::StrCat("task: refine\nsource: ", leased.job().id(), "\n")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       absl::StrCat("source '", leased.job().id(), "': job ", leased.job().id(),
                                    " is a refine job, which worked on a source itself: what it "
                                    "kept is its output, not a model to start from; name the "
                                    "job it worked on instead")));
}

TEST_F(KeptModelsTest, SourcesThatCannotBeUsedNameTheJobAndTheProblem) {
  RunTrainedSweep();
  const std::string refine = "task: refine\nsource: ";
  const struct {
    std::string source;
    std::string message;
  } cases[] = {
      {"{sweep: trained}", absl::StrCat("source 'sweep=trained': job ", ids_[2],
                                        " kept no model (a train job keeps one with "
                                        "trainer.keep_model: true)")},
      {ids_[3], absl::StrCat("source '", ids_[3], "': job ", ids_[3],
                             " did not succeed (state failed); only a succeeded job's model is "
                             "kept")},
      {ids_[4],
       absl::StrCat("source '", ids_[4], "': job ", ids_[4], " has not finished (state running)")},
      {"{sweep: trained, optimizer: sgd}",
       absl::StrCat("source 'sweep=trained,optimizer=sgd': no job of sweep ", trained_,
                    " ('trained', 5 jobs) matches optimizer=sgd; their labels: "
                    "lr=0.001|0.1|0.2|0.3|0.4, optimizer=adam|gd, seed=0")},
      {"{sweep: trained, optimiser: gd}",
       absl::StrCat("source 'sweep=trained,optimiser=gd': no job of sweep ", trained_,
                    " ('trained', 5 jobs) has a label or field 'optimiser'; their labels: "
                    "lr=0.001|0.1|0.2|0.3|0.4, optimizer=adam|gd, seed=0")},
      {"{sweep: nope}", "source 'sweep=nope': no sweep has the id or name 'nope'"},
      {"s-00000000-9", "source: no job has the id 's-00000000-9'"},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(Submit(refine + c.source + "\n"),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message))
        << c.source;
    EXPECT_THAT(Submit(refine + c.source + "\n", /*dry_run=*/true),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message))
        << c.source;
  }
  EXPECT_THAT(store_->ListSweeps(10), IsOkAndHolds(::testing::SizeIs(1)));
  // A name means the sweep's most recent one: a new 'trained' sweep has not run yet.
  ASSERT_OK(Submit(kTrained).status());
  EXPECT_THAT(
      Submit(refine + "{sweep: trained, lr: 0.1}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has not finished (state queued)")));
}

TEST_F(KeptModelsTest, LoadSourceModelStreamsTheSourcesModelInPieces) {
  RunTrainedSweep();
  ASSERT_OK(Submit(absl::StrCat("task: refine\nsource: ", ids_[1], "\n")).status());
  const v1::AcquireJobResponse leased = Acquire();
  ASSERT_TRUE(leased.has_job());
  ASSERT_EQ(leased.job().spec().task(), "refine");
  ASSERT_OK_AND_ASSIGN(std::vector<v1::KeptModelChunk> pieces,
                       LoadSource(workers_.get(), leased.job().id(), leased.lease_token()));
  const std::string& model = models_[ids_[1]];
  ASSERT_EQ(pieces.size(), 4u);  // 800 bytes uploaded in pieces of 256.
  std::string back;
  for (const v1::KeptModelChunk& piece : pieces) {
    EXPECT_EQ(piece.offset(), static_cast<int64_t>(back.size()));
    EXPECT_EQ(piece.total_bytes(), 800);
    EXPECT_EQ(piece.checksum(), Checksum(model));
    back += piece.data();
  }
  EXPECT_EQ(back, model);

  EXPECT_THAT(LoadSource(workers_.get(), leased.job().id(), "stale"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A job of a task without sources has none to load.
  ASSERT_OK(Submit(kTrained).status());
  const v1::AcquireJobResponse train = Acquire();
  ASSERT_TRUE(train.has_job());
  EXPECT_THAT(
      LoadSource(workers_.get(), train.job().id(), train.lease_token()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("works on no other job's model")));
}

}  // namespace
}  // namespace optbench::server
