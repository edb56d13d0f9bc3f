// FNV-1a 64 (Fowler, Noll, Vo): the checksum of the engine's byte formats (optimizer state,
// checkpoints, kept models) and of a kept model as it travels and is stored in chunks.
// Incremental, so the coordinator checks a model stored in chunks without assembling it.
//
//   Fnv1a64Hash hash;
//   for (std::string_view chunk : chunks) hash.Update(chunk);
//   if (hash.value() != expected) ...
#ifndef OPTBENCH_COMMON_FNV1A_H_
#define OPTBENCH_COMMON_FNV1A_H_

#include <cstdint>
#include <string_view>

namespace optbench {

// Not thread-safe (a value type). Fed in pieces, it gives what one Update over their
// concatenation gives.
class Fnv1a64Hash {
 public:
  void Update(std::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= 0x100000001b3ULL;
    }
  }
  // The hash of everything given so far (of nothing: the offset basis).
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

}  // namespace optbench

#endif  // OPTBENCH_COMMON_FNV1A_H_
