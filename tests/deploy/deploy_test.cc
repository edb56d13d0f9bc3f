// The files in deploy/ against the real binaries: every flag they pass exists, the certificate
// deploy/make-secrets.sh issues carries the names they dial, each role's secrets hold only what
// that role needs, and the Slurm batch script passes Slurm's warning signal on to the worker
// (run with bash as Slurm's batch step runs it, against a real coordinator).
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/integration/service_fixture.h"
#include "tests/integration/subprocess.h"

namespace optbench {
namespace {

namespace fs = std::filesystem;

using testing::Result;

Result Shell(const std::string& command) { return testing::RunShell(command); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Source(const std::string& relative) {
  return absl::StrCat(OPTBENCH_SOURCE_DIR, "/", relative);
}

// The files that start our binaries, with where each binary is found.
std::vector<std::string> DeployFiles() {
  std::vector<std::string> files;
  for (const auto& [folder, extension] :
       std::vector<std::pair<std::string, std::string>>{{"deploy/kubernetes", ".yaml"},
                                                        {"deploy/docker", ".yaml"},
                                                        {"deploy/docker", ""},  // Dockerfile
                                                        {"deploy/slurm", ".sbatch"},
                                                        {"deploy/systemd", ".service"}}) {
    for (const auto& entry : fs::directory_iterator(Source(folder))) {
      const std::string name = entry.path().filename().string();
      if (extension.empty() ? name == "Dockerfile" : absl::EndsWith(name, extension)) {
        files.push_back(entry.path().string());
      }
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

constexpr char kCoordinator[] = "optbench-coordinator";
constexpr char kWorker[] = "optbench-worker";
constexpr char kCli[] = "optbench";

// The binary a token names: a daemon by name ("optbench-worker" in a YAML list), by path
// (ExecStart=/usr/local/bin/optbench-worker) or as a shell default (${X:-optbench-worker}); the
// CLI, whose name is also the image's user and data folder, only quoted ("optbench" in a YAML
// list) or by an installed path (.../bin/optbench). Else "".
std::string BinaryNamed(absl::string_view token) {
  if (token == "\"optbench\"" || absl::EndsWith(token, "bin/optbench")) return kCli;
  token = absl::StripSuffix(absl::StripPrefix(token, "\""), "\"");
  for (const char* name : {kCoordinator, kWorker}) {
    if (token == name || absl::EndsWith(token, absl::StrCat("/", name)) ||
        absl::EndsWith(token, absl::StrCat(":-", name))) {
      return name;
    }
  }
  return "";
}

// Tokens after which a --flag belongs to another program.
bool OtherProgram(absl::string_view token) {
  static const auto* names = new std::set<std::string, std::less<>>{
      "kubectl", "sbatch",  "srun",    "scancel",  "systemctl", "docker", "RUN",
      "COPY",    "apt-get", "useradd", "groupadd", "install",   "cmake"};
  return names->count(token) != 0;
}

struct Use {
  std::string file;
  std::string binary;
  std::string flag;  // "--listen", or a CLI verb as "health".
};

// Every --flag in a deploy file, attributed to the binary named last before it. Comments are
// dropped (#SBATCH lines are Slurm's, and comments show commands for other tools); a flag that
// follows another program or no binary at all is not ours and is skipped.
std::vector<Use> FlagUses(const std::string& path) {
  std::vector<Use> uses;
  std::string binary;
  bool want_verb = false;
  for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n')) {
    if (size_t hash = line.find('#');
        hash != absl::string_view::npos && (hash == 0 || absl::ascii_isspace(line[hash - 1]))) {
      line = line.substr(0, hash);
    }
    for (absl::string_view quoted :
         absl::StrSplit(line, absl::ByAnyChar(" \t',[]{}()=\\"), absl::SkipEmpty())) {
      const absl::string_view token = absl::StripSuffix(absl::StripPrefix(quoted, "\""), "\"");
      if (std::string named = BinaryNamed(quoted); !named.empty()) {
        binary = named;
        want_verb = named == kCli;
      } else if (OtherProgram(token)) {
        binary.clear();
        want_verb = false;
      } else if (token.size() > 2 && absl::StartsWith(token, "--") &&
                 absl::ascii_isalpha(token[2]) && !binary.empty()) {
        uses.push_back({path, binary, std::string(token)});
      } else if (want_verb && !token.empty() && !absl::StartsWith(token, "-")) {
        uses.push_back({path, binary, std::string(token)});
        want_verb = false;
      }
    }
  }
  return uses;
}

std::string BinaryPath(const std::string& name) {
  if (name == kCoordinator) return OPTBENCH_COORDINATOR_BIN;
  if (name == kWorker) return OPTBENCH_WORKER_BIN;
  return OPTBENCH_CLI_BIN;
}

// True if `help` shows `word` as a whole word (not as the start of a longer flag).
bool Shows(const std::string& help, const std::string& word) {
  for (size_t at = help.find(word); at != std::string::npos; at = help.find(word, at + 1)) {
    const size_t end = at + word.size();
    const bool starts = at == 0 || !(absl::ascii_isalnum(help[at - 1]) || help[at - 1] == '_' ||
                                     help[at - 1] == '-');
    const bool ends = end == help.size() ||
                      !(absl::ascii_isalnum(help[end]) || help[end] == '_' || help[end] == '-');
    if (starts && ends) return true;
  }
  return false;
}

TEST(DeployTest, DaemonsListTheirFlagsInHelpAndPrintTheVersion) {
  for (const char* name : {kCoordinator, kWorker}) {
    // Abseil exits 1 after --help; what counts is what it shows.
    Result help = Shell(BinaryPath(name) + " --help");
    EXPECT_FALSE(absl::StrContains(help.output, "No flags matched")) << help.output;
    // One flag each that is defined in the main, and Abseil's own kept to --helpfull.
    EXPECT_TRUE(Shows(help.output, name == std::string(kCoordinator) ? "--listen" : "--slots"))
        << help.output;
    EXPECT_FALSE(Shows(help.output, "--flagfile")) << help.output;
    Result version = Shell(BinaryPath(name) + " --version");
    EXPECT_EQ(version.exit_code, 0);
    EXPECT_EQ(version.output, absl::StrCat(name, " ", OPTBENCH_VERSION, "\n"));
  }
  for (const auto& [args, usage] : {std::pair{"--help", "usage: optbench COMMAND"},
                                    std::pair{"status --help", "usage: optbench status"},
                                    std::pair{"query --help", "usage: optbench query"}}) {
    Result help = Shell(absl::StrCat(OPTBENCH_CLI_BIN, " ", args));
    EXPECT_EQ(help.exit_code, 0) << args << "\n" << help.output;
    EXPECT_TRUE(absl::StrContains(help.output, usage)) << help.output;
  }
}

TEST(DeployTest, EveryFlagTheDeployFilesPassIsInTheBinarysHelp) {
  std::map<std::string, std::string> help;
  for (const char* name : {kCoordinator, kWorker, kCli}) {
    help[name] = Shell(BinaryPath(name) + " --help").output;
  }
  std::map<std::string, int> per_binary;
  const std::vector<std::string> files = DeployFiles();
  ASSERT_GE(files.size(), 6u) << absl::StrJoin(files, " ");
  for (const std::string& file : files) {
    const std::vector<Use> uses = FlagUses(file);
    // Each file starts a binary with flags: none found means the parsing above went wrong.
    EXPECT_FALSE(uses.empty()) << file;
    for (const Use& use : uses) {
      ++per_binary[use.binary];
      EXPECT_TRUE(Shows(help[use.binary], use.flag))
          << use.file << " passes " << use.flag << " to " << use.binary
          << ", which its --help does not show";
    }
  }
  // The coordinator in every file but the sbatch; the worker in all four that start it (4-5
  // flags each: 17 today); the CLI in the probes. Fewer means the parsing above went wrong.
  EXPECT_GE(per_binary[kCoordinator], 20);
  EXPECT_GE(per_binary[kWorker], 16);
  EXPECT_GE(per_binary[kCli], 4);
}

// Runs `make-secrets.sh OPTIONS PARENT/secrets NAMES`; returns PARENT/secrets.
std::string MakeSecrets(const std::string& parent, const std::string& options = "",
                        const std::string& names = "") {
  const std::string dir = parent + "/secrets";
  Result r = Shell(
      absl::StrCat("bash ", Source("deploy/make-secrets.sh"), " ", options, " ", dir, " ", names));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

// Whether the certificate is valid for `host`, as `openssl x509 -checkhost/-checkip` says.
bool CertificateNames(const std::string& cert, const std::string& host) {
  const bool ip = host.find_first_not_of("0123456789.") == std::string::npos;
  Result r = Shell(
      absl::StrCat("openssl x509 -noout -in ", cert, ip ? " -checkip " : " -checkhost ", host));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return absl::StrContains(r.output, " does match");
}

// A temp dir (dir_), removed unless the test failed.
using DeploySecretsTest = testing::ServiceFixture;

TEST_F(DeploySecretsTest, CertificateNamesEveryHostTheDeployFilesDial) {
  const std::string secrets = MakeSecrets(dir_);
  const std::string cert = secrets + "/coordinator/server.pem";
  Result verify = Shell(absl::StrCat("openssl verify -CAfile ", secrets, "/ca.pem ", cert));
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  // The hosts the manifests, compose and the probes dial (Slurm and systemd take theirs as an
  // argument: those certificates are made with the site's names).
  std::set<std::string> hosts;
  for (const std::string& file : DeployFiles()) {
    if (absl::EndsWith(file, ".sbatch") || absl::EndsWith(file, ".service")) continue;
    const std::string text = ReadFile(file);
    const std::string flag = "--coordinator=";
    for (size_t at = text.find(flag); at != std::string::npos; at = text.find(flag, at + 1)) {
      const size_t start = at + flag.size();
      hosts.insert(text.substr(start, text.find(':', start) - start));
    }
  }
  EXPECT_EQ(hosts, (std::set<std::string>{"127.0.0.1", "optbench-coordinator"}));
  for (const std::string& host : hosts) EXPECT_TRUE(CertificateNames(cert, host)) << host;
  EXPECT_FALSE(CertificateNames(cert, "coordinator"));  // The old compose name.

  // Names given replace the defaults.
  fs::remove_all(secrets);
  MakeSecrets(dir_, "", "coordinator.example.org 10.1.2.3");
  EXPECT_TRUE(CertificateNames(cert, "coordinator.example.org"));
  EXPECT_TRUE(CertificateNames(cert, "10.1.2.3"));
  EXPECT_FALSE(CertificateNames(cert, "optbench-coordinator"));
}

std::set<std::string> FilesIn(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

int Mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST_F(DeploySecretsTest, EachRoleGetsOnlyItsOwnSecrets) {
  const std::string secrets = MakeSecrets(dir_);
  EXPECT_EQ(FilesIn(secrets),
            (std::set<std::string>{"ca.key", "ca.pem", "client", "coordinator", "worker"}));
  EXPECT_EQ(FilesIn(secrets + "/worker"), (std::set<std::string>{"ca.pem", "worker.token"}));
  EXPECT_EQ(FilesIn(secrets + "/client"), (std::set<std::string>{"ca.pem", "user.token"}));
  EXPECT_EQ(FilesIn(secrets + "/coordinator"),
            (std::set<std::string>{"ca.pem", "server.key", "server.pem", "tokens"}));
  // The tokens file gives the worker's token the worker role only.
  const std::string worker_token(
      absl::StripAsciiWhitespace(ReadFile(secrets + "/worker/worker.token")));
  const std::string user_token(
      absl::StripAsciiWhitespace(ReadFile(secrets + "/client/user.token")));
  EXPECT_EQ(worker_token.size(), 48u);
  const std::string tokens = ReadFile(secrets + "/coordinator/tokens");
  EXPECT_TRUE(absl::StrContains(tokens, worker_token + " worker ")) << tokens;
  EXPECT_TRUE(absl::StrContains(tokens, user_token + " submit,read ")) << tokens;
  for (const char* file : {"ca.key", "worker/worker.token", "coordinator/server.key"}) {
    EXPECT_EQ(Mode(secrets + "/" + file), 0600) << file;
  }
  EXPECT_EQ(Mode(secrets + "/worker"), 0700);
  // The Kubernetes secrets are made from the role directories, and the worker pods mount only
  // theirs.
  const std::string manifest = ReadFile(Source("deploy/kubernetes/optbench.yaml"));
  EXPECT_TRUE(absl::StrContains(manifest, "--from-file=secrets/worker\n"));
  EXPECT_TRUE(absl::StrContains(manifest, "secret: {secretName: optbench-worker"));

  // Refuses to replace them; --compose makes the role files readable by the image's user.
  Result again = Shell(absl::StrCat("bash ", Source("deploy/make-secrets.sh"), " ", secrets));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(again.output, "refusing to replace")) << again.output;
  fs::remove_all(secrets);
  MakeSecrets(dir_, "--compose");
  EXPECT_EQ(Mode(secrets + "/worker/worker.token"), 0644);
  EXPECT_EQ(Mode(secrets + "/worker"), 0700);
  EXPECT_EQ(Mode(secrets + "/ca.key"), 0600);
}

TEST_F(DeploySecretsTest, BadNamesAreRefusedByName) {
  for (const char* bad : {"host:7070", "'a b'", "-x"}) {
    Result r =
        Shell(absl::StrCat("bash ", Source("deploy/make-secrets.sh"), " ", dir_, "/s ", bad));
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir_ + "/s/ca.key")) << bad;
  }
  Result r = Shell(absl::StrCat("bash ", Source("deploy/make-secrets.sh")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.output, "usage: make-secrets.sh")) << r.output;
}

using SlurmTest = testing::ServiceFixture;

// Slurm's --signal=B:TERM@60 signals the batch shell only; the script must pass it on, and the
// worker must hand its job back with a checkpoint before the shell exits.
TEST_F(SlurmTest, BatchScriptPassesTheWarningSignalToTheWorker) {
  const std::string secrets = MakeSecrets(dir_);
  const std::string user_token(
      absl::StripAsciiWhitespace(ReadFile(secrets + "/client/user.token")));
  const std::string ca = ReadFile(secrets + "/ca.pem");
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;
  StartCoordinator({"--auth_tokens=" + secrets + "/coordinator/tokens",
                    "--tls_cert=" + secrets + "/coordinator/server.pem",
                    "--tls_key=" + secrets + "/coordinator/server.key", "--lease_seconds=30",
                    "--heartbeat_seconds=1"},
                   grpc::SslCredentials(ssl), user_token);
  v1::SubmitSweepResponse sweep = Submit(R"(
dataset: {name: heavy_tail_uniform, m: 7}
model: {name: linear}
trainer: {steps: 400, eval_every: 10}
optimizer: {name: sign_descent, lr: 0.0001}
)");
  ASSERT_EQ(sweep.jobs_size(), 1);
  const std::string job_id = sweep.jobs(0).id();

  // As slurmstepd runs a batch script: bash, the job's environment, the script's arguments. The
  // shell leads its own process group, so the worker can be cleaned up if the test fails.
  testing::Subprocess batch;
  ASSERT_TRUE(batch.Start(
      {"/usr/bin/setsid", "/usr/bin/env", std::string("OPTBENCH_WORKER_BIN=") + OPTBENCH_WORKER_BIN,
       "OPTBENCH_SECRETS=" + secrets + "/worker", "SLURM_JOB_ID=4250", "SLURM_ARRAY_JOB_ID=4242",
       "SLURM_ARRAY_TASK_ID=7", "SLURM_CPUS_PER_TASK=1", "/bin/bash",
       Source("deploy/slurm/workers.sbatch"), address_},
      dir_ + "/slurm.log"));
  const pid_t group = batch.pid();
  struct KillGroup {
    pid_t group;
    ~KillGroup() { ::kill(-group, SIGKILL); }
  } cleanup{group};

  v1::Job job = WaitForProgress(job_id, 20, absl::Seconds(60));
  ASSERT_GE(job.progress_step(), 20) << batch.Log();
  ASSERT_LT(job.progress_step(), 400) << "finished before the signal; make the job longer";
  EXPECT_EQ(job.worker_id(), "slurm-4242-7");
  batch.Kill(SIGTERM);  // The batch shell only, as B: does.
  int status = 0;
  ASSERT_TRUE(batch.WaitFor(absl::Seconds(30), &status)) << batch.Log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << batch.Log();

  const std::string log = batch.Log();
  EXPECT_TRUE(absl::StrContains(log, "workers.sbatch: got SIGTERM")) << log;
  EXPECT_TRUE(absl::StrContains(log, "handing back jobs, exiting")) << log;
  // The shell waited for the worker: nothing of the job's process group is left.
  EXPECT_EQ(::kill(-group, 0), -1) << "processes outlived the batch shell\n" << log;
  // Handed back at once, not after the 30 s lease, without spending an attempt, and with a
  // checkpoint at the step the worker stopped at.
  job = GetJob(job_id);
  EXPECT_EQ(job.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(job.attempt(), 0);
  const size_t at = log.find("handed back at step ");
  ASSERT_NE(at, std::string::npos) << log;
  const int64_t step = std::atoll(log.c_str() + at + std::string("handed back at step ").size());
  EXPECT_GE(step, 20);
  Result stored = Shell(absl::StrCat(
      "sqlite3 -readonly ", dir_,
      "/optbench.db \"SELECT max(step) FROM checkpoints WHERE job_id = '", job_id, "'\""));
  EXPECT_EQ(stored.output, absl::StrCat(step, "\n")) << log;
}

}  // namespace
}  // namespace optbench
