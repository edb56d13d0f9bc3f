#include "worker/engine/dataset/npy.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/run_job.h"

namespace optbench::engine {
namespace {

using testing::EstimatePeakMemoryBytes;

using ::testing::HasSubstr;

static_assert(sizeof(Real) == 8, "checks run against the float64 engine");

std::string Path(const std::string& name) { return ::testing::TempDir() + "/npy_test_" + name; }

// Writes a .npy file as numpy.save does: magic, version, little-endian header length, the header
// dict padded with spaces and ending in '\n' so that the data starts on a multiple of 64, then
// `data` as is.
std::string WriteNpy(const std::string& name, const std::string& dict, const std::string& data,
                     int major = 1) {
  const size_t len_size = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((6 + 2 + len_size + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string bytes = "\x93NUMPY";
  bytes.push_back(static_cast<char>(major));
  bytes.push_back(0);
  for (size_t i = 0; i < len_size; ++i) {
    bytes.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  }
  bytes += header + data;
  const std::string path = Path(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

template <typename T>
std::string Raw(const std::vector<T>& values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), values.data(), s.size());
  return s;
}

std::string Dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

NpyOptions Options(const std::string& x, const std::string& y) {
  NpyOptions o;
  o.features_path = x;
  o.labels_path = y;
  return o;
}

std::string ErrorOf(const NpyOptions& options, const std::string& path) {
  absl::StatusOr<Dataset> data = LoadNpyDataset(options);
  EXPECT_FALSE(data.ok());
  if (data.ok()) return "";
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(data.status().message()), HasSubstr(path));
  return std::string(data.status().message());
}

const std::vector<double> kValues = {0.5, -1.25, 3.0, 4.5, -0.0, 1e-3};  // 3 x 2.

TEST(NpyTest, LoadsEveryFeatureAndLabelDtype) {
  const std::string f4 = WriteNpy("f4.npy", Dict("<f4", "(3, 2)"),
                                  Raw(std::vector<float>(kValues.begin(), kValues.end())));
  const std::string f8 = WriteNpy("f8.npy", Dict("<f8", "(3, 2)"), Raw(kValues));
  const std::string i4 =
      WriteNpy("i4.npy", Dict("<i4", "(3,)"), Raw(std::vector<int32_t>{2, 0, 1}));
  const std::string i8 =
      WriteNpy("i8.npy", Dict("<i8", "(3,)"), Raw(std::vector<int64_t>{2, 0, 1}));
  for (const std::string& x : {f4, f8}) {
    for (const std::string& y : {i4, i8}) {
      absl::StatusOr<Dataset> data = LoadNpyDataset(Options(x, y));
      ASSERT_TRUE(data.ok()) << data.status();
      EXPECT_EQ(data->num_classes(), 3);
      EXPECT_EQ(data->num_features(), 2);
      EXPECT_EQ(data->train().labels, (std::vector<int32_t>{2, 0, 1}));
      for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(data->train().features(i / 2, i % 2),
                  x == f4 ? static_cast<double>(static_cast<float>(kValues[i])) : kValues[i]);
      }
      EXPECT_FALSE(data->has_test());
    }
  }
}

TEST(NpyTest, VersionTwoHeadersTestSplitAndClassCount) {
  const std::string x = WriteNpy("v2_x.npy", Dict("<f8", "(3, 2)"), Raw(kValues), /*major=*/2);
  const std::string y =
      WriteNpy("v2_y.npy", Dict("<i8", "(3,)"), Raw(std::vector<int64_t>{0, 1, 0}));
  const std::string tx =
      WriteNpy("v2_tx.npy", Dict("<f8", "(1, 2)"), Raw(std::vector<double>{1, 2}));
  const std::string ty = WriteNpy("v2_ty.npy", Dict("<i4", "(1,)"), Raw(std::vector<int32_t>{4}));
  NpyOptions o = Options(x, y);
  o.test_features_path = tx;
  o.test_labels_path = ty;
  absl::StatusOr<Dataset> data = LoadNpyDataset(o);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes(), 5);  // Largest label of either split + 1.
  ASSERT_TRUE(data->has_test());
  EXPECT_EQ(data->test().features(0, 1), 2.0);
  absl::StatusOr<NpyShape> shape = ScanNpyShape(o);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->train_rows, 3);
  EXPECT_EQ(shape->test_rows, 1);
  EXPECT_EQ(shape->num_features, 2);
  EXPECT_EQ(shape->num_classes, 5);
  o.num_classes = 7;
  EXPECT_EQ(LoadNpyDataset(o)->num_classes(), 7);
}

