// The quantized-model export format (quantized_export.h), in both engine precisions: round trips
// that give back the job's dequantized weights bit for bit, the documented byte layout, and
// corrupt input.
#include "worker/engine/quant/quantized_export.h"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "worker/engine/byte_io.h"
#include "worker/engine/random.h"

namespace optbench::engine {
namespace {

using ::optbench::testing::StatusIs;
using ::testing::HasSubstr;

bool BitIdentical(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(Real) * static_cast<size_t>(a.size())) == 0;
}

Matrix Random(int64_t rows, int64_t cols, double lo, double hi, Rng* rng) {
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] = static_cast<Real>(lo + (hi - lo) * rng->Uniform());
  }
  return m;
}

// A quantized layer as a job produces it: trained-looking rounding, alpha and beta partly
// outside [0, 1].
struct Quantized {
  std::string id;
  QuantConfig config;
  QuantizedMatrix m;
};

std::vector<Quantized> SampleLayers() {
  Rng rng(3);
  std::vector<Quantized> layers;
  for (int bits : {2, 3, 4, 8}) {
    for (int64_t group : {4, 12, -1}) {
      for (bool symmetric : {false, true}) {
        Quantized l;
        l.id = "layer" + std::to_string(layers.size()) + ".weight";
        l.config = {bits, group, symmetric};
        const int64_t groups = NumGroups(l.config, 24);
        const Matrix w = Random(5, 24, -1, 0.7, &rng);
        RoundingParams p{Random(5, 24, -0.8, 0.8, &rng), Random(5, groups, 0.4, 1.2, &rng),
                         Random(5, groups, 0.4, 1.2, &rng)};
        // Offsets far past the range: every layer reaches both ends of its integers.
        p.v(0, 0) = 300;
        p.v(0, 1) = -300;
        Quantize(w, p, l.config, &l.m);
        layers.push_back(std::move(l));
      }
    }
  }
  return layers;
}

// A smaller model for the corruption tests (each byte is flipped): the layers of groups of 12,
// every width and both schemes.
std::string SampleBytes() {
  std::vector<ExportedLayer> exported;
  for (const Quantized& l : SampleLayers()) {
    if (l.config.group_size == 12) exported.push_back(ToExported(l.id, l.m, l.config));
  }
  return WriteQuantizedModel(exported);
}

TEST(QuantizedExportTest, RoundTripGivesTheEvaluatedWeightsBitForBit) {
  const std::vector<Quantized> layers = SampleLayers();
  std::vector<ExportedLayer> exported;
  for (const Quantized& l : layers) exported.push_back(ToExported(l.id, l.m, l.config));
  const std::string bytes = WriteQuantizedModel(exported);
  absl::StatusOr<std::vector<ExportedLayer>> read = ReadQuantizedModel(bytes);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const ExportedLayer& e = (*read)[i];
    SCOPED_TRACE(e.id);
    EXPECT_EQ(e.id, layers[i].id);
    EXPECT_EQ(e.out, 5);
    EXPECT_EQ(e.in, 24);
    EXPECT_EQ(e.config.bits, layers[i].config.bits);
    EXPECT_EQ(e.config.group_size, layers[i].config.group_size);
    EXPECT_EQ(e.config.symmetric, layers[i].config.symmetric);
    EXPECT_EQ(e.q, exported[i].q);
    EXPECT_EQ(e.scale, exported[i].scale);
    EXPECT_EQ(e.zero, exported[i].zero);
    EXPECT_TRUE(BitIdentical(DequantizeExported(e), layers[i].m.dequantized));
  }
  EXPECT_EQ(WriteQuantizedModel(*read), bytes);
  // The samples reach both ends of every integer range, so the packing is tested at its edges.
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_EQ(layers[i].m.q.minCoeff(), MinQuantized(layers[i].config)) << layers[i].id;
    EXPECT_EQ(layers[i].m.q.maxCoeff(), MaxQuantized(layers[i].config)) << layers[i].id;
  }
}

