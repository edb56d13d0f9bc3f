#include "worker/engine/dataset/text.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace optbench::engine {
namespace {

// Ids must be exact in float32 features.
constexpr int64_t kMaxVocabulary = int64_t{1} << 24;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsSplitCharacter(char c) {
  constexpr std::string_view kSplit = ".,!?;:()[]{}\"'`";
  return kSplit.find(c) != std::string_view::npos;
}

bool IsEntrySeparator(std::string_view line) {
  size_t begin = 0, end = line.size();
  while (begin < end && IsSpace(line[begin])) ++begin;
  while (end > begin && IsSpace(line[end - 1])) --end;
  return line.substr(begin, end - begin) == "%";
}

// Calls emit(std::string_view) for each token of one file's contents (header rule 2). The views
// are valid during the call only. Every file ends with <eos>, so no state crosses files.
template <typename Emit>
void ForEachToken(std::string_view text, Emit&& emit) {
  bool at_boundary = true;  // Nothing emitted yet, or the last token was <eos>.
  std::string word;
  auto flush_word = [&]() {
    if (word.empty()) return;
    emit(std::string_view(word));
    word.clear();
    at_boundary = false;
  };
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (IsEntrySeparator(line)) {
      if (!at_boundary) emit(std::string_view(kEndOfEntryToken));
      at_boundary = true;
      continue;
    }
    for (const char c : line) {
      if (IsSpace(c)) {
        flush_word();
      } else if (IsSplitCharacter(c)) {
        flush_word();
        word.push_back(c);
        flush_word();
      } else {
        word.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
      }
    }
    flush_word();
  }
  if (!at_boundary) emit(std::string_view(kEndOfEntryToken));
}

const std::string& CorpusPath(const TextOptions& options) {
  static const std::string* debian = new std::string(kDebianFortunesPath);
  return options.path.empty() ? *debian : options.path;
}

bool Excluded(const std::string& name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return name.empty() || name[0] == '.' || ends_with(".dat") || ends_with(".u8");
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& file) {
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) {
    const int err = errno;
    return absl::InvalidArgumentError(absl::StrCat("dataset.path: ", file, ": cannot open file",
                                                   err != 0 ? ": " : "",
                                                   err != 0 ? std::strerror(err) : ""));
  }
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("dataset.path: ", file, ": read error"));
  }
  return contents;
}

absl::Status CheckOptions(const TextOptions& o) {
  if (o.vocab_size < 2 || o.vocab_size > kMaxVocabulary) {
    return absl::InvalidArgumentError(absl::StrCat("dataset.vocab_size: ", o.vocab_size,
                                                   " is out of range; allowed [2, ", kMaxVocabulary,
                                                   "]"));
  }
  if (o.context < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.context: ", o.context, " is out of range; allowed >= 1"));
  }
  if (o.stride < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.stride: ", o.stride, " is out of range; allowed >= 1"));
  }
  if (!(o.test_fraction > 0 && o.test_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.test_fraction: ", spec::FormatDouble(o.test_fraction),
                     " is out of range; allowed (0, 1)"));
  }
  if (o.max_train_examples < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset.max_train_examples: ", o.max_train_examples, " is out of range; allowed >= 0"));
  }
  if (o.max_test_examples < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset.max_test_examples: ", o.max_test_examples, " is out of range; allowed >= 0"));
  }
  return absl::OkStatus();
}

// Candidate windows in a part of `length` tokens (header rule 5), before the cap.
int64_t CandidateWindows(int64_t length, int64_t context, int64_t stride) {
  return length > context ? (length - 1 - context) / stride + 1 : 0;
}

int64_t TrainTokens(int64_t tokens, double test_fraction) {
  return static_cast<int64_t>(std::floor((1.0 - test_fraction) * static_cast<double>(tokens)));
}

}  // namespace

std::vector<std::string> TokenizeText(std::string_view text) {
  std::vector<std::string> tokens;
  ForEachToken(text, [&](std::string_view token) { tokens.emplace_back(token); });
  return tokens;
}

absl::StatusOr<std::vector<std::string>> ListTextFiles(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.path: ", path, ": no such file or directory"));
  }
  if (fs::is_regular_file(status)) return std::vector<std::string>{path};
  if (!fs::is_directory(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.path: ", path, ": neither a regular file nor a directory"));
  }
  std::vector<std::string> files;
  fs::directory_iterator it(path, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.path: ", path, ": cannot list directory: ", ec.message()));
  }
  for (const fs::directory_entry& entry : it) {
    if (Excluded(entry.path().filename().string())) continue;
    std::error_code entry_ec;
    if (entry.is_regular_file(entry_ec)) files.push_back(entry.path().string());
  }
  if (files.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.path: directory ", path,
                     " holds no text file (regular files not named .* , *.dat or *.u8)"));
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<int64_t> TextWindowStarts(int64_t begin, int64_t end, int64_t context, int64_t stride,
                                      int64_t cap) {
  const int64_t candidates = CandidateWindows(end - begin, context, stride);
  const int64_t kept = cap > 0 ? std::min(cap, candidates) : candidates;
  std::vector<int64_t> starts(static_cast<size_t>(kept));
  for (int64_t i = 0; i < kept; ++i) {
    // floor(i W / M) without forming i W: i (W mod M) < M^2 fits whenever M < 3e9.
    const int64_t k = (i * (candidates / kept)) + (i * (candidates % kept)) / kept;
    starts[static_cast<size_t>(i)] = begin + k * stride;
  }
  return starts;
}

