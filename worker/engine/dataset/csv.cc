#include "worker/engine/dataset/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace optbench::engine {
namespace {

// The longest line a CSV file may have: 16 MiB (a row of about a million numbers).
constexpr size_t kMaxLineBytes = size_t{16} << 20;

// Reads a file line by line, skipping blank lines and counting physical lines (1-based).
class LineReader {
 public:
  static absl::StatusOr<LineReader> Open(const std::string& path) {
    if (path.empty()) return absl::InvalidArgumentError("csv: empty file path");
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open file: is a directory"));
    }
    errno = 0;
    LineReader reader(path);
    if (!reader.in_.is_open()) {
      const int err = errno;
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": cannot open file", err != 0 ? ": " : "", err != 0 ? std::strerror(err) : ""));
    }
    return reader;
  }

  // The next non-blank line without its line terminator, or nullopt at the end of the file or
  // at a line longer than kMaxLineBytes (then status() says so). The view is valid until the next
  // call.
  std::optional<std::string_view> Next() {
    while (status_.ok() && ReadLine()) {
      ++line_number_;
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.find_first_not_of(" \t") != std::string::npos) return std::string_view(line_);
    }
    return std::nullopt;
  }

  // Why reading stopped before the end of the file: a line too long, or an I/O error.
  absl::Status status() const {
    if (!status_.ok()) return status_;
    if (in_.bad()) return absl::InvalidArgumentError(absl::StrCat(path_, ": read error"));
    return absl::OkStatus();
  }
  int64_t line_number() const { return line_number_; }
  const std::string& path() const { return path_; }

 private:
  explicit LineReader(std::string path) : path_(std::move(path)), in_(path_) {}

  // The next physical line into line_, without its '\n'; false at the end of the file. Bounded:
  // a file without line breaks (/dev/zero) is an error at kMaxLineBytes, not a growing string.
  bool ReadLine() {
    line_.clear();
    std::streambuf* buf = in_.rdbuf();
    bool any = false;
    for (int c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
      any = true;
      if (c == '\n') return true;
      if (line_.size() >= kMaxLineBytes) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat(path_, ":", line_number_ + 1, ": line longer than ", kMaxLineBytes >> 20,
                         " MiB; a CSV row is one line"));
        return false;
      }
      line_.push_back(static_cast<char>(c));
    }
    return any;
  }

  std::string path_;
  std::ifstream in_;
  std::string line_;
  int64_t line_number_ = 0;
  absl::Status status_;
};

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

// Splits a line into trimmed, unquoted fields, reusing the strings in `fields`. Returns false if a
// quoted field is not terminated or has text after its closing quote.
bool SplitFields(std::string_view line, std::vector<std::string>* fields, size_t* count) {
  size_t n = 0;
  size_t pos = 0;
  while (true) {
    if (fields->size() <= n) fields->emplace_back();
    std::string& field = (*fields)[n++];
    field.clear();
    size_t comma = line.find(',', pos);
    std::string_view raw =
        line.substr(pos, comma == std::string_view::npos ? line.npos : comma - pos);
    std::string_view trimmed = Trim(raw);
    if (!trimmed.empty() && trimmed.front() == '"') {
      // Quoted: scan from the opening quote, across commas, to the closing quote.
      size_t i = pos + raw.find('"') + 1;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) return false;
      comma = line.find(',', i);
      const std::string_view rest =
          line.substr(i, comma == std::string_view::npos ? line.npos : comma - i);
      if (!Trim(rest).empty()) return false;
    } else {
      field.assign(trimmed.data(), trimmed.size());
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  *count = n;
  return true;
}

std::string Where(const LineReader& reader) {
  return absl::StrCat(reader.path(), ":", reader.line_number());
}

struct Header {
  std::vector<std::string> names;
  size_t label_index = 0;
};

absl::StatusOr<Header> ReadHeader(LineReader* reader, const std::string& label_column) {
  std::optional<std::string_view> line = reader->Next();
  if (!line.has_value()) {
    OPTBENCH_RETURN_IF_ERROR(reader->status());
    return absl::InvalidArgumentError(
        absl::StrCat(reader->path(), ": empty file (expected a header row)"));
  }
  Header header;
  size_t count = 0;
  if (!SplitFields(*line, &header.names, &count)) {
    return absl::InvalidArgumentError(absl::StrCat(Where(*reader), ": malformed quoted field"));
  }
  header.names.resize(count);
  std::optional<size_t> label;
  for (size_t i = 0; i < count; ++i) {
    if (header.names[i] != label_column) continue;
    if (label.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(*reader), ": label column '", label_column, "' appears twice"));
    }
    label = i;
  }
  if (!label.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(*reader), ": no label column '", label_column,
                     "'; columns: ", absl::StrJoin(header.names, ", ")));
  }
  if (count < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(*reader), ": no feature column besides the label column '", label_column, "'"));
  }
  header.label_index = *label;
  return header;
}

