// The worker's Reporter against a real in-process gRPC server whose first stream breaks the way
// a restarting coordinator's does (UNAVAILABLE).
#include "worker/reporter.h"

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace optbench::worker {
namespace {

// Acknowledges every message; the first stream ends with UNAVAILABLE after `break_after` reads
// (acknowledging them first only if `ack_before_break`).
class BreakingService final : public v1::WorkerService::Service {
 public:
  BreakingService(int break_after, bool ack_before_break)
      : break_after_(break_after), ack_before_break_(ack_before_break) {}

  grpc::Status Report(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::ReportResponse, v1::ReportRequest>* stream) override {
    const int n = ++streams_;
    v1::ReportRequest r;
    int reads = 0;
    while (stream->Read(&r)) {
      {
        absl::MutexLock lock(&mu_);
        seen_.push_back(r.seq());
      }
      ++reads;
      const bool breaking = n == 1 && reads == break_after_;
      if (!breaking || ack_before_break_) {
        v1::ReportResponse ack;
        ack.set_acked_seq(r.seq());
        stream->Write(ack);
      }
      if (breaking) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    }
    return grpc::Status::OK;
  }

  int streams() const { return streams_.load(); }
  std::vector<int64_t> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  const int break_after_;
  const bool ack_before_break_;
  std::atomic<int> streams_{0};
  absl::Mutex mu_;
  std::vector<int64_t> seen_ ABSL_GUARDED_BY(mu_);
};

// Reads every message but acknowledges only while open (a coordinator stuck on a slow disk).
class GatedService final : public v1::WorkerService::Service {
 public:
  grpc::Status Report(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<v1::ReportResponse, v1::ReportRequest>* stream) override {
    v1::ReportRequest r;
    while (stream->Read(&r)) {
      {
        absl::MutexLock lock(&mu_);
        ++received_;
        mu_.Await(absl::Condition(&open_));
      }
      v1::ReportResponse ack;
      ack.set_acked_seq(r.seq());
      stream->Write(ack);
    }
    return grpc::Status::OK;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  int received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int received_ ABSL_GUARDED_BY(mu_) = 0;
};

class ReporterTest : public ::testing::Test {
 protected:
  void Serve(grpc::Service* service) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    ASSERT_GT(port, 0);
    stub_ = v1::WorkerService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                           grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  // Finish() on another thread, bounded: a hang fails the test instead of blocking it forever.
  static absl::Status FinishWithin(Reporter* reporter, absl::Duration limit) {
    auto done =
        std::async(std::launch::async, [reporter] { return reporter->Finish(absl::Seconds(10)); });
    if (done.wait_for(absl::ToChronoMilliseconds(limit)) != std::future_status::ready) {
      ADD_FAILURE() << "Finish() did not return within " << limit;
      std::quick_exit(3);  // The reporter's threads would block the test's exit.
    }
    return done.get();
  }

  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
};

v1::ReportRequest Metrics(int64_t step) {
  v1::ReportRequest r;
  r.mutable_metrics()->set_step(step);
  return r;
}

TEST_F(ReporterTest, FinishReturnsWhenTheStreamBreaksAfterEverythingWasAcknowledged) {
  BreakingService service(/*break_after=*/1, /*ack_before_break=*/true);
  Serve(&service);
  Reporter::Options options;
  options.heartbeat = absl::Seconds(60);
  Reporter reporter(stub_.get(), "job", "token", options);
  reporter.Start();
  ASSERT_TRUE(reporter.Send(Metrics(0)).ok());
  // The break races with Finish(); either way Finish must return OK, promptly.
  EXPECT_TRUE(FinishWithin(&reporter, absl::Seconds(30)).ok());
}

TEST_F(ReporterTest, UnacknowledgedReportsAreResentOnANewStream) {
  BreakingService service(/*break_after=*/2, /*ack_before_break=*/false);
  Serve(&service);
  Reporter::Options options;
  options.heartbeat = absl::Seconds(60);
  Reporter reporter(stub_.get(), "job", "token", options);
  reporter.Start();
  for (int step = 0; step < 4; ++step) ASSERT_TRUE(reporter.Send(Metrics(step)).ok());
  EXPECT_TRUE(FinishWithin(&reporter, absl::Seconds(30)).ok());
  EXPECT_EQ(service.streams(), 2);
  // Seq 2 was read but not acknowledged before the break, so it came again; every seq arrived.
  std::vector<int64_t> seen = service.seen();
  for (int64_t seq = 1; seq <= 4; ++seq) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), seq), seen.end()) << seq;
  }
  EXPECT_GE(std::count(seen.begin(), seen.end(), int64_t{2}), 2);
}

// Back-pressure by bytes: a large unacknowledged message (a checkpoint) holds the next one back
// even with the message window far from full; one message alone always goes through.
TEST_F(ReporterTest, SendWaitsWhileUnacknowledgedBytesWouldExceedTheBound) {
  GatedService service;
  Serve(&service);
  Reporter::Options options;
  options.heartbeat = absl::Seconds(60);
  options.max_unacked_bytes = 10'000;
  Reporter reporter(stub_.get(), "job", "token", options);
  reporter.Start();
  auto checkpoint = [](int64_t step) {
    v1::ReportRequest r;
    r.mutable_checkpoint()->set_step(step);
    r.mutable_checkpoint()->set_data(std::string(8'000, 'x'));
    return r;
  };
  ASSERT_TRUE(reporter.Send(checkpoint(1)).ok());  // Alone: let through.
  auto second = std::async(std::launch::async, [&] { return reporter.Send(checkpoint(2)); });
  // The server holds the first unacknowledged: the second stays in Send (it never reaches the
  // server) however long we wait.
  for (int i = 0; i < 50 && service.received() == 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(service.received(), 1);
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  EXPECT_EQ(service.received(), 1);
  service.Open();
  ASSERT_EQ(second.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(second.get().ok());
  EXPECT_TRUE(FinishWithin(&reporter, absl::Seconds(30)).ok());
  EXPECT_EQ(service.received(), 2);
}

}  // namespace
}  // namespace optbench::worker
