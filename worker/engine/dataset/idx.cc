#include "worker/engine/dataset/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optbench::engine {
namespace {

constexpr int kUnsignedByte = 0x08;
constexpr int kMaxDims = 4;

// A gzFile that closes itself. gzread passes uncompressed files through unchanged.
class GzReader {
 public:
  static absl::StatusOr<GzReader> Open(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open file: is a directory"));
    }
    errno = 0;
    gzFile file = gzopen(path.c_str(), "rb");
    if (file == nullptr) {
      const int err = errno;
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": cannot open file", err != 0 ? ": " : "", err != 0 ? std::strerror(err) : ""));
    }
    gzbuffer(file, 1 << 20);
    return GzReader(path, file);
  }
  GzReader(GzReader&& other) noexcept
      : path_(std::move(other.path_)), file_(std::exchange(other.file_, nullptr)) {}
  GzReader& operator=(GzReader&&) = delete;
  ~GzReader() {
    if (file_ != nullptr) gzclose(file_);
  }

  // Reads up to `size` bytes; returns how many were read, or an error for corrupt gzip data.
  absl::StatusOr<size_t> Read(uint8_t* out, size_t size) {
    size_t done = 0;
    while (done < size) {
      const unsigned want = static_cast<unsigned>(std::min<size_t>(size - done, 1u << 30));
      const int got = gzread(file_, out + done, want);
      if (got < 0) return GzError();
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    int errnum = Z_OK;
    gzerror(file_, &errnum);
    // A gzip stream cut short reads as end of file with Z_BUF_ERROR set.
    if (errnum != Z_OK && errnum != Z_BUF_ERROR) return GzError();
    return done;
  }

  // True when the last short read stopped at a cut-off gzip stream rather than a clean end.
  bool StreamCutShort() {
    int errnum = Z_OK;
    gzerror(file_, &errnum);
    return errnum == Z_BUF_ERROR;
  }

 private:
  GzReader(std::string path, gzFile file) : path_(std::move(path)), file_(file) {}

  absl::Status GzError() {
    int errnum = Z_OK;
    const char* message = gzerror(file_, &errnum);
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": corrupt gzip data: ", message != nullptr ? message : "unknown"));
  }

  std::string path_;
  gzFile file_;
};

absl::Status Truncated(const std::string& path, const char* what, size_t expected, size_t got,
                       bool cut_gzip) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": truncated ", what, ": expected ",
                                                 expected, " bytes, got ", got,
                                                 cut_gzip ? " (gzip stream ends early)" : ""));
}

absl::StatusOr<IdxArray> ReadHeader(const std::string& path, GzReader* reader) {
  uint8_t magic[4];
  OPTBENCH_ASSIGN_OR_RETURN(const size_t got, reader->Read(magic, 4));
  if (got < 4) return Truncated(path, "header", 4, got, reader->StreamCutShort());
  if (magic[0] != 0 || magic[1] != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not an IDX file: wrong magic (first two bytes 0x",
                     absl::Hex(magic[0], absl::kZeroPad2), " 0x",
                     absl::Hex(magic[1], absl::kZeroPad2), ", expected 0x00 0x00)"));
  }
  if (magic[2] != kUnsignedByte) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unsupported IDX element type 0x",
                                                   absl::Hex(magic[2], absl::kZeroPad2),
                                                   " (only unsigned byte, 0x08, is read)"));
  }
  const int ndims = magic[3];
  if (ndims < 1 || ndims > kMaxDims) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": IDX header declares ", ndims, " dimensions; allowed 1..", kMaxDims));
  }
  uint8_t sizes[4 * kMaxDims];
  const size_t want = 4 * static_cast<size_t>(ndims);
  OPTBENCH_ASSIGN_OR_RETURN(const size_t got_sizes, reader->Read(sizes, want));
  if (got_sizes < want) {
    return Truncated(path, "header", 4 + want, 4 + got_sizes, reader->StreamCutShort());
  }
  IdxArray array;
  for (int d = 0; d < ndims; ++d) {
    const uint8_t* b = sizes + 4 * d;
    array.dims.push_back((int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) |
                         int64_t{b[3]});
  }
  return array;
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdxHeader(const std::string& path) {
  OPTBENCH_ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  return ReadHeader(path, &reader);
}

absl::StatusOr<IdxArray> ReadIdx(const std::string& path) {
  OPTBENCH_ASSIGN_OR_RETURN(GzReader reader, GzReader::Open(path));
  OPTBENCH_ASSIGN_OR_RETURN(IdxArray array, ReadHeader(path, &reader));
  // At most 4 sizes below 2^32: the product can overflow int64, so cap it first.
  constexpr int64_t kMaxBytes = int64_t{1} << 40;
  int64_t total = 1;
  for (int64_t d : array.dims) {
    if (d != 0 && total > kMaxBytes / d) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": IDX header declares more than 2^40 elements"));
    }
    total *= d;
  }
  array.data.resize(static_cast<size_t>(total));
  OPTBENCH_ASSIGN_OR_RETURN(const size_t got, reader.Read(array.data.data(), array.data.size()));
  if (got < array.data.size()) {
    return Truncated(path, "data", array.data.size(), got, reader.StreamCutShort());
  }
  uint8_t extra;
  OPTBENCH_ASSIGN_OR_RETURN(const size_t more, reader.Read(&extra, 1));
  if (more != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unexpected bytes after the ", total,
                                                   " data bytes the header declares"));
  }
  return array;
}

}  // namespace optbench::engine