// Parses a whole field as a double; nullopt if it is not a number. Accepts a leading '+'.
// Magnitudes beyond double's range parse to +-inf; tiny ones to denormals or zero.
std::optional<double> ParseDouble(const std::string& field) {
  std::string_view s(field);
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && (s.front() == '+' || s.front() == '-')) return std::nullopt;
  }
  if (s.empty()) return std::nullopt;
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ptr != s.data() + s.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves v unset on overflow and underflow; strtod tells them apart.
    const std::string copy(s);
    v = std::strtod(copy.c_str(), nullptr);
  } else if (ec != std::errc()) {
    return std::nullopt;
  }
  return v;
}

class FieldParser {
 public:
  FieldParser(const LineReader* reader, const Header* header) : reader_(reader), header_(header) {}

  size_t label_index() const { return header_->label_index; }

  absl::Status Error(size_t column, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(*reader_), ": column '", header_->names[column], "' (", column + 1, "): ", what));
  }

  template <typename T>
  absl::StatusOr<T> Feature(const std::string& field, size_t column) const {
    const std::optional<double> v = ParseDouble(field);
    if (!v.has_value()) return Error(column, absl::StrCat("'", field, "' is not a number"));
    if (!std::isfinite(*v)) {
      return Error(column, absl::StrCat("'", field, "' is not a finite number"));
    }
    if (std::fabs(*v) > static_cast<double>(std::numeric_limits<T>::max())) {
      return Error(column, absl::StrCat("'", field, "' does not fit in ",
                                        sizeof(T) == 4 ? "float32" : "float64"));
    }
    return static_cast<T>(*v);
  }

  absl::StatusOr<int64_t> Label(const std::string& field, int64_t num_classes) const {
    const size_t column = header_->label_index;
    const std::optional<double> v = ParseDouble(field);
    if (!v.has_value() || !std::isfinite(*v)) {
      return Error(column, absl::StrCat("label '", field, "' is not an integer"));
    }
    if (*v < 0) return Error(column, absl::StrCat("label '", field, "' is negative"));
    if (std::trunc(*v) != *v) {
      return Error(column, absl::StrCat("label '", field, "' is not an integer"));
    }
    if (*v > static_cast<double>(kCsvMaxLabel)) {
      return Error(column, absl::StrCat("label '", field, "' exceeds the largest allowed label ",
                                        kCsvMaxLabel));
    }
    const int64_t label = static_cast<int64_t>(*v);
    if (num_classes > 0 && label >= num_classes) {
      return Error(column, absl::StrCat("label ", label, " is out of range for num_classes ",
                                        num_classes, " (allowed 0..", num_classes - 1, ")"));
    }
    return label;
  }

 private:
  const LineReader* reader_;
  const Header* header_;
};

// Reads the header, then calls `row(fields, parser)` for every data row after checking its
// field count. Returns the header through `header_out` if not null.
template <typename RowFn>
absl::Status ForEachRow(const std::string& path, const std::string& label_column,
                        Header* header_out, RowFn&& row) {
  OPTBENCH_ASSIGN_OR_RETURN(LineReader reader, LineReader::Open(path));
  OPTBENCH_ASSIGN_OR_RETURN(Header header, ReadHeader(&reader, label_column));
  const FieldParser parser(&reader, &header);
  std::vector<std::string> fields;
  while (std::optional<std::string_view> line = reader.Next()) {
    size_t count = 0;
    if (!SplitFields(*line, &fields, &count)) {
      return absl::InvalidArgumentError(absl::StrCat(Where(reader), ": malformed quoted field"));
    }
    if (count != header.names.size()) {
      return absl::InvalidArgumentError(absl::StrCat(Where(reader), ": expected ",
                                                     header.names.size(),
                                                     " fields as in the header, got ", count));
    }
    OPTBENCH_RETURN_IF_ERROR(row(fields, parser));
  }
  OPTBENCH_RETURN_IF_ERROR(reader.status());
  if (header_out != nullptr) *header_out = std::move(header);
  return absl::OkStatus();
}

absl::Status CheckSameHeader(const std::string& test_path, const Header& train,
                             const Header& test) {
  for (size_t i = 0; i < std::max(train.names.size(), test.names.size()); ++i) {
    const std::string got = i < test.names.size() ? test.names[i] : "(none)";
    const std::string want = i < train.names.size() ? train.names[i] : "(none)";
    if (got != want) {
      return absl::InvalidArgumentError(
          absl::StrCat(test_path, ":1: header differs from the train file's: column ", i + 1,
                       " is '", got, "', expected '", want, "'"));
    }
  }
  return absl::OkStatus();
}

// Counts the data rows (checking field counts). When `max_label` is not null, also parses the
// label column and records the largest label.
absl::StatusOr<int64_t> CountRows(const std::string& path, const std::string& label_column,
                                  Header* header, int64_t* max_label) {
  int64_t rows = 0;
  OPTBENCH_RETURN_IF_ERROR(ForEachRow(
      path, label_column, header,
      [&](const std::vector<std::string>& fields, const FieldParser& parser) -> absl::Status {
        ++rows;
        if (max_label == nullptr) return absl::OkStatus();
        OPTBENCH_ASSIGN_OR_RETURN(const int64_t label,
                                  parser.Label(fields[parser.label_index()], 0));
        *max_label = std::max(*max_label, label);
        return absl::OkStatus();
      }));
  if (rows == 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no data rows after the header"));
  }
  return rows;
}

