// Little-endian writing and bounds-checked reading of bytes, and the checksummed envelope shared
// by the engine's binary formats (optimizer state, checkpoints, quantized models):
//   4-byte magic | u32 version | the format's fields | u64 FNV-1a 64 of every byte before it.
// Header-only and precision independent.
#ifndef OPTBENCH_WORKER_ENGINE_BYTE_IO_H_
#define OPTBENCH_WORKER_ENGINE_BYTE_IO_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/fnv1a.h"

namespace optbench::engine {

// FNV-1a 64 (common/fnv1a.h) of `bytes`: the checksum of the envelope, and of a kept model.
inline uint64_t Fnv1a64(std::string_view bytes) {
  Fnv1a64Hash hash;
  hash.Update(bytes);
  return hash.value();
}

// Appends the unsigned integer `value` to *out, least significant byte first.
template <typename U>
void PutLittleEndian(U value, std::string* out) {
  static_assert(std::is_unsigned_v<U>);
  for (size_t i = 0; i < sizeof(U); ++i) {
    out->push_back(static_cast<char>(static_cast<unsigned char>(value >> (8 * i))));
  }
}

// Appends a u32 length, then the bytes of `s`.
inline void PutString(std::string_view s, std::string* out) {
  PutLittleEndian(static_cast<uint32_t>(s.size()), out);
  out->append(s);
}

// Reads from the front of a byte string that it does not own (the bytes must outlive it). Every
// failure is DataLoss naming the format and what was being read ("optimizer state: truncated
// while reading slot id"), and consumes nothing. Not thread-safe.
class ByteReader {
 public:
  // `format` (e.g. "optimizer state") opens every error message; it must outlive the reader.
  ByteReader(std::string_view bytes, const char* format) : rest_(bytes), format_(format) {}

  // A little-endian unsigned integer.
  template <typename U>
  absl::Status Get(const char* what, U* value) {
    static_assert(std::is_unsigned_v<U>);
    if (rest_.size() < sizeof(U)) return Truncated(what);
    U v = 0;
    for (size_t i = 0; i < sizeof(U); ++i) {
      v |= static_cast<U>(static_cast<unsigned char>(rest_[i])) << (8 * i);
    }
    rest_.remove_prefix(sizeof(U));
    *value = v;
    return absl::OkStatus();
  }

  // A u32 length, then that many bytes.
  absl::Status GetString(const char* what, std::string* value) {
    std::string_view rest = rest_;
    uint32_t size = 0;
    if (absl::Status s = Get(what, &size); !s.ok()) return s;
    if (rest_.size() < size) {
      rest_ = rest;
      return Truncated(what);
    }
    value->assign(rest_.data(), size);
    rest_.remove_prefix(size);
    return absl::OkStatus();
  }

  // The next `size` bytes, as a view into the input.
  absl::Status GetBytes(const char* what, size_t size, std::string_view* bytes) {
    if (rest_.size() < size) return Truncated(what);
    *bytes = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return absl::OkStatus();
  }

  size_t remaining() const { return rest_.size(); }

  // DataLoss "<format>: <message>".
  absl::Status Error(absl::string_view message) const {
    return absl::DataLossError(absl::StrCat(format_, ": ", message));
  }

 private:
  absl::Status Truncated(const char* what) const {
    return Error(absl::StrCat("truncated while reading ", what));
  }

  std::string_view rest_;
  const char* format_;
};

// A new blob: the magic and the version.
inline std::string StartChecksummed(const char (&magic)[4], uint32_t version) {
  std::string out(magic, sizeof(magic));
  PutLittleEndian(version, &out);
  return out;
}

// Ends a blob: appends the checksum of everything in *out.
inline void FinishChecksummed(std::string* out) { PutLittleEndian(Fnv1a64(*out), out); }

// Opens a blob written by StartChecksummed ... FinishChecksummed: a reader over the fields between
// the version and the checksum. Errors: DataLoss "<format>: ..." when `bytes` is shorter than
// `min_bytes` (the smallest valid blob, envelope included), has another magic or fails its
// checksum (a corrupt or truncated blob); FailedPrecondition for another version. `format` must
// outlive the reader.
inline absl::StatusOr<ByteReader> OpenChecksummed(std::string_view bytes, const char (&magic)[4],
                                                  uint32_t version, size_t min_bytes,
                                                  const char* format) {
  constexpr size_t kEnvelopeBytes = 4 + 4 + 8;
  ByteReader in(bytes, format);
  if (bytes.size() < std::max(min_bytes, kEnvelopeBytes)) {
    return in.Error(absl::StrCat(bytes.size(), " bytes is shorter than the smallest valid ", format,
                                 " (", std::max(min_bytes, kEnvelopeBytes), ")"));
  }
  if (bytes.substr(0, 4) != std::string_view(magic, 4)) {
    return in.Error(absl::StrCat("bad magic (not ", absl::string_view(magic, 4), ")"));
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 8);
  uint64_t stored = 0;
  ByteReader tail(bytes.substr(body.size()), format);
  if (absl::Status s = tail.Get("checksum", &stored); !s.ok()) return s;
  if (const uint64_t actual = Fnv1a64(body); actual != stored) {
    return in.Error(absl::StrCat("checksum mismatch (stored ", absl::Hex(stored), ", computed ",
                                 absl::Hex(actual), "): corrupt or truncated"));
  }
  ByteReader fields(body.substr(4), format);
  uint32_t found = 0;
  if (absl::Status s = fields.Get("version", &found); !s.ok()) return s;
  if (found != version) {
    return absl::FailedPreconditionError(
        absl::StrCat(format, ": version ", found, " is not supported; this build reads ", version));
  }
  return fields;
}

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_BYTE_IO_H_
