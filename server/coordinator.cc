#include "server/coordinator.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "storage/sqlite_store.h"

namespace optbench::server {
namespace {

// Per-class vectors of large vocabularies make big batches; 64 MiB bounds one message.
constexpr int kMaxMessageBytes = 64 << 20;

// "host:port" -> the host part, without IPv6 brackets.
std::string HostOf(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  std::unique_ptr<Coordinator> c(new Coordinator());
  auto store = storage::SqliteStore::Open(options.db_path);
  if (!store.ok()) return store.status();
  c->store_ = *std::move(store);
  Clock* clock = options.clock != nullptr ? options.clock : Clock::Real();
  c->scheduler_ = std::make_unique<Scheduler>(c->store_.get(), clock, options.scheduler);
  c->coordinator_service_ =
      std::make_unique<CoordinatorService>(c->scheduler_.get(), options.limits);
  c->worker_service_ = std::make_unique<WorkerService>(c->scheduler_.get());

  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &c->port_);
  builder.RegisterService(c->coordinator_service_.get());
  builder.RegisterService(c->worker_service_.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || c->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.listen, "' (address in use or not local?)"));
  }
  std::string host = HostOf(options.listen);
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  c->address_ = absl::StrContains(host, ':') ? absl::StrCat("[", host, "]:", c->port_)
                                             : absl::StrCat(host, ":", c->port_);

  // The reaper returns expired leases to the queue even when no worker is polling.
  Coordinator* self = c.get();
  const absl::Duration interval = options.reap_interval;
  c->reaper_ = std::thread([self, interval]() {
    while (!self->stop_.WaitForNotificationWithTimeout(interval)) {
      if (auto s = self->scheduler_->ExpireLeases(); !s.ok()) {
        Log(LogLevel::kError, "coordinator", "lease reaper: %s", s.status().ToString());
      }
    }
  });
  Log(LogLevel::kInfo, "coordinator", "listening on %s, database %s", c->address_, options.db_path);
  return c;
}

void Coordinator::Shutdown(absl::Duration grace) {
  if (stop_.HasBeenNotified()) return;
  stop_.Notify();
  coordinator_service_->BeginShutdown();
  worker_service_->BeginShutdown();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  if (reaper_.joinable()) reaper_.join();
  stopped_.Notify();
}

void Coordinator::Wait() { stopped_.WaitForNotification(); }

Coordinator::~Coordinator() { Shutdown(); }

}  // namespace optbench::server
