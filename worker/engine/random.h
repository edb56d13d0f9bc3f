// Rng: the engine's deterministic random numbers. std::mt19937_64's output sequence is fixed by
// the C++ standard; the standard distributions are not (their algorithms are
// implementation-defined), so every transform here is our own. Data sets, initial weights and
// mini-batch orders are therefore the same with any conforming standard library. (Normal()
// calls std::log, std::sqrt, std::cos and std::sin; sqrt is exact in IEEE 754, the others may
// differ in the last bit between C libraries.)
#ifndef OPTBENCH_WORKER_ENGINE_RANDOM_H_
#define OPTBENCH_WORKER_ENGINE_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <random>

#include "common/check.h"

namespace optbench::engine {

// Streams that split one job seed into independent generators.
enum class RngStream : uint64_t {
  kData = 0,
  kInit = 1,
  kSampler = 2,
  kPatterns = 3,
  kAttack = 4,
  kCalibration = 5,
  kRounding = 6
};

// A seeded generator. Not thread-safe; cheap to construct.
class Rng {
 public:
  // The generator for (`seed`, `stream`): std::mt19937_64 seeded with a SplitMix64 mix of both,
  // so nearby seeds and different streams give unrelated sequences.
  explicit Rng(uint64_t seed, RngStream stream = RngStream::kData)
      : engine_(SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(stream) + kStreamSalt))) {}

  uint64_t NextU64() { return engine_(); }

  // Uniform on [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1p-53; }

  // Uniform on [0, 1) with 24 random bits: exactly representable in float and double, so data
  // drawn this way is identical in the float32 and float64 builds and never rounds up to 1.
  double Uniform24() { return static_cast<double>(engine_() >> 40) * 0x1p-24; }

  // Standard normal by the Box–Muller transform (Box & Muller 1958), both outputs used.
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = 1.0 - Uniform();  // (0, 1]: log(u1) is finite.
    const double u2 = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * kPi * u2;
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }

  // Uniform integer in [0, n), unbiased (rejection of the top partial range). Precondition n > 0.
  uint64_t UniformInt(uint64_t n) {
    OPTBENCH_CHECK(n > 0);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = engine_();
    } while (x >= limit);
    return x % n;
  }

 private:
  static constexpr double kPi = 3.14159265358979323846;
  static constexpr uint64_t kStreamSalt = 0x6f7074626e636821ULL;

  // SplitMix64 finalizer (Steele, Lea & Flood 2014).
  static uint64_t SplitMix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  std::mt19937_64 engine_;
  double spare_ = 0;
  bool has_spare_ = false;
};

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_RANDOM_H_
