#include "worker/engine/dataset/csv.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optbench::engine {
namespace {

using ::testing::HasSubstr;

// Writes `contents` to a file in the test's temporary directory and returns its path.
std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/csv_test_" + name;
  std::ofstream out(path, std::ios::binary);
  out << contents;
  return path;
}

CsvOptions Options(const std::string& train, const std::string& test = "") {
  CsvOptions options;
  options.train_path = train;
  options.test_path = test;
  return options;
}

std::string ErrorOf(const CsvOptions& options) {
  absl::StatusOr<Dataset> data = LoadCsvDataset(options);
  EXPECT_FALSE(data.ok());
  if (data.ok()) return "";
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(data.status().message());
}

TEST(CsvTest, LoadsFeaturesAndLabelsInFileOrder) {
  const std::string train = WriteFile("happy_train.csv",
                                      "x1,label,x2\r\n"
                                      "1.5,0,-2\r\n"
                                      "\r\n"
                                      " 3e-1 , 2 ,\"4\"\r\n"
                                      "+0.25,1.0,1e2\n");
  const std::string test = WriteFile("happy_test.csv", "x1,label,x2\n7,2,8\n");
  absl::StatusOr<Dataset> data = LoadCsvDataset(Options(train, test));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes(), 3);  // Largest label + 1.
  EXPECT_EQ(data->num_features(), 2);
  Matrix expected(3, 2);
  expected << 1.5, -2, 0.3, 4, 0.25, 100;
  EXPECT_EQ(data->train().features, expected);
  EXPECT_EQ(data->train().labels, (std::vector<int32_t>{0, 2, 1}));
  EXPECT_EQ(data->train().class_counts, (std::vector<int64_t>{1, 1, 1}));
  ASSERT_TRUE(data->has_test());
  EXPECT_EQ(data->test().features(0, 1), 8);
  EXPECT_EQ(data->test().class_counts, (std::vector<int64_t>{0, 0, 1}));
}

TEST(CsvTest, ExplicitClassCountAndLabelColumn) {
  const std::string train = WriteFile("classes.csv", "y,a\n1,0.5\n1,0.25\n");
  CsvOptions options = Options(train);
  options.label_column = "y";
  options.num_classes = 4;
  absl::StatusOr<Dataset> data = LoadCsvDataset(options);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes(), 4);
  EXPECT_EQ(data->train().class_counts, (std::vector<int64_t>{0, 2, 0, 0}));
  absl::StatusOr<CsvShape> shape = ScanCsvShape(options);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->train_rows, 2);
  EXPECT_EQ(shape->num_features, 1);
  EXPECT_EQ(shape->num_classes, 4);
}

TEST(CsvTest, ScanMatchesLoad) {
  const std::string train = WriteFile("scan_train.csv", "a,b,label\n1,2,0\n3,4,5\n");
  const std::string test = WriteFile("scan_test.csv", "a,b,label\n1,2,7\n");
  absl::StatusOr<CsvShape> shape = ScanCsvShape(Options(train, test));
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->train_rows, 2);
  EXPECT_EQ(shape->test_rows, 1);
  EXPECT_EQ(shape->num_features, 2);
  EXPECT_EQ(shape->num_classes, 8);
}

TEST(CsvTest, MissingFileNamesThePath) {
  const std::string path = ::testing::TempDir() + "/csv_test_no_such_file.csv";
  const std::string msg = ErrorOf(Options(path));
  EXPECT_THAT(msg, HasSubstr(path + ": cannot open file"));
  EXPECT_THAT(ErrorOf(Options(::testing::TempDir())), HasSubstr("is a directory"));
}

TEST(CsvTest, MissingLabelColumnListsColumns) {
  const std::string path = WriteFile("nolabel.csv", "a,b\n1,2\n");
  EXPECT_THAT(ErrorOf(Options(path)),
              HasSubstr(path + ":1: no label column 'label'; columns: a, b"));
}

TEST(CsvTest, NonNumericFieldNamesLineAndColumn) {
  const std::string path = WriteFile("text.csv", "a,b,label\n1,2,0\n1,abc,0\n");
  EXPECT_THAT(ErrorOf(Options(path)),
              HasSubstr(path + ":3: column 'b' (2): 'abc' is not a number"));
  const std::string empty_field = WriteFile("empty_field.csv", "a,b,label\n1,,0\n");
  EXPECT_THAT(ErrorOf(Options(empty_field)),
              HasSubstr(empty_field + ":2: column 'b' (2): '' is not a number"));
}