// The first pass over both files: row counts, the feature count and, with `parse_labels`, the
// number of classes implied by the largest label (else options.num_classes, possibly 0).
absl::StatusOr<CsvShape> Scan(const CsvOptions& options, bool parse_labels) {
  CsvShape shape;
  int64_t max_label = -1;
  int64_t* track = parse_labels ? &max_label : nullptr;
  Header train_header;
  OPTBENCH_ASSIGN_OR_RETURN(
      shape.train_rows, CountRows(options.train_path, options.label_column, &train_header, track));
  if (!options.test_path.empty()) {
    Header test_header;
    OPTBENCH_ASSIGN_OR_RETURN(
        shape.test_rows, CountRows(options.test_path, options.label_column, &test_header, track));
    OPTBENCH_RETURN_IF_ERROR(CheckSameHeader(options.test_path, train_header, test_header));
  }
  shape.num_features = static_cast<int64_t>(train_header.names.size()) - 1;
  shape.num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  return shape;
}

}  // namespace

absl::StatusOr<CsvShape> ScanCsvShape(const CsvOptions& options) {
  return Scan(options, /*parse_labels=*/options.num_classes == 0);
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

// Second pass: parses the `rows` data rows of `path` (as counted by the first pass) into `split`
// and records the largest label.
absl::Status ParseSplit(const std::string& path, const CsvOptions& options, int64_t rows,
                        int64_t num_features, DataSplit* split, int64_t* max_label) {
  split->features.resize(rows, num_features);
  split->labels.resize(static_cast<size_t>(rows));
  int64_t r = 0;
  OPTBENCH_RETURN_IF_ERROR(ForEachRow(
      path, options.label_column, nullptr,
      [&](const std::vector<std::string>& fields, const FieldParser& parser) -> absl::Status {
        if (r >= rows) {
          return absl::InvalidArgumentError(absl::StrCat(path, ": file changed while reading"));
        }
        Real* x = split->features.row(r).data();
        const size_t label_index = parser.label_index();
        for (size_t j = 0, f = 0; j < fields.size(); ++j) {
          if (j == label_index) continue;
          OPTBENCH_ASSIGN_OR_RETURN(x[f++], parser.Feature<Real>(fields[j], j));
        }
        OPTBENCH_ASSIGN_OR_RETURN(const int64_t label,
                                  parser.Label(fields[label_index], options.num_classes));
        split->labels[static_cast<size_t>(r)] = static_cast<int32_t>(label);
        *max_label = std::max(*max_label, label);
        ++r;
        return absl::OkStatus();
      }));
  if (r != rows) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": file changed while reading"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Dataset> LoadCsvDataset(const CsvOptions& options) {
  // Pass 1 sizes the matrices (so peak memory is the features, not a growing copy of them);
  // pass 2 parses into them.
  OPTBENCH_ASSIGN_OR_RETURN(const CsvShape shape, Scan(options, /*parse_labels=*/false));
  int64_t max_label = -1;
  DataSplit train;
  OPTBENCH_RETURN_IF_ERROR(ParseSplit(options.train_path, options, shape.train_rows,
                                      shape.num_features, &train, &max_label));
  std::optional<DataSplit> test;
  if (!options.test_path.empty()) {
    test.emplace();
    OPTBENCH_RETURN_IF_ERROR(ParseSplit(options.test_path, options, shape.test_rows,
                                        shape.num_features, &*test, &max_label));
  }
  const int64_t num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  return Dataset(num_classes, std::move(train), std::move(test));
}

const DatasetDef& CsvDefinition() {
  using O = CsvOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "csv",
      "a user's CSV file: a header row, numeric feature columns and an integer label "
      "column (0..classes-1) chosen by name",
      spec::Binding<O>(
          {spec::Bind(&O::train_path, "train_path", {}, "path of the training CSV file (required)"),
           spec::Bind(&O::test_path, "test_path", {}, "path of an optional test CSV file"),
           spec::Bind(&O::label_column, "label_column", {}, "name of the label column"),
           spec::Bind(&O::num_classes, "num_classes", spec::Closed(0, 10000000),
                      "number of classes; 0 = one more than the largest label seen")}),
      [](const O& o) -> absl::StatusOr<Dataset> { return LoadCsvDataset(o); },
      [](const O& o) { return ScannedFootprint(ScanCsvShape(o)); },
      [](const O& o) { return ClassesIfGiven(o.num_classes); },
      [](const O& o) {
        if (o.train_path.empty()) {
          return absl::InvalidArgumentError(
              "dataset.train_path: required for dataset 'csv' (path of the training CSV file)");
        }
        return absl::OkStatus();
      }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