TEST(QuantizedExportTest, EmptyModelRoundTrips) {
  absl::StatusOr<std::vector<ExportedLayer>> read = ReadQuantizedModel(WriteQuantizedModel({}));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

// The example of docs/QUANTIZED_FORMAT.md: "w", 1 x 4, 3 bits asymmetric in groups of 2.
ExportedLayer DocumentedLayer() {
  ExportedLayer l;
  l.id = "w";
  l.out = 1;
  l.in = 4;
  l.config = {3, 2, false};
  l.q = {1, 7, 0, 5};
  l.scale = {0.5f, 0.25f};
  l.zero = {3, 1};
  return l;
}

// DocumentedLayer and a symmetric one, byte by byte.
TEST(QuantizedExportTest, LayoutIsTheDocumentedOne) {
  const ExportedLayer asym = DocumentedLayer();
  ExportedLayer sym = asym;
  sym.id = "s";
  sym.config = {2, -1, true};
  sym.q = {-2, 1, 0, -1};
  sym.scale = {-0.5f};
  sym.zero = {0};
  const std::string bytes = WriteQuantizedModel({asym, sym});
  const std::string expected_asym(
      "\x01\x00\x00\x00"                  // id length
      "w"                                 // id
      "\x01\x00\x00\x00\x00\x00\x00\x00"  // out
      "\x04\x00\x00\x00\x00\x00\x00\x00"  // in
      "\x03"                              // bits
      "\x00"                              // symmetric
      "\x02\x00\x00\x00\x00\x00\x00\x00"  // group_size
      // q = 1, 7, 0, 5 in 3 bits, least significant first: 100 111 000 101 -> 0x39, 0x0a.
      "\x39\x0a"
      "\x00\x00\x00\x3f"  // 0.5f
      "\x00\x00\x80\x3e"  // 0.25f
      // zero = 3, 1: 110 100 -> 0x0b.
      "\x0b",
      4 + 1 + 8 + 8 + 1 + 1 + 8 + 2 + 8 + 1);
  const std::string expected_sym(
      "\x01\x00\x00\x00"
      "s"
      "\x01\x00\x00\x00\x00\x00\x00\x00"
      "\x04\x00\x00\x00\x00\x00\x00\x00"
      "\x02"
      "\x01"
      "\xff\xff\xff\xff\xff\xff\xff\xff"  // -1
      // q + 2 = 0, 3, 2, 1 in 2 bits: 00 11 01 10 -> 0x6c; no zero points.
      "\x6c"
      "\x00\x00\x00\xbf",  // -0.5f
      4 + 1 + 8 + 8 + 1 + 1 + 8 + 1 + 4);
  const std::string expected =
      std::string("OBQM\x01\x00\x00\x00\x02\x00\x00\x00", 12) + expected_asym + expected_sym;
  ASSERT_EQ(bytes.size(), expected.size() + 8);
  EXPECT_EQ(bytes.substr(0, expected.size()), expected);
  EXPECT_EQ(bytes.substr(expected.size()), [&] {
    std::string checksum;
    for (int i = 0; i < 8; ++i) checksum.push_back(static_cast<char>(Fnv1a64(expected) >> (8 * i)));
    return checksum;
  }());
  absl::StatusOr<std::vector<ExportedLayer>> read = ReadQuantizedModel(bytes);
  ASSERT_TRUE(read.ok()) << read.status();
  Matrix w_asym(1, 4), w_sym(1, 4);
  w_asym << 0.5 * (1 - 3), 0.5 * (7 - 3), 0.25 * (0 - 1), 0.25 * (5 - 1);
  w_sym << -0.5 * -2, -0.5 * 1, -0.5 * 0, -0.5 * -1;
  EXPECT_EQ(DequantizeExported((*read)[0]), w_asym);
  EXPECT_EQ(DequantizeExported((*read)[1]), w_sym);
}

TEST(QuantizedExportTest, EveryTruncationIsDataLoss) {
  const std::string bytes = SampleBytes();
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::Status s = ReadQuantizedModel(bytes.substr(0, n)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << n << ": " << s;
  }
}

TEST(QuantizedExportTest, EveryFlippedByteIsDataLoss) {
  const std::string bytes = SampleBytes();
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (unsigned char flip : {0x01, 0x80}) {
      std::string corrupt = bytes;
      corrupt[i] = static_cast<char>(corrupt[i] ^ flip);
      absl::Status s = ReadQuantizedModel(corrupt).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << i << ": " << s;
    }
  }
  EXPECT_THAT(ReadQuantizedModel(bytes + "x"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("checksum")));
  EXPECT_THAT(ReadQuantizedModel("OBOS" + bytes.substr(4)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("bad magic")));
}