absl::StatusOr<TokenizedText> TokenizeCorpus(const TextOptions& options) {
  OPTBENCH_RETURN_IF_ERROR(CheckOptions(options));
  const std::string& path = CorpusPath(options);
  OPTBENCH_ASSIGN_OR_RETURN(const std::vector<std::string> files, ListTextFiles(path));

  // Words get provisional ids in order of first occurrence, so sorting by provisional id breaks
  // frequency ties by first occurrence; the train part is the stream's prefix, so this is also
  // the order of first occurrence in the train part.
  std::unordered_map<std::string, int32_t> provisional;
  std::vector<const std::string*> words;
  TokenizedText out;
  std::string key;
  for (const std::string& file : files) {
    OPTBENCH_ASSIGN_OR_RETURN(const std::string contents, ReadWholeFile(file));
    ForEachToken(contents, [&](std::string_view token) {
      key.assign(token);
      auto [it, inserted] = provisional.try_emplace(key, static_cast<int32_t>(words.size()));
      if (inserted) words.push_back(&it->first);
      out.tokens.push_back(it->second);
    });
  }

  const auto total = static_cast<int64_t>(out.tokens.size());
  out.train_tokens = TrainTokens(total, options.test_fraction);
  if (CandidateWindows(out.train_tokens, options.context, options.stride) == 0 ||
      CandidateWindows(total - out.train_tokens, options.context, options.stride) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.path: the corpus ", path, " has ", total, " tokens (",
                     out.train_tokens, " train, ", total - out.train_tokens,
                     " test at test_fraction ", spec::FormatDouble(options.test_fraction),
                     "), too few for one train and one test window of ", options.context + 1,
                     " tokens (context ", options.context, " + 1)"));
  }

  std::vector<int64_t> counts(words.size(), 0);
  for (int64_t i = 0; i < out.train_tokens; ++i) ++counts[static_cast<size_t>(out.tokens[i])];
  std::vector<int32_t> ranked;  // Provisional ids of the train words, best first.
  for (size_t w = 0; w < words.size(); ++w) {
    if (counts[w] > 0) ranked.push_back(static_cast<int32_t>(w));
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](int32_t a, int32_t b) { return counts[a] > counts[b]; });
  ranked.resize(std::min<size_t>(ranked.size(), static_cast<size_t>(options.vocab_size - 1)));
  int64_t unknown_count = out.train_tokens;
  for (const int32_t w : ranked) unknown_count -= counts[static_cast<size_t>(w)];
  // <unk> goes after every kept word with at least its count.
  const auto unknown_rank = static_cast<size_t>(
      std::partition_point(
          ranked.begin(), ranked.end(),
          [&](int32_t w) { return counts[static_cast<size_t>(w)] >= unknown_count; }) -
      ranked.begin());
  out.unknown_id = static_cast<int32_t>(unknown_rank);

  const size_t vocabulary_size = ranked.size() + 1;
  out.vocabulary.resize(vocabulary_size);
  out.train_counts.resize(vocabulary_size);
  std::vector<int32_t> final_id(words.size(), out.unknown_id);
  for (size_t r = 0; r < ranked.size(); ++r) {
    const size_t id = r < unknown_rank ? r : r + 1;
    const auto w = static_cast<size_t>(ranked[r]);
    final_id[w] = static_cast<int32_t>(id);
    out.vocabulary[id] = *words[w];
    out.train_counts[id] = counts[w];
  }
  out.vocabulary[unknown_rank] = kUnknownToken;
  out.train_counts[unknown_rank] = unknown_count;
  for (int32_t& token : out.tokens) token = final_id[static_cast<size_t>(token)];
  return out;
}

