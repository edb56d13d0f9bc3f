#include "worker/engine/optimizer/state_io.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/byte_io.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

constexpr char kMagic[4] = {'O', 'B', 'O', 'S'};
constexpr uint32_t kVersion = 1;
constexpr char kFormat[] = "optimizer state";

using RealBits = std::conditional_t<sizeof(Real) == 8, uint64_t, uint32_t>;
static_assert(sizeof(RealBits) == sizeof(Real));

// The tensors' values, each the IEEE-754 bits of one Real.
absl::Status GetValues(const char* what, Real* out, size_t count, ByteReader* in) {
  for (size_t i = 0; i < count; ++i) {
    RealBits bits = 0;
    if (absl::Status s = in->Get(what, &bits); !s.ok()) return s;
    std::memcpy(&out[i], &bits, sizeof(Real));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SaveOptimizerState(const OptimizerState& state) {
  std::string out = StartChecksummed(kMagic, kVersion);
  PutLittleEndian(static_cast<uint32_t>(sizeof(Real)), &out);
  PutLittleEndian(static_cast<uint64_t>(state.step), &out);
  PutLittleEndian(static_cast<uint32_t>(state.tensors.size()), &out);
  for (const auto& [id, tensors] : state.tensors) {
    PutString(id, &out);
    PutLittleEndian(static_cast<uint32_t>(tensors.size()), &out);
    for (const auto& [name, m] : tensors) {
      PutString(name, &out);
      PutLittleEndian(static_cast<uint64_t>(m.rows()), &out);
      PutLittleEndian(static_cast<uint64_t>(m.cols()), &out);
      // Matrix is row-major and contiguous.
      for (Eigen::Index i = 0; i < m.size(); ++i) {
        RealBits bits;
        std::memcpy(&bits, m.data() + i, sizeof(Real));
        PutLittleEndian(bits, &out);
      }
    }
  }
  FinishChecksummed(&out);
  return out;
}

absl::StatusOr<OptimizerState> LoadOptimizerState(std::string_view bytes) {
  // The envelope, the scalar size, and nothing else for the smallest.
  OPTBENCH_ASSIGN_OR_RETURN(ByteReader in,
                            OpenChecksummed(bytes, kMagic, kVersion, 4 + 4 + 4 + 8, kFormat));
  uint32_t scalar_bytes = 0;
  if (absl::Status s = in.Get("scalar size", &scalar_bytes); !s.ok()) return s;
  if (scalar_bytes != 4 && scalar_bytes != 8) {
    return absl::DataLossError(
        absl::StrCat("optimizer state: scalar size ", scalar_bytes, " is not 4 or 8"));
  }
  if (scalar_bytes != sizeof(Real)) {
    return absl::FailedPreconditionError(
        absl::StrCat("optimizer state: saved by the float", 8 * scalar_bytes,
                     " engine; this is the float", 8 * sizeof(Real), " engine"));
  }
  OptimizerState state;
  uint64_t step = 0;
  if (absl::Status s = in.Get("step", &step); !s.ok()) return s;
  if (step > static_cast<uint64_t>(INT64_MAX)) {
    return absl::DataLossError(absl::StrCat("optimizer state: step ", step, " is negative"));
  }
  state.step = static_cast<int64_t>(step);
  uint32_t slots = 0;
  if (absl::Status s = in.Get("slot count", &slots); !s.ok()) return s;
  for (uint32_t k = 0; k < slots; ++k) {
    std::string id;
    if (absl::Status s = in.GetString("slot id", &id); !s.ok()) return s;
    auto [slot_it, inserted] = state.tensors.try_emplace(id);
    if (!inserted) {
      return absl::DataLossError(absl::StrCat("optimizer state: slot '", id, "' appears twice"));
    }
    uint32_t count = 0;
    if (absl::Status s = in.Get("tensor count", &count); !s.ok()) return s;
    for (uint32_t j = 0; j < count; ++j) {
      std::string name;
      if (absl::Status s = in.GetString("tensor name", &name); !s.ok()) return s;
      uint64_t rows = 0, cols = 0;
      if (absl::Status s = in.Get("tensor rows", &rows); !s.ok()) return s;
      if (absl::Status s = in.Get("tensor cols", &cols); !s.ok()) return s;
      // Bound the size by the bytes left before allocating (also rules out overflow).
      const uint64_t max_values = in.remaining() / sizeof(Real);
      if (rows > max_values || (rows > 0 && cols > max_values / rows)) {
        return absl::DataLossError(absl::StrCat("optimizer state: tensor '", id, "/", name, "' of ",
                                                rows, " x ", cols, " values exceeds the ",
                                                in.remaining(), " bytes left"));
      }
      Matrix m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
      if (absl::Status s = GetValues("tensor values", m.data(), static_cast<size_t>(m.size()), &in);
          !s.ok()) {
        return s;
      }
      if (!slot_it->second.try_emplace(name, std::move(m)).second) {
        return absl::DataLossError(
            absl::StrCat("optimizer state: tensor '", id, "/", name, "' appears twice"));
      }
    }
  }
  if (in.remaining() != 0) {
    return absl::DataLossError(absl::StrCat("optimizer state: ", in.remaining(),
                                            " unexpected bytes after the last tensor"));
  }
  return state;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
