#include "worker/engine/optimizer/state_io.h"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "common/fnv1a.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

constexpr char kMagic[4] = {'O', 'B', 'O', 'S'};
constexpr uint32_t kVersion = 1;
constexpr size_t kChecksumBytes = 8;

using RealBits = std::conditional_t<sizeof(Real) == 8, uint64_t, uint32_t>;
static_assert(sizeof(RealBits) == sizeof(Real));

template <typename U>
void PutLittleEndian(U value, std::string* out) {
  for (size_t i = 0; i < sizeof(U); ++i) {
    out->push_back(static_cast<char>(static_cast<unsigned char>(value >> (8 * i))));
  }
}

void PutString(std::string_view s, std::string* out) {
  PutLittleEndian(static_cast<uint32_t>(s.size()), out);
  out->append(s);
}

// Reads from the front of `rest_`; every failure is DataLoss naming what was being read.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}

  template <typename U>
  absl::Status Get(const char* what, U* value) {
    if (rest_.size() < sizeof(U)) return Truncated(what);
    U v = 0;
    for (size_t i = 0; i < sizeof(U); ++i) {
      v |= static_cast<U>(static_cast<unsigned char>(rest_[i])) << (8 * i);
    }
    rest_.remove_prefix(sizeof(U));
    *value = v;
    return absl::OkStatus();
  }

  absl::Status GetString(const char* what, std::string* value) {
    uint32_t size = 0;
    if (absl::Status s = Get(what, &size); !s.ok()) return s;
    if (rest_.size() < size) return Truncated(what);
    value->assign(rest_.data(), size);
    rest_.remove_prefix(size);
    return absl::OkStatus();
  }

  absl::Status GetValues(const char* what, Real* out, size_t count) {
    for (size_t i = 0; i < count; ++i) {
      RealBits bits = 0;
      if (absl::Status s = Get(what, &bits); !s.ok()) return s;
      std::memcpy(&out[i], &bits, sizeof(Real));
    }
    return absl::OkStatus();
  }

  size_t remaining() const { return rest_.size(); }

 private:
  static absl::Status Truncated(const char* what) {
    return absl::DataLossError(absl::StrCat("optimizer state: truncated while reading ", what));
  }

  std::string_view rest_;
};

}  // namespace

uint64_t Fnv1a64(std::string_view bytes) {
  Fnv1a64Hash hash;
  hash.Update(bytes);
  return hash.value();
}

std::string SaveOptimizerState(const OptimizerState& state) {
  std::string out(kMagic, sizeof(kMagic));
  PutLittleEndian(kVersion, &out);
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
  PutLittleEndian(Fnv1a64(out), &out);
  return out;
}

absl::StatusOr<OptimizerState> LoadOptimizerState(std::string_view bytes) {
  constexpr size_t kHeaderBytes = sizeof(kMagic) + 4 + 4;
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return absl::DataLossError(absl::StrCat("optimizer state: ", bytes.size(),
                                            " bytes is shorter than the smallest valid state"));
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::DataLossError("optimizer state: bad magic (not an optimizer state)");
  }
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  uint64_t stored = 0;
  Reader tail(bytes.substr(body.size()));
  if (absl::Status s = tail.Get("checksum", &stored); !s.ok()) return s;
  if (const uint64_t actual = Fnv1a64(body); actual != stored) {
    return absl::DataLossError(absl::StrCat("optimizer state: checksum mismatch (stored ",
                                            absl::Hex(stored), ", computed ", absl::Hex(actual),
                                            "): corrupt or truncated"));
  }
  Reader in(body.substr(sizeof(kMagic)));
  uint32_t version = 0, scalar_bytes = 0;
  if (absl::Status s = in.Get("version", &version); !s.ok()) return s;
  if (version != kVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "optimizer state: version ", version, " is not supported; this build reads ", kVersion));
  }
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
      if (absl::Status s = in.GetValues("tensor values", m.data(), static_cast<size_t>(m.size()));
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
