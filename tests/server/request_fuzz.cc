// libFuzzer target over the coordinator's request validation: arbitrary bytes parsed as each
// request the services validate before touching storage. Validation must return a status for
// anything — never crash, hang or allocate without bound. The first byte picks the request.
#include <cstddef>
#include <cstdint>
#include <string>

#include "optbench/v1/coordinator.pb.h"
#include "optbench/v1/worker.pb.h"
#include "server/coordinator_service.h"
#include "server/worker_service.h"
#include "worker/engine/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      // A sweep submitted as protobuf (jobs or sweep_text).
      optbench::v1::SubmitSweepRequest request;
      if (!request.ParseFromString(bytes)) return 0;
      optbench::server::SubmitLimits limits;
      limits.max_jobs_per_sweep = 64;  // Bounds the work per input.
      (void)optbench::server::ExpandSubmission(request, optbench::engine::Catalog(), limits);
      break;
    }
    case 1: {
      // The sweep text itself, through the same path as SubmitSweep.
      optbench::v1::SubmitSweepRequest request;
      request.set_sweep_text(bytes);
      optbench::server::SubmitLimits limits;
      limits.max_jobs_per_sweep = 64;
      (void)optbench::server::ExpandSubmission(request, optbench::engine::Catalog(), limits);
      break;
    }
    default: {
      optbench::v1::MetricBatch batch;
      if (!batch.ParseFromString(bytes)) return 0;
      // Against the metrics a default train job declares (its objective's and the task's).
      static const auto* declared = new std::vector<optbench::spec::MetricSpec>(
          optbench::engine::Catalog().Metrics(optbench::spec::JobSpec()));
      (void)optbench::server::MetricRowsFromBatch("j", batch, *declared, 10);
      break;
    }
  }
  return 0;
}
