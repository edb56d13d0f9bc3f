// The `text` data set: next-token prediction on real text, a small-machine stand-in for paper 1's
// word-level PTB (ALGORITHMS.md 1.1 D5). Default corpus: the plain-text fortune files of Debian's
// `fortunes` package. Each row is a window of `context` token ids (stored as exact integer
// features); its label is the id of the token that follows, so the classes are the vocabulary and
// per-class metrics are per-token.
//
// Pipeline, every step deterministic (no seed):
//  1. Files. `path` "" means kDebianFortunesPath. A file path is read as is; a directory path
//     reads every regular file directly in it (symbolic links to regular files count, nothing
//     recursive) whose name does not start with '.' and does not end in ".dat" (strfile indexes)
//     or ".u8" (the fortune package's UTF-8 aliases, links to the plain files), in byte-wise
//     sorted name order.
//  2. Tokens (TokenizeText; like torchtext's basic_english). Bytes A-Z are lower-cased (other
//     bytes, UTF-8 included, are kept as they are). ASCII whitespace separates words. Each of the
//     characters  . , ! ? ; : ( ) [ ] { } " ' `  is a one-character token of its own wherever it
//     appears ("don't" -> don ' t; "3.14" -> 3 . 14); every other byte belongs to a word. A line
//     that holds only "%" (fortune's entry separator; surrounding spaces, tabs and '\r' ignored)
//     is an <eos> token, and every file ends with one; <eos> is never emitted twice in a row nor
//     first in the stream. <eos> is an ordinary vocabulary word (PTB's line ends play this role);
//     windows cross entries and files freely. The stream is the files' tokens in file order.
//     (A literal "<eos>" in the text is that same token; a literal "<unk>" is an ordinary word.)
//  3. Split. N tokens: the first floor((1 - test_fraction) N) are the train part, the rest the
//     test part. No window crosses the boundary.
//  4. Vocabulary, from the train part only: the vocab_size - 1 most frequent train words (ties:
//     earlier first occurrence first) plus <unk>, which stands for every other word in both
//     parts. Ids are ranks by decreasing train count, so class 0 is the most frequent token;
//     <unk> is ranked by its own train count (the train tokens of the words left out) and comes
//     after any word with the same count (last when no train token is left out). num_classes =
//     min(vocab_size, distinct train words + 1).
//  5. Windows. In a part [b, e), the candidate windows start at s = b, b + stride, ... while
//     s + context < e: features tokens[s, s + context), label tokens[s + context]. When a part
//     has more than its cap (max_train_examples / max_test_examples; 0 = no cap) of W candidates,
//     M = cap of them are kept, evenly spread: candidates floor(i W / M) for i = 0..M-1 (the
//     whole corpus is sampled, not just its first files). Rows are in stream order.
#ifndef OPTBENCH_WORKER_ENGINE_DATASET_TEXT_H_
#define OPTBENCH_WORKER_ENGINE_DATASET_TEXT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/dataset/dataset.h"
#include "worker/engine/dataset/dataset_def.h"

namespace optbench::engine {

// Where Debian's fortunes package puts the fortune files.
inline constexpr char kDebianFortunesPath[] = "/usr/share/games/fortunes";
inline constexpr char kEndOfEntryToken[] = "<eos>";
inline constexpr char kUnknownToken[] = "<unk>";

struct TextOptions {
  std::string path;  // "" = kDebianFortunesPath.
  int64_t vocab_size = 2000;
  int64_t context = 16;
  int64_t stride = 1;
  double test_fraction = 0.1;
  int64_t max_train_examples = 20000;  // 0 = no cap.
  int64_t max_test_examples = 2000;    // 0 = no cap.
};

// The tokens of one file's contents by rule 2 of the header, ending with <eos> (unless empty).
std::vector<std::string> TokenizeText(std::string_view text);

// The corpus files `path` names, by rule 1 of the header. InvalidArgument naming the path when it
// does not exist, is neither a file nor a directory, or is a directory holding no such file.
absl::StatusOr<std::vector<std::string>> ListTextFiles(const std::string& path);

// The token stream with ids (rules 2-4 of the header), before windowing.
struct TokenizedText {
  std::vector<std::string> vocabulary;  // Id -> word; vocabulary[unknown_id] is kUnknownToken.
  int32_t unknown_id = 0;
  std::vector<int64_t> train_counts;  // Id -> occurrences in the train part.
  std::vector<int32_t> tokens;        // The whole stream as ids.
  int64_t train_tokens = 0;           // tokens[0, train_tokens) is the train part.
};

// Reads and tokenizes the corpus. InvalidArgument naming the bad value for options out of range
// (vocab_size < 2, context < 1, stride < 1, test_fraction outside (0, 1), a negative cap), an
// unusable path (ListTextFiles), a file that cannot be read (named), or a corpus too short for
// one train and one test window.
absl::StatusOr<TokenizedText> TokenizeCorpus(const TextOptions& options);

// The start positions of the windows kept in the part [begin, end) of the stream (rule 5).
std::vector<int64_t> TextWindowStarts(int64_t begin, int64_t end, int64_t context, int64_t stride,
                                      int64_t cap);

// Upper bounds on the data set's shape from the options and the corpus size (for memory
// estimates; reads no file contents): rows are exact whenever the caps bind, as they do with the
// defaults on the fortunes corpus. Errors as ListTextFiles.
struct TextShapeBound {
  int64_t train_rows = 0;
  int64_t test_rows = 0;
  int64_t num_classes = 0;   // vocab_size.
  int64_t corpus_bytes = 0;  // Sum of the file sizes.
  int64_t max_tokens = 0;    // corpus_bytes + one <eos> per file.
};
absl::StatusOr<TextShapeBound> BoundTextShape(const TextOptions& options);

inline namespace OPTBENCH_ENGINE_PRECISION {

// Loads the data set: TokenizeCorpus, then the windows of both parts; features are token ids
// (exact in float32: ids < 2^24), num_features = context, num_classes as in the header. The test
// split is always present. Errors as TokenizeCorpus. Throws std::bad_alloc if the data does not
// fit.
absl::StatusOr<Dataset> LoadText(const TextOptions& options);

// The registered "text": provides rows of token ids ("token_ids").
const DatasetDef& TextDefinition();

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine

#endif  // OPTBENCH_WORKER_ENGINE_DATASET_TEXT_H_