TEST(NpyTest, RejectsHeadersItCannotRead) {
  const std::string y =
      WriteNpy("ok_y.npy", Dict("<i8", "(3,)"), Raw(std::vector<int64_t>{0, 1, 0}));
  const std::string fortran =
      WriteNpy("fortran.npy", Dict("<f8", "(3, 2)", /*fortran=*/true), Raw(kValues));
  EXPECT_THAT(ErrorOf(Options(fortran, y), fortran), HasSubstr("fortran_order is True"));
  const std::string u1 = WriteNpy("u1.npy", Dict("|u1", "(3, 2)"), std::string(6, '\1'));
  EXPECT_THAT(ErrorOf(Options(u1, y), u1), HasSubstr("unsupported dtype '|u1'"));
  const std::string big = WriteNpy("big.npy", Dict(">f8", "(3, 2)"), Raw(kValues));
  EXPECT_THAT(ErrorOf(Options(big, y), big), HasSubstr("unsupported dtype '>f8'"));
  const std::string f2 = WriteNpy("f2.npy", Dict("<f2", "(3, 2)"), std::string(12, '\0'));
  EXPECT_THAT(ErrorOf(Options(f2, y), f2), HasSubstr("unsupported dtype '<f2'"));
  const std::string garbage = Path("garbage.npy");
  std::ofstream(garbage, std::ios::binary) << "PK\x03\x04 not numpy";
  EXPECT_THAT(ErrorOf(Options(garbage, y), garbage), HasSubstr("not a .npy file"));
  const std::string bad_dict = WriteNpy("bad_dict.npy", "{'descr': '<f8', 'shape': (3, 2", "");
  EXPECT_THAT(ErrorOf(Options(bad_dict, y), bad_dict), HasSubstr("malformed .npy header"));
  EXPECT_THAT(ErrorOf(Options(Path("missing.npy"), y), Path("missing.npy")),
              HasSubstr("cannot open file"));
}

TEST(NpyTest, RejectsWrongShapesAndKinds) {
  const std::string x = WriteNpy("k_x.npy", Dict("<f8", "(3, 2)"), Raw(kValues));
  const std::string y =
      WriteNpy("k_y.npy", Dict("<i8", "(3,)"), Raw(std::vector<int64_t>{0, 1, 0}));
  const std::string x1d = WriteNpy("x1d.npy", Dict("<f8", "(6,)"), Raw(kValues));
  EXPECT_THAT(ErrorOf(Options(x1d, y), x1d), HasSubstr("features must be a 2-D array"));
  const std::string y2d =
      WriteNpy("y2d.npy", Dict("<i8", "(3, 1)"), Raw(std::vector<int64_t>{0, 1, 0}));
  EXPECT_THAT(ErrorOf(Options(x, y2d), y2d), HasSubstr("labels must be a 1-D array"));
  const std::string xint =
      WriteNpy("xint.npy", Dict("<i8", "(3, 2)"), Raw(std::vector<int64_t>(6, 1)));
  EXPECT_THAT(ErrorOf(Options(xint, y), xint), HasSubstr("features must be float32 or float64"));
  const std::string yfloat =
      WriteNpy("yfloat.npy", Dict("<f4", "(3,)"), Raw(std::vector<float>(3, 1)));
  EXPECT_THAT(ErrorOf(Options(x, yfloat), yfloat), HasSubstr("labels must be int32 or int64"));
  const std::string y2 = WriteNpy("y2.npy", Dict("<i8", "(2,)"), Raw(std::vector<int64_t>{0, 1}));
  EXPECT_THAT(ErrorOf(Options(x, y2), y2), HasSubstr("2 labels for the 3 feature rows"));
  const std::string tx = WriteNpy("k_tx.npy", Dict("<f8", "(2, 3)"), Raw(kValues));
  const std::string ty = WriteNpy("k_ty.npy", Dict("<i8", "(2,)"), Raw(std::vector<int64_t>{0, 1}));
  NpyOptions o = Options(x, y);
  o.test_features_path = tx;
  o.test_labels_path = ty;
  EXPECT_THAT(ErrorOf(o, tx), HasSubstr("3 feature columns, the train features have 2"));
  o.test_labels_path = "";
  EXPECT_THAT(LoadNpyDataset(o).status().message(), HasSubstr("dataset.test_features_path"));
}

