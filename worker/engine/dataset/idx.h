// IDX files (LeCun's MNIST format, also Fashion-MNIST's), plain or gzip-compressed: a 4-byte
// magic (0, 0, element type, number of dimensions), big-endian uint32 sizes, then the elements
// in row-major order. Only unsigned-byte elements (type 0x08), the MNIST family's, are read.
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_IDX_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_IDX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace optbench::engine {

struct IdxArray {
  std::vector<int64_t> dims;  // e.g. {60000, 28, 28} for images, {60000} for labels.
  std::vector<uint8_t> data;  // Product of dims bytes, row-major.
};

// Reads the header only (cheap even for a large gzip file): `data` is left empty.
// Errors as ReadIdx for the header.
absl::StatusOr<IdxArray> ReadIdxHeader(const std::string& path);

// Reads a whole IDX file; gzip is detected from the content (zlib's gzread), not the name.
// InvalidArgument, the message starting with the path, for: a file that cannot be opened, a wrong
// magic (first two bytes not zero, element type not 0x08, or 0 or more than 4 dimensions), a
// header or data shorter than it declares ("truncated"), bytes after the data, or corrupt gzip
// data (zlib's message). Throws std::bad_alloc if the data does not fit in memory.
absl::StatusOr<IdxArray> ReadIdx(const std::string& path);

}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_IDX_H_
