#include "worker/engine/quant/quantized_export.h"

#include <cmath>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "worker/engine/byte_io.h"

namespace optbench::engine {
namespace {

constexpr char kMagic[4] = {'O', 'B', 'Q', 'M'};
constexpr uint32_t kVersion = 1;
constexpr char kFormat[] = "quantized model";

// Bytes of one packed row of `count` values of `bits` bits. Callers bound count * bits.
uint64_t RowBytes(uint64_t count, int bits) {
  return (count * static_cast<uint64_t>(bits) + 7) / 8;
}

// Appends values[0, count) as one packed row of u = value - offset; every u must fit in `bits`.
void PutPackedRow(const int32_t* values, int64_t count, int32_t offset, int bits,
                  std::string* out) {
  // At most 7 pending bits plus one value of at most 8: a 32-bit accumulator never overflows.
  uint32_t pending = 0;
  int filled = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t u = int64_t{values[i]} - offset;
    OPTBENCH_CHECK(u >= 0 && u < (int64_t{1} << bits));
    pending |= static_cast<uint32_t>(u) << filled;
    filled += bits;
    for (; filled >= 8; filled -= 8, pending >>= 8) {
      out->push_back(static_cast<char>(pending & 0xff));
    }
  }
  if (filled > 0) out->push_back(static_cast<char>(pending));
}

// Unpacks `count` values from `row` (RowBytes(count, bits) bytes) into values[i] = u + offset.
// False when the unused high bits of the row's last byte are not 0.
bool GetPackedRow(std::string_view row, int64_t count, int32_t offset, int bits, int32_t* values) {
  const uint32_t mask = (uint32_t{1} << bits) - 1;
  uint32_t pending = 0;
  int filled = 0;
  size_t next = 0;
  for (int64_t i = 0; i < count; ++i) {
    for (; filled < bits; filled += 8) {
      pending |= uint32_t{static_cast<unsigned char>(row[next++])} << filled;
    }
    values[i] = static_cast<int32_t>(pending & mask) + offset;
    pending >>= bits;
    filled -= bits;
  }
  return pending == 0;
}

// Aborts unless `layer` is what ToExported produces (the writer's precondition).
void CheckLayer(const ExportedLayer& layer) {
  OPTBENCH_CHECK(CheckGroupsFit(layer.config, layer.id, layer.in).ok());
  OPTBENCH_CHECK(layer.out >= 1 && layer.id.size() <= UINT32_MAX);
  const int64_t groups = NumGroups(layer.config, layer.in);
  OPTBENCH_CHECK(static_cast<int64_t>(layer.q.size()) == layer.out * layer.in);
  OPTBENCH_CHECK(static_cast<int64_t>(layer.scale.size()) == layer.out * groups);
  OPTBENCH_CHECK(static_cast<int64_t>(layer.zero.size()) == layer.out * groups);
  const int32_t zero_max = layer.config.symmetric ? 0 : MaxQuantized(layer.config);
  for (size_t i = 0; i < layer.scale.size(); ++i) {
    OPTBENCH_CHECK(std::isfinite(layer.scale[i]));
    OPTBENCH_CHECK(layer.zero[i] >= 0 && layer.zero[i] <= zero_max);
  }
  for (const int32_t q : layer.q) {
    OPTBENCH_CHECK(q >= MinQuantized(layer.config) && q <= MaxQuantized(layer.config));
  }
}

// i64 fields travel as their two's complement u64.
int64_t FromTwosComplement(uint64_t raw) {
  return raw <= INT64_MAX ? static_cast<int64_t>(raw) : -static_cast<int64_t>(~raw) - 1;
}

// Reads one layer after the magic, version and count; `ids` holds the ids read so far.
absl::Status ReadLayer(ByteReader* in, std::set<std::string>* ids, ExportedLayer* layer) {
  OPTBENCH_RETURN_IF_ERROR(in->GetString("a layer id", &layer->id));
  const std::string name = absl::StrCat("layer '", layer->id, "'");
  if (!ids->insert(layer->id).second) return in->Error(absl::StrCat(name, " appears twice"));
  uint64_t out = 0, inputs = 0, group_size = 0;
  uint8_t bits = 0, symmetric = 0;
  OPTBENCH_RETURN_IF_ERROR(in->Get("out", &out));
  OPTBENCH_RETURN_IF_ERROR(in->Get("in", &inputs));
  OPTBENCH_RETURN_IF_ERROR(in->Get("bits", &bits));
  OPTBENCH_RETURN_IF_ERROR(in->Get("symmetric", &symmetric));
  OPTBENCH_RETURN_IF_ERROR(in->Get("group_size", &group_size));
  if (symmetric > 1) {
    return in->Error(absl::StrCat(name, ": symmetric flag ", int{symmetric}, " is not 0 or 1"));
  }
  layer->config = {bits, FromTwosComplement(group_size), symmetric == 1};
  if (absl::Status s = ValidateQuantConfig(layer->config); !s.ok()) {
    return in->Error(absl::StrCat(name, ": ", s.message()));
  }
  // Bound both sizes by the bytes left before any arithmetic or allocation: each of the `out`
  // rows of q takes at least one byte and in * bits / 8 bytes.
  const uint64_t left = in->remaining();
  if (out < 1 || inputs < 1 || out > left || inputs > left * 8 / bits ||
      out > left / RowBytes(inputs, bits)) {
    return in->Error(absl::StrCat(name, ": ", out, " x ", inputs, " weights of ", int{bits},
                                  " bits exceed the ", left, " bytes left"));
  }
  layer->out = static_cast<int64_t>(out);
  layer->in = static_cast<int64_t>(inputs);
  if (absl::Status s = CheckGroupsFit(layer->config, layer->id, layer->in); !s.ok()) {
    return in->Error(absl::StrCat(name, ": ", s.message()));
  }
  const int64_t groups = NumGroups(layer->config, layer->in);

  layer->q.resize(out * inputs);
  for (uint64_t r = 0; r < out; ++r) {
    std::string_view row;
    OPTBENCH_RETURN_IF_ERROR(in->GetBytes("q", RowBytes(inputs, bits), &row));
    if (!GetPackedRow(row, layer->in, MinQuantized(layer->config), bits, &layer->q[r * inputs])) {
      return in->Error(absl::StrCat(name, ": row ", r, " of q has nonzero padding bits"));
    }
  }
  const uint64_t scales = out * static_cast<uint64_t>(groups);
  if (scales > in->remaining() / sizeof(float)) {
    return in->Error(
        absl::StrCat(name, ": ", scales, " scales exceed the ", in->remaining(), " bytes left"));
  }
  layer->scale.resize(scales);
  for (uint64_t i = 0; i < scales; ++i) {
    uint32_t raw = 0;
    OPTBENCH_RETURN_IF_ERROR(in->Get("scale", &raw));
    std::memcpy(&layer->scale[i], &raw, sizeof(float));
    if (!std::isfinite(layer->scale[i])) {
      return in->Error(absl::StrCat(name, ": scale ", i, " (row ", i / groups, ", group ",
                                    i % groups, ") is not finite"));
    }
  }
  layer->zero.assign(scales, 0);
  if (!layer->config.symmetric) {
    for (uint64_t r = 0; r < out; ++r) {
      std::string_view row;
      OPTBENCH_RETURN_IF_ERROR(in->GetBytes("zero points", RowBytes(groups, bits), &row));
      if (!GetPackedRow(row, groups, 0, bits, &layer->zero[r * groups])) {
        return in->Error(
            absl::StrCat(name, ": row ", r, " of the zero points has nonzero padding bits"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string WriteQuantizedModel(const std::vector<ExportedLayer>& layers) {
  OPTBENCH_CHECK(layers.size() <= UINT32_MAX);
  std::string out = StartChecksummed(kMagic, kVersion);
  PutLittleEndian(static_cast<uint32_t>(layers.size()), &out);
  for (const ExportedLayer& layer : layers) {
    CheckLayer(layer);
    const QuantConfig& c = layer.config;
    PutString(layer.id, &out);
    PutLittleEndian(static_cast<uint64_t>(layer.out), &out);
    PutLittleEndian(static_cast<uint64_t>(layer.in), &out);
    PutLittleEndian(static_cast<uint8_t>(c.bits), &out);
    PutLittleEndian(static_cast<uint8_t>(c.symmetric ? 1 : 0), &out);
    PutLittleEndian(static_cast<uint64_t>(c.group_size), &out);
    for (int64_t r = 0; r < layer.out; ++r) {
      PutPackedRow(&layer.q[r * layer.in], layer.in, MinQuantized(c), c.bits, &out);
    }
    for (const float scale : layer.scale) {
      uint32_t raw;
      std::memcpy(&raw, &scale, sizeof(float));
      PutLittleEndian(raw, &out);
    }
    if (!c.symmetric) {
      const int64_t groups = NumGroups(c, layer.in);
      for (int64_t r = 0; r < layer.out; ++r) {
        PutPackedRow(&layer.zero[r * groups], groups, 0, c.bits, &out);
      }
    }
  }
  FinishChecksummed(&out);
  return out;
}

absl::StatusOr<std::vector<ExportedLayer>> ReadQuantizedModel(std::string_view bytes) {
  // The envelope and a layer count of 0 for the smallest.
  OPTBENCH_ASSIGN_OR_RETURN(ByteReader in,
                            OpenChecksummed(bytes, kMagic, kVersion, 4 + 4 + 4 + 8, kFormat));
  uint32_t count = 0;
  OPTBENCH_RETURN_IF_ERROR(in.Get("layer count", &count));
  std::vector<ExportedLayer> layers;
  std::set<std::string> ids;
  for (uint32_t i = 0; i < count; ++i) {
    ExportedLayer layer;
    OPTBENCH_RETURN_IF_ERROR(ReadLayer(&in, &ids, &layer));
    layers.push_back(std::move(layer));
  }
  if (in.remaining() != 0) {
    return in.Error(absl::StrCat(in.remaining(), " unexpected bytes after the last layer"));
  }
  return layers;
}

inline namespace OPTBENCH_ENGINE_PRECISION {

Matrix DequantizeExported(const ExportedLayer& layer) {
  CheckLayer(layer);
  const int64_t groups = NumGroups(layer.config, layer.in);
  const int64_t g = layer.in / groups;
  Matrix w(layer.out, layer.in);
  for (int64_t r = 0; r < layer.out; ++r) {
    for (int64_t j = 0; j < layer.in; ++j) {
      const int64_t k = r * groups + j / g;
      // q - zero is an integer of magnitude below 2^9, exact in Real: the product is Quantize's.
      w(r, j) = static_cast<Real>(layer.scale[k]) *
                static_cast<Real>(layer.q[r * layer.in + j] - layer.zero[k]);
    }
  }
  return w;
}

ExportedLayer ToExported(const std::string& id, const QuantizedMatrix& m, const QuantConfig& c) {
  ExportedLayer layer;
  layer.id = id;
  layer.out = m.q.rows();
  layer.in = m.q.cols();
  layer.config = c;
  const int64_t groups = NumGroups(c, layer.in);
  OPTBENCH_CHECK(m.scale.rows() == layer.out && m.scale.cols() == groups);
  OPTBENCH_CHECK(m.zero.rows() == layer.out && m.zero.cols() == groups);
  layer.q.assign(m.q.data(), m.q.data() + m.q.size());
  layer.scale.resize(m.scale.size());
  layer.zero.resize(m.zero.size());
  for (Eigen::Index i = 0; i < m.scale.size(); ++i) {
    layer.scale[i] = static_cast<float>(m.scale.data()[i]);
    layer.zero[i] = static_cast<int32_t>(m.zero.data()[i]);
    // Quantize's scales are float32 values and its zero points integers: export loses nothing.
    OPTBENCH_CHECK(static_cast<Real>(layer.scale[i]) == m.scale.data()[i]);
    OPTBENCH_CHECK(static_cast<Real>(layer.zero[i]) == m.zero.data()[i]);
  }
  return layer;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