TEST(CsvTest, NonFiniteFieldsAreRejected) {
  const std::string nan = WriteFile("nan.csv", "a,label\nnan,0\n");
  EXPECT_THAT(ErrorOf(Options(nan)), HasSubstr(nan + ":2: column 'a' (1): 'nan' is not a finite"));
  const std::string inf = WriteFile("inf.csv", "a,label\n1,0\n-inf,0\n");
  EXPECT_THAT(ErrorOf(Options(inf)), HasSubstr(inf + ":3: column 'a' (1): '-inf' is not a finite"));
  const std::string huge = WriteFile("huge.csv", "a,label\n1e999,0\n");
  EXPECT_THAT(ErrorOf(Options(huge)),
              HasSubstr(huge + ":2: column 'a' (1): '1e999' is not a finite"));
}

TEST(CsvTest, WrongFieldCountNamesTheLine) {
  const std::string path = WriteFile("fields.csv", "a,b,label\n1,2,0\n\n1,2\n");
  EXPECT_THAT(ErrorOf(Options(path)),
              HasSubstr(path + ":4: expected 3 fields as in the header, got 2"));
  const std::string quote = WriteFile("quote.csv", "a,label\n\"1,0\n");
  EXPECT_THAT(ErrorOf(Options(quote)), HasSubstr(quote + ":2: malformed quoted field"));
}

TEST(CsvTest, BadLabelsAreRejected) {
  const std::string negative = WriteFile("negative.csv", "a,label\n1,-1\n");
  EXPECT_THAT(ErrorOf(Options(negative)),
              HasSubstr(negative + ":2: column 'label' (2): label '-1' is negative"));
  const std::string fraction = WriteFile("fraction.csv", "a,label\n1,0\n1,1.5\n");
  EXPECT_THAT(ErrorOf(Options(fraction)),
              HasSubstr(fraction + ":3: column 'label' (2): label '1.5' is not an integer"));
  const std::string word = WriteFile("word.csv", "a,label\n1,cat\n");
  EXPECT_THAT(ErrorOf(Options(word)), HasSubstr(word + ":2: column 'label' (2): label 'cat'"));
  const std::string big = WriteFile("big.csv", "a,label\n1,20000000\n");
  EXPECT_THAT(ErrorOf(Options(big)), HasSubstr("exceeds the largest allowed label"));
  const std::string range = WriteFile("range.csv", "a,label\n1,0\n1,2\n");
  CsvOptions options = Options(range);
  options.num_classes = 2;
  EXPECT_THAT(ErrorOf(options), HasSubstr(range + ":3: column 'label' (2): label 2 is out of "
                                                  "range for num_classes 2 (allowed 0..1)"));
}

TEST(CsvTest, TestFileErrorsNameTheTestFile) {
  const std::string train = WriteFile("tf_train.csv", "a,b,label\n1,2,0\n");
  const std::string test = WriteFile("tf_test.csv", "a,c,label\n1,2,0\n");
  EXPECT_THAT(ErrorOf(Options(train, test)),
              HasSubstr(test + ":1: header differs from the train file's: column 2 is 'c', "
                               "expected 'b'"));
  const std::string bad_test = WriteFile("tf_bad.csv", "a,b,label\n1,x,0\n");
  EXPECT_THAT(ErrorOf(Options(train, bad_test)), HasSubstr(bad_test + ":2: column 'b' (2)"));
}

TEST(CsvTest, EmptyFilesAreRejected) {
  const std::string empty = WriteFile("empty.csv", "");
  EXPECT_THAT(ErrorOf(Options(empty)), HasSubstr(empty + ": empty file"));
  const std::string header_only = WriteFile("header.csv", "a,label\n\n");
  EXPECT_THAT(ErrorOf(Options(header_only)), HasSubstr(header_only + ": no data rows"));
  const std::string label_only = WriteFile("label_only.csv", "label\n1\n");
  EXPECT_THAT(ErrorOf(Options(label_only)), HasSubstr("no feature column"));
}

TEST(CsvTest, LinesAreBoundedSoAFileWithoutLineBreaksEnds) {
  // A row of 17 MiB, past the 16 MiB bound, on line 3: the scan (the memory estimate at
  // submission) and the load both stop there, naming the line.
  const std::string wide =
      WriteFile("wide.csv", "a,label\n1,0\n" + std::string(17 << 20, '7') + ",0\n");
  const std::string message = "wide.csv:3: line longer than 16 MiB; a CSV row is one line";
  absl::StatusOr<CsvShape> shape = ScanCsvShape(Options(wide));
  EXPECT_THAT(shape.status().message(), HasSubstr(message));
  EXPECT_THAT(ErrorOf(Options(wide)), HasSubstr(message));
  // No line break at all, ever: the header line of /dev/zero.
  absl::StatusOr<CsvShape> zero = ScanCsvShape(Options("/dev/zero"));
  EXPECT_THAT(zero.status().message(), HasSubstr("/dev/zero:1: line longer than 16 MiB"));
  std::remove(wide.c_str());
}

}  // namespace
}  // namespace optbench::engine