absl::StatusOr<TextShapeBound> BoundTextShape(const TextOptions& options) {
  OPTBENCH_RETURN_IF_ERROR(CheckOptions(options));
  OPTBENCH_ASSIGN_OR_RETURN(const std::vector<std::string> files,
                            ListTextFiles(CorpusPath(options)));
  TextShapeBound shape;
  for (const std::string& file : files) {
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset.path: ", file, ": cannot read its size: ", ec.message()));
    }
    shape.corpus_bytes += static_cast<int64_t>(size);
  }
  // A token takes at least one byte, except the <eos> that ends each file.
  shape.max_tokens = shape.corpus_bytes + static_cast<int64_t>(files.size());
  auto rows = [&](int64_t cap) {
    const int64_t candidates = CandidateWindows(shape.max_tokens, options.context, options.stride);
    return cap > 0 ? std::min(cap, candidates) : candidates;
  };
  shape.train_rows = rows(options.max_train_examples);
  shape.test_rows = rows(options.max_test_examples);
  shape.num_classes = options.vocab_size;
  return shape;
}

inline namespace OPTBENCH_ENGINE_PRECISION {
namespace {

DataSplit Windows(const TokenizedText& text, int64_t begin, int64_t end, int64_t context,
                  int64_t stride, int64_t cap) {
  const std::vector<int64_t> starts = TextWindowStarts(begin, end, context, stride, cap);
  DataSplit split;
  split.features.resize(static_cast<Eigen::Index>(starts.size()), context);
  split.labels.resize(starts.size());
  for (size_t r = 0; r < starts.size(); ++r) {
    const int32_t* window = &text.tokens[static_cast<size_t>(starts[r])];
    for (int64_t j = 0; j < context; ++j) {
      split.features(static_cast<Eigen::Index>(r), j) = static_cast<Real>(window[j]);
    }
    split.labels[r] = window[context];
  }
  return split;
}

}  // namespace

absl::StatusOr<Dataset> LoadText(const TextOptions& options) {
  OPTBENCH_ASSIGN_OR_RETURN(const TokenizedText text, TokenizeCorpus(options));
  const auto total = static_cast<int64_t>(text.tokens.size());
  DataSplit train = Windows(text, 0, text.train_tokens, options.context, options.stride,
                            options.max_train_examples);
  DataSplit test = Windows(text, text.train_tokens, total, options.context, options.stride,
                           options.max_test_examples);
  return Dataset(static_cast<int64_t>(text.vocabulary.size()), std::move(train), std::move(test));
}

const DatasetDef& TextDefinition() {
  using O = TextOptions;
  static const DatasetDef* def = [] {
    auto* d = new DatasetDef(DefineDataset<O>(
        "text",
        "next-token prediction on real text (paper 1 D5 stand-in): word tokens (lower-cased, "
        "punctuation split off, fortune '%' lines -> <eos>), a row = `context` token ids, label "
        "= the next token id; classes = the vocabulary, ids by decreasing train frequency",
        spec::Binding<O>(
            {spec::Bind(&O::path, "path", {},
                        "corpus file, or directory of files (sorted; *.dat, *.u8, .* skipped); "
                        "\"\" = Debian's fortunes package, /usr/share/games/fortunes"),
             spec::Bind(&O::vocab_size, "vocab_size", spec::Closed(2, 1000000),
                        "vocabulary cap: the vocab_size - 1 most frequent train words plus <unk>"),
             spec::Bind(&O::context, "context", spec::Closed(1, 100000),
                        "tokens per row (paper 1: sequence length 35)"),
             spec::Bind(&O::stride, "stride", spec::Closed(1, 1000000),
                        "token offset between candidate windows"),
             spec::Bind(&O::test_fraction, "test_fraction", spec::Open(0, 1),
                        "the stream's last fraction is the test part (contiguous split)"),
             spec::Bind(&O::max_train_examples, "max_train_examples", spec::Closed(0, 1e9),
                        "keep at most this many train windows, evenly spread over the corpus; "
                        "0 = all"),
             spec::Bind(&O::max_test_examples, "max_test_examples", spec::Closed(0, 1e9),
                        "keep at most this many test windows, evenly spread; 0 = all")}),
        [](const O& o) -> absl::StatusOr<Dataset> { return LoadText(o); },
        // Rows from the caps (bounded by the corpus size); while loading, the text of a file, the
        // int32 token stream and the word dictionary (~100 bytes per distinct word, taken as one
        // per 16 corpus bytes: the fortunes corpus has one per ~75) are held.
        [](const O& o) -> absl::StatusOr<DataFootprint> {
          absl::StatusOr<TextShapeBound> s = BoundTextShape(o);
          if (!s.ok()) return s.status();
          return DataFootprint{s->train_rows, s->test_rows, o.context, s->num_classes,
                               s->corpus_bytes + 4 * s->max_tokens + 100 * (s->corpus_bytes / 16)};
        },
        [](const O& o) {
          spec::DataTraits traits;
          traits.num_classes = o.vocab_size;
          traits.num_features = o.context;
          return traits;
        }));
    // Rows are token ids below the class count and the label is the next token.
    d->spec.provides = {"token_ids"};
    return d;
  }();
  return *def;
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