// Bytes with a valid checksum, so that the parser's own checks are reached.
std::string Rechecksum(std::string bytes) {
  bytes.resize(bytes.size() - 8);
  const uint64_t h = Fnv1a64(bytes);
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(h >> (8 * i)));
  return bytes;
}

std::string SmallLayerBytes() { return WriteQuantizedModel({DocumentedLayer()}); }

// Offsets of DocumentedLayer's fields in SmallLayerBytes (after magic, version, count and id).
constexpr size_t kOut = 12 + 4 + 1, kIn = kOut + 8, kBits = kIn + 8, kSymmetric = kBits + 1,
                 kGroupSize = kSymmetric + 1, kQ = kGroupSize + 8, kScale = kQ + 2,
                 kZero = kScale + 8;

std::string With(size_t at, std::string_view value) {
  std::string bytes = SmallLayerBytes();
  bytes.replace(at, value.size(), value);
  return Rechecksum(bytes);
}

TEST(QuantizedExportTest, ImpossibleContentWithAValidChecksumIsDataLoss) {
  const auto error = [](const std::string& bytes) { return ReadQuantizedModel(bytes).status(); };
  const auto data_loss = [](const char* text) {
    return StatusIs(absl::StatusCode::kDataLoss, HasSubstr(text));
  };
  ASSERT_TRUE(ReadQuantizedModel(SmallLayerBytes()).ok());
  const std::string huge(8, '\xff');
  EXPECT_THAT(error(With(kOut, huge)), data_loss("layer 'w': 18446744073709551615 x 4 weights"));
  EXPECT_THAT(error(With(kIn, huge)), data_loss("bytes left"));
  EXPECT_THAT(error(With(kOut, std::string(8, '\0'))), data_loss("0 x 4 weights"));
  EXPECT_THAT(error(With(kBits, "\x05")), data_loss("layer 'w': quantize.bits: 5"));
  EXPECT_THAT(error(With(kSymmetric, "\x02")), data_loss("symmetric flag 2 is not 0 or 1"));
  EXPECT_THAT(error(With(kGroupSize, std::string("\x03\0\0\0\0\0\0\0", 8))),
              data_loss("quantize.group_size: 3 does not divide the 4 inputs of w"));
  EXPECT_THAT(error(With(kGroupSize, std::string("\0\0\0\0\0\0\0\0", 8))),
              data_loss("quantize.group_size: 0"));
  EXPECT_THAT(error(With(kQ + 1, "\x1a")), data_loss("row 0 of q has nonzero padding bits"));
  EXPECT_THAT(error(With(kZero, "\x4b")), data_loss("of the zero points has nonzero padding"));
  EXPECT_THAT(error(With(kScale, std::string("\x00\x00\xc0\x7f", 4))),  // A NaN.
              data_loss("scale 0 (row 0, group 0) is not finite"));
  // The layer twice.
  std::string twice = SmallLayerBytes();
  twice.resize(twice.size() - 8);
  twice[8] = 2;
  twice += twice.substr(12) + std::string(8, '\0');
  EXPECT_THAT(error(Rechecksum(twice)), data_loss("layer 'w' appears twice"));
  // More layers announced than present, and bytes after the last.
  std::string more = SmallLayerBytes();
  more[8] = 2;
  EXPECT_THAT(error(Rechecksum(more)), data_loss("truncated while reading a layer id"));
  std::string trailing = SmallLayerBytes();
  trailing.insert(trailing.size() - 8, "xy");
  EXPECT_THAT(error(Rechecksum(trailing)), data_loss("2 unexpected bytes after the last layer"));
  EXPECT_THAT(error("OBQM"), data_loss("4 bytes is shorter than the smallest"));
}

TEST(QuantizedExportTest, OtherVersionIsFailedPrecondition) {
  std::string bytes = SmallLayerBytes();
  bytes[4] = 2;
  EXPECT_THAT(ReadQuantizedModel(Rechecksum(bytes)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("version 2")));
}

}  // namespace
}  // namespace optbench::engine
