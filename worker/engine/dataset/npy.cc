#include "worker/engine/dataset/npy.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace optbench::engine {
namespace {

constexpr int64_t kMaxLabel = 10'000'000 - 1;
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

absl::Status Error(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

// A cursor over the header's Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<std::string> String() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return std::nullopt;
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  std::optional<bool> Bool() {
    SkipSpace();
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true},
                                      std::pair<std::string_view, bool>{"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return std::nullopt;
  }
  // A tuple of non-negative integers: "()", "(5,)", "(3, 4)". nullopt if malformed or > 2^62.
  std::optional<std::vector<int64_t>> Tuple() {
    if (!Consume('(')) return std::nullopt;
    std::vector<int64_t> values;
    while (true) {
      if (Consume(')')) return values;
      SkipSpace();
      size_t digits = 0;
      int64_t v = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        if (v > (int64_t{1} << 62) / 10) return std::nullopt;
        v = v * 10 + (text_[pos_++] - '0');
        ++digits;
      }
      if (digits == 0) return std::nullopt;
      values.push_back(v);
      if (!Consume(',')) {
        if (Consume(')')) return values;
        return std::nullopt;
      }
    }
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

absl::StatusOr<NpyHeader> ParseHeader(const std::string& path, std::string_view text) {
  HeaderParser p(text);
  auto malformed = [&](const std::string& what) {
    return Error(path, absl::StrCat("malformed .npy header (", what, "): ", std::string(text)));
  };
  if (!p.Consume('{')) return malformed("expected '{'");
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<int64_t>> shape;
  while (!p.Consume('}')) {
    const std::optional<std::string> key = p.String();
    if (!key.has_value()) return malformed("expected a quoted key");
    if (!p.Consume(':')) return malformed("expected ':'");
    if (*key == "descr") {
      descr = p.String();
      if (!descr.has_value()) return malformed("descr is not a string");
    } else if (*key == "fortran_order") {
      fortran_order = p.Bool();
      if (!fortran_order.has_value()) return malformed("fortran_order is not True or False");
    } else if (*key == "shape") {
      shape = p.Tuple();
      if (!shape.has_value()) return malformed("shape is not a tuple of integers");
    } else {
      return malformed(absl::StrCat("unexpected key '", *key, "'"));
    }
    if (!p.Consume(',')) {
      if (p.Consume('}')) break;
      return malformed("expected ',' or '}'");
    }
  }
  if (!descr.has_value() || !fortran_order.has_value() || !shape.has_value()) {
    return malformed("needs descr, fortran_order and shape");
  }
  if (*fortran_order) {
    return Error(path,
                 "fortran_order is True; only C-order arrays are read (save with "
                 "numpy.ascontiguousarray)");
  }
  NpyHeader header;
  if (*descr == "<f4" || *descr == "<f8" || *descr == "<i4" || *descr == "<i8") {
    header.kind = (*descr)[1];
    header.item_size = (*descr)[2] - '0';
  } else {
    return Error(path, absl::StrCat("unsupported dtype '", *descr,
                                    "'; allowed little-endian '<f4', '<f8' (features) and "
                                    "'<i4', '<i8' (labels)"));
  }
  header.shape = *std::move(shape);
  int64_t elements = 1;
  for (int64_t d : header.shape) {
    if (d != 0 && elements > (int64_t{1} << 40) / d) {
      return Error(path, "shape declares more than 2^40 elements");
    }
    elements *= d;
  }
  return header;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  return absl::StrCat("(", absl::StrJoin(shape, ", "), shape.size() == 1 ? ",)" : ")");
}

int64_t Elements(const NpyHeader& h) {
  int64_t n = 1;
  for (int64_t d : h.shape) n *= d;
  return n;
}

absl::StatusOr<std::ifstream> OpenFile(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("npy: empty file path");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return Error(path, "cannot open file: is a directory");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    const int err = errno;
    return Error(path, absl::StrCat("cannot open file", err != 0 ? ": " : "",
                                    err != 0 ? std::strerror(err) : ""));
  }
  return in;
}

// Checks the header against what the caller needs: `dims` dimensions of `kind`.
absl::Status CheckArray(const std::string& path, const NpyHeader& h, size_t dims, char kind,
                        const char* what) {
  if (h.kind != kind) {
    return Error(
        path, absl::StrCat(what, " must be ", kind == 'f' ? "float32 or float64" : "int32 or int64",
                           ", got ", h.kind == 'f' ? "float" : "int", h.item_size * 8));
  }
  if (h.shape.size() != dims) {
    return Error(
        path, absl::StrCat(what, " must be a ", dims, "-D array, got shape ", ShapeText(h.shape)));
  }
  if (h.shape[0] == 0 || (dims == 2 && h.shape[1] == 0)) {
    return Error(path, absl::StrCat(what, " array is empty: shape ", ShapeText(h.shape)));
  }
  return absl::OkStatus();
}

// Opens `path`, checks its data size against the header, and calls fn(buffer, count, first) for
// consecutive blocks of elements.
template <typename Fn>
absl::Status ForEachBlock(const std::string& path, const NpyHeader& h, Fn&& fn) {
  const int64_t bytes = Elements(h) * h.item_size;
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return Error(path, absl::StrCat("cannot read the file size: ", ec.message()));
  const uintmax_t expected = static_cast<uintmax_t>(h.data_offset + bytes);
  if (size < expected) {
    return Error(path, absl::StrCat("truncated: shape ", ShapeText(h.shape), " needs ", bytes,
                                    " data bytes, the file has ",
                                    size > static_cast<uintmax_t>(h.data_offset)
                                        ? size - static_cast<uintmax_t>(h.data_offset)
                                        : 0));
  }
  if (size > expected) {
    return Error(path, absl::StrCat(size - expected, " unexpected bytes after the ", bytes,
                                    " data bytes of shape ", ShapeText(h.shape)));
  }
  OPTBENCH_ASSIGN_OR_RETURN(std::ifstream in, OpenFile(path));
  in.seekg(h.data_offset);
  constexpr int64_t kBlock = 1 << 16;
  std::vector<char> buffer(static_cast<size_t>(kBlock * h.item_size));
  const int64_t total = Elements(h);
  for (int64_t first = 0; first < total; first += kBlock) {
    const int64_t count = std::min(kBlock, total - first);
    if (!in.read(buffer.data(), count * h.item_size)) {
      return Error(path, "read error (file changed while reading?)");
    }
    OPTBENCH_RETURN_IF_ERROR(fn(buffer.data(), count, first));
  }
  return absl::OkStatus();
}

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

absl::StatusOr<NpyHeader> CheckedHeader(const std::string& path, size_t dims, char kind,
                                        const char* what) {
  OPTBENCH_ASSIGN_OR_RETURN(const NpyHeader h, ReadNpyHeader(path));
  OPTBENCH_RETURN_IF_ERROR(CheckArray(path, h, dims, kind, what));
  return h;
}

// Reads the labels (for the class count when it is not given): the largest label.
absl::StatusOr<int64_t> MaxLabel(const std::string& path, const NpyHeader& h,
                                 std::vector<int32_t>* out, int64_t num_classes) {
  int64_t max_label = -1;
  if (out != nullptr) out->resize(static_cast<size_t>(h.shape[0]));
  OPTBENCH_RETURN_IF_ERROR(
      ForEachBlock(path, h, [&](const char* data, int64_t count, int64_t first) -> absl::Status {
        for (int64_t i = 0; i < count; ++i) {
          const int64_t v =
              h.item_size == 4 ? Load<int32_t>(data + 4 * i) : Load<int64_t>(data + 8 * i);
          if (v < 0)
            return Error(path, absl::StrCat("label ", v, " at index ", first + i, " is negative"));
          if (v > kMaxLabel) {
            return Error(path, absl::StrCat("label ", v, " at index ", first + i,
                                            " exceeds the largest allowed label ", kMaxLabel));
          }
          if (num_classes > 0 && v >= num_classes) {
            return Error(path, absl::StrCat("label ", v, " at index ", first + i,
                                            " is out of range for num_classes ", num_classes,
                                            " (allowed 0..", num_classes - 1, ")"));
          }
          max_label = std::max(max_label, v);
          if (out != nullptr) (*out)[static_cast<size_t>(first + i)] = static_cast<int32_t>(v);
        }
        return absl::OkStatus();
      }));
  return max_label;
}

absl::Status CheckTestPaths(const NpyOptions& o) {
  if (o.features_path.empty()) {
    return absl::InvalidArgumentError(
        "dataset.features_path: required for dataset 'npy' (path of the features .npy file)");
  }
  if (o.labels_path.empty()) {
    return absl::InvalidArgumentError(
        "dataset.labels_path: required for dataset 'npy' (path of the labels .npy file)");
  }
  if (o.test_features_path.empty() != o.test_labels_path.empty()) {
    return absl::InvalidArgumentError(
        "dataset.test_features_path: give both test_features_path and test_labels_path, or "
        "neither");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<NpyHeader> ReadNpyHeader(const std::string& path) {
  OPTBENCH_ASSIGN_OR_RETURN(std::ifstream in, OpenFile(path));
  char preamble[kMagicSize + 2];
  if (!in.read(preamble, sizeof(preamble)) || std::memcmp(preamble, kMagic, kMagicSize) != 0) {
    return Error(path, "not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = static_cast<unsigned char>(preamble[kMagicSize]);
  if (major < 1 || major > 3) {
    return Error(path, absl::StrCat("unsupported .npy format version ", major, ".",
                                    static_cast<unsigned char>(preamble[kMagicSize + 1]),
                                    " (allowed 1.0, 2.0, 3.0)"));
  }
  const size_t len_size = major == 1 ? 2 : 4;
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  if (!in.read(reinterpret_cast<char*>(len_bytes), static_cast<std::streamsize>(len_size))) {
    return Error(path, "truncated .npy header");
  }
  const uint32_t header_len = len_bytes[0] | (uint32_t{len_bytes[1]} << 8) |
                              (uint32_t{len_bytes[2]} << 16) | (uint32_t{len_bytes[3]} << 24);
  if (header_len > (1u << 20)) return Error(path, "malformed .npy header (over 1 MiB)");
  std::string text(header_len, '\0');
  if (!in.read(text.data(), header_len)) return Error(path, "truncated .npy header");
  OPTBENCH_ASSIGN_OR_RETURN(NpyHeader header, ParseHeader(path, text));
  header.data_offset = static_cast<int64_t>(kMagicSize + 2 + len_size + header_len);
  return header;
}

absl::StatusOr<NpyShape> ScanNpyShape(const NpyOptions& options) {
  OPTBENCH_RETURN_IF_ERROR(CheckTestPaths(options));
  NpyShape shape;
  OPTBENCH_ASSIGN_OR_RETURN(const NpyHeader x,
                            CheckedHeader(options.features_path, 2, 'f', "features"));
  OPTBENCH_ASSIGN_OR_RETURN(const NpyHeader y,
                            CheckedHeader(options.labels_path, 1, 'i', "labels"));
  shape.train_rows = x.shape[0];
  shape.num_features = x.shape[1];
  int64_t max_label = -1;
  if (options.num_classes == 0) {
    OPTBENCH_ASSIGN_OR_RETURN(max_label, MaxLabel(options.labels_path, y, nullptr, 0));
  }
  if (!options.test_features_path.empty()) {
    OPTBENCH_ASSIGN_OR_RETURN(const NpyHeader tx,
                              CheckedHeader(options.test_features_path, 2, 'f', "features"));
    OPTBENCH_ASSIGN_OR_RETURN(const NpyHeader ty,
                              CheckedHeader(options.test_labels_path, 1, 'i', "labels"));
    shape.test_rows = tx.shape[0];
    if (options.num_classes == 0) {
      OPTBENCH_ASSIGN_OR_RETURN(const int64_t m,
                                MaxLabel(options.test_labels_path, ty, nullptr, 0));
      max_label = std::max(max_label, m);
    }
  }
  shape.num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  return shape;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

absl::StatusOr<DataSplit> LoadSplit(const std::string& features_path,
                                    const std::string& labels_path, int64_t num_classes,
                                    int64_t* max_label) {
  OPTBENCH_ASSIGN_OR_RETURN(const NpyHeader x, CheckedHeader(features_path, 2, 'f', "features"));
  OPTBENCH_ASSIGN_OR_RETURN(const NpyHeader y, CheckedHeader(labels_path, 1, 'i', "labels"));
  if (x.shape[0] != y.shape[0]) {
    return Error(labels_path, absl::StrCat(y.shape[0], " labels for the ", x.shape[0],
                                           " feature rows of ", features_path));
  }
  DataSplit split;
  const int64_t cols = x.shape[1];
  split.features.resize(x.shape[0], cols);
  Real* out = split.features.data();
  OPTBENCH_RETURN_IF_ERROR(ForEachBlock(
      features_path, x, [&](const char* data, int64_t count, int64_t first) -> absl::Status {
        for (int64_t i = 0; i < count; ++i) {
          const double v = x.item_size == 4 ? static_cast<double>(Load<float>(data + 4 * i))
                                            : Load<double>(data + 8 * i);
          if (!std::isfinite(v) ||
              std::fabs(v) > static_cast<double>(std::numeric_limits<Real>::max())) {
            const int64_t at = first + i;
            return Error(
                features_path,
                absl::StrCat("feature [", at / cols, ", ", at % cols, "] = ", v,
                             std::isfinite(v) ? " does not fit in float32" : " is not finite"));
          }
          out[first + i] = static_cast<Real>(v);
        }
        return absl::OkStatus();
      }));
  OPTBENCH_ASSIGN_OR_RETURN(const int64_t m, MaxLabel(labels_path, y, &split.labels, num_classes));
  *max_label = std::max(*max_label, m);
  return split;
}

}  // namespace

absl::StatusOr<Dataset> LoadNpyDataset(const NpyOptions& options) {
  OPTBENCH_RETURN_IF_ERROR(CheckTestPaths(options));
  int64_t max_label = -1;
  OPTBENCH_ASSIGN_OR_RETURN(DataSplit train, LoadSplit(options.features_path, options.labels_path,
                                                       options.num_classes, &max_label));
  std::optional<DataSplit> test;
  if (!options.test_features_path.empty()) {
    OPTBENCH_ASSIGN_OR_RETURN(test, LoadSplit(options.test_features_path, options.test_labels_path,
                                              options.num_classes, &max_label));
    if (test->features.cols() != train.features.cols()) {
      return Error(options.test_features_path,
                   absl::StrCat(test->features.cols(), " feature columns, the train features have ",
                                train.features.cols()));
    }
  }
  const int64_t num_classes = options.num_classes > 0 ? options.num_classes : max_label + 1;
  return Dataset(num_classes, std::move(train), std::move(test));
}

const DatasetDef& NpyDefinition() {
  using O = NpyOptions;
  static const DatasetDef* def = new DatasetDef(DefineDataset<O>(
      "npy",
      "NumPy .npy files: features float32/float64 n x d (C order), labels int32/int64 "
      "of length n (0..classes-1)",
      spec::Binding<O>({spec::Bind(&O::features_path, "features_path", {},
                                   "path of the train features .npy (required)"),
                        spec::Bind(&O::labels_path, "labels_path", {},
                                   "path of the train labels .npy (required)"),
                        spec::Bind(&O::test_features_path, "test_features_path", {},
                                   "path of optional test features .npy"),
                        spec::Bind(&O::test_labels_path, "test_labels_path", {},
                                   "path of optional test labels .npy"),
                        spec::Bind(&O::num_classes, "num_classes", spec::Closed(0, 10000000),
                                   "number of classes; 0 = one more than the largest label seen")}),
      [](const O& o) -> absl::StatusOr<Dataset> { return LoadNpyDataset(o); },
      [](const O& o) { return ScannedFootprint(ScanNpyShape(o)); },
      [](const O& o) { return ClassesIfGiven(o.num_classes); }));
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