TEST(NpyTest, RejectsTruncatedOrOverlongData) {
  const std::string y =
      WriteNpy("t_y.npy", Dict("<i8", "(3,)"), Raw(std::vector<int64_t>{0, 1, 0}));
  const std::string cut = WriteNpy("cut.npy", Dict("<f8", "(3, 2)"), Raw(kValues).substr(0, 40));
  EXPECT_THAT(ErrorOf(Options(cut, y), cut),
              HasSubstr("truncated: shape (3, 2) needs 48 data bytes, the file has 40"));
  const std::string longer = WriteNpy("long.npy", Dict("<f8", "(3, 2)"), Raw(kValues) + "xx");
  EXPECT_THAT(ErrorOf(Options(longer, y), longer), HasSubstr("2 unexpected bytes"));
  const std::string header_cut = Path("header_cut.npy");
  std::ofstream(header_cut, std::ios::binary) << std::string("\x93NUMPY\x01\x00\x76\x00{'de", 14);
  EXPECT_THAT(ErrorOf(Options(header_cut, y), header_cut), HasSubstr("truncated .npy header"));
}

TEST(NpyTest, RejectsBadValues) {
  const std::string x = WriteNpy("v_x.npy", Dict("<f8", "(3, 2)"), Raw(kValues));
  std::vector<double> nan = kValues;
  nan[3] = std::numeric_limits<double>::quiet_NaN();
  const std::string xnan = WriteNpy("nan.npy", Dict("<f8", "(3, 2)"), Raw(nan));
  const std::string y =
      WriteNpy("v_y.npy", Dict("<i4", "(3,)"), Raw(std::vector<int32_t>{0, 1, 0}));
  EXPECT_THAT(ErrorOf(Options(xnan, y), xnan), HasSubstr("feature [1, 1] = nan is not finite"));
  const std::string neg =
      WriteNpy("neg.npy", Dict("<i4", "(3,)"), Raw(std::vector<int32_t>{0, -1, 0}));
  EXPECT_THAT(ErrorOf(Options(x, neg), neg), HasSubstr("label -1 at index 1 is negative"));
  NpyOptions o = Options(
      x, WriteNpy("big_label.npy", Dict("<i8", "(3,)"), Raw(std::vector<int64_t>{0, 1, 3})));
  o.num_classes = 3;
  EXPECT_THAT(ErrorOf(o, o.labels_path), HasSubstr("label 3 at index 2 is out of range"));
  const std::string huge =
      WriteNpy("huge.npy", Dict("<i8", "(3,)"), Raw(std::vector<int64_t>{0, 1, int64_t{1} << 40}));
  EXPECT_THAT(ErrorOf(Options(x, huge), huge), HasSubstr("exceeds the largest allowed label"));
}

TEST(NpyTest, MemoryEstimateReadsTheHeaders) {
  std::vector<double> big(1000 * 50, 0.5);
  const std::string x = WriteNpy("est_x.npy", Dict("<f8", "(1000, 50)"), Raw(big));
  const std::string y =
      WriteNpy("est_y.npy", Dict("<i4", "(1000,)"), Raw(std::vector<int32_t>(1000, 3)));
  TrainJob spec;
  spec.dataset = {"npy", {{"features_path", x}, {"labels_path", y}}};
  spec.model = {"mlp", {{"hidden", std::vector<int64_t>{64}}}};
  spec.optimizer = {"gd", {{"lr", 0.1}}};
  absl::StatusOr<int64_t> bytes = EstimatePeakMemoryBytes(spec);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const int64_t features = 1000 * 50 * 8, params = 64 * 51 + 4 * 65, activations = 1000 * 128 * 8;
  EXPECT_GE(*bytes, features + 2 * params * 8 + activations);
  EXPECT_LT(*bytes, 2 * (features + activations) + 100000);
}

}  // namespace
}  // namespace optbench::engine
