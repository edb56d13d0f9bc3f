// The export format of a quantized model (paper 5): per layer the packed integer weights, the
// group scales and the zero points, what a quantize job keeps. docs/QUANTIZED_FORMAT.md describes
// it for users, with a NumPy reader.
//
// Format "OBQM", version 1. Integers little-endian, no padding or alignment anywhere:
//   "OBQM" | u32 version = 1 | u32 layer count |
//   per layer:
//     u32 id length, id bytes (e.g. "layer0.weight") |
//     u64 out | u64 in                    (out, in >= 1: the weight matrix is out x in) |
//     u8 bits (2, 3, 4 or 8) | u8 symmetric (0 or 1) |
//     i64 group_size                      (>= 1 dividing in, or -1: one group per row) |
//     q: out rows of ceil(in * bits / 8) bytes, row-major |
//     scale: out * groups float32, row-major (row r, then group k) |
//     zero (asymmetric only): out rows of ceil(groups * bits / 8) bytes, packed like q |
//   u64 checksum: FNV-1a 64 of every byte before it (the envelope of byte_io.h).
// groups = in / group_size, or 1 for -1; input column j of a row belongs to group j / (in/groups).
//
// Packing: each row starts on a byte boundary; value k of a row occupies its bits
// [k * bits, (k + 1) * bits), least significant first, bit i of the row being bit (i mod 8) of
// its byte i / 8 (little-endian bit order: NumPy's unpackbits(..., bitorder="little")). Unused
// high bits of a row's last byte are 0. The stored values are unsigned, u in [0, 2^bits - 1]:
//   asymmetric: q = u; zero points z in [0, 2^bits - 1];
//   symmetric:  q = u - 2^(bits-1) (offset binary), q in [-2^(bits-1), 2^(bits-1) - 1]; z = 0.
// The weight of row r, column j is scale[r, k] * (q[r, j] - z[r, k]) with k its group. Symmetric
// scales may be negative (quantizer.h explains why).
//
// Scales are float32 whatever the engine's precision: Quantize rounds every scale to float32, so
// DequantizeExported gives back, bit for bit, the dequantized weights the job evaluated (in both
// precisions; every q - z is an integer of magnitude at most 255, exact in float32).
#ifndef OPTBENCH_WORKER_ENGINE_QUANT_QUANTIZED_EXPORT_H_
#define OPTBENCH_WORKER_ENGINE_QUANT_QUANTIZED_EXPORT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/quant/quantizer.h"
#include "worker/engine/tensor.h"

namespace optbench::engine {

// One quantized weight matrix as exported; precision independent. A plain value.
struct ExportedLayer {
  std::string id;  // The parameter's slot id ("layer0.weight").
  int64_t out = 0;
  int64_t in = 0;
  QuantConfig config;
  std::vector<int32_t> q;  // out * in, row-major, in [MinQuantized(config), MaxQuantized(config)].
  std::vector<float> scale;   // out * groups, row-major.
  std::vector<int32_t> zero;  // out * groups, row-major; in [0, 2^bits - 1], all 0 if symmetric.
};

// The bytes of `layers`, in order. Never fails. Precondition: every layer is consistent (a valid
// config that fits `in`, out >= 1, the vectors' sizes and ranges as documented, finite scales);
// aborts otherwise: ToExported's output always is.
std::string WriteQuantizedModel(const std::vector<ExportedLayer>& layers);

// Parses bytes written by WriteQuantizedModel. Errors: DataLoss naming the problem for anything
// malformed (short, bad magic, checksum mismatch, truncated, impossible sizes or settings, a
// non-finite scale, a layer id twice, trailing bytes); FailedPrecondition for a well-formed file
// of another version. Never crashes on any input, and never allocates more than the input's size
// implies.
absl::StatusOr<std::vector<ExportedLayer>> ReadQuantizedModel(std::string_view bytes);

inline namespace OPTBENCH_ENGINE_PRECISION {

// The dequantized weights of one exported layer (out x in): scale * (q - zero) per group, equal
// bit for bit to the QuantizedMatrix::dequantized it was exported from. Precondition: the layer
// is consistent (as ReadQuantizedModel and ToExported return them; aborts otherwise).
Matrix DequantizeExported(const ExportedLayer& layer);

// The exported form of `m`, the output of Quantize(w, p, c, &m) for the weight slot `id`.
// Precondition: m is such an output (aborts on inconsistent shapes or a scale that is not a
// float32 value).
ExportedLayer ToExported(const std::string& id, const QuantizedMatrix& m, const QuantConfig& c);

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_QUANT_QUANTIZED_EXPORT_H_
