#include "worker/engine/dataset/text.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/engine/recording_sink.h"
#include "worker/engine/catalog.h"
#include "worker/engine/run_job.h"

namespace optbench::engine {
namespace {

using testing::EstimatePeakMemoryBytes;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Tokens = std::vector<std::string>;

// Writes `contents` to a file in the test's temporary directory and returns its path.
std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/text_test_" + name;
  std::ofstream out(path, std::ios::binary);
  out << contents;
  return path;
}

// 16 tokens; with test_fraction 0.5 the train part is "b a b c a b d e" (b 3, a 2, c d e 1 each,
// first occurrences in that order) and the test part "a x y b c z q <eos>".
constexpr char kSmallCorpus[] = "b a b c a b d e\na x y b c z q\n";

TextOptions Small(int64_t vocab_size, int64_t context = 3) {
  TextOptions o;
  o.path = WriteFile("small.txt", kSmallCorpus);
  o.vocab_size = vocab_size;
  o.context = context;
  o.test_fraction = 0.5;
  o.max_train_examples = 0;
  o.max_test_examples = 0;
  return o;
}

std::string ErrorOf(const TextOptions& options) {
  absl::StatusOr<Dataset> data = LoadText(options);
  EXPECT_FALSE(data.ok());
  if (data.ok()) return "";
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(data.status().message());
}

TEST(TextTokenizerTest, LowercasesAndSplitsPunctuationIntoTokens) {
  EXPECT_EQ(TokenizeText("Don't PANIC!  \"Hello\",(world);x:y\n"),
            (Tokens{"don", "'", "t", "panic", "!", "\"", "hello", "\"", ",", "(", "world", ")", ";",
                    "x", ":", "y", "<eos>"}));
  // Every split character on its own; hyphens, digits, other symbols and non-ASCII bytes stay in
  // words (only A-Z are lower-cased: the UTF-8 bytes of "É" are kept).
  EXPECT_EQ(TokenizeText("3.14 [a]{b}`c`? e-mail $5 CAF\xC3\x89\tx--y"),
            (Tokens{"3", ".", "14", "[", "a", "]", "{", "b", "}", "`", "c", "`", "?", "e-mail",
                    "$5", "caf\xC3\x89", "x--y", "<eos>"}));
  EXPECT_EQ(TokenizeText("...\r\n"), (Tokens{".", ".", ".", "<eos>"}));
}

TEST(TextTokenizerTest, PercentLinesEndEntriesAndFilesEndWithEos) {
  EXPECT_EQ(TokenizeText("one\n%\ntwo three\n%\n"),
            (Tokens{"one", "<eos>", "two", "three", "<eos>"}));
  // Leading and repeated separators add nothing; spaces and '\r' around "%" are ignored; a file
  // without a final separator or newline still ends with <eos>; "%" inside a line is a word.
  EXPECT_EQ(TokenizeText("%\n%\na\n  %\t\r\n%\n50% off"),
            (Tokens{"a", "<eos>", "50%", "off", "<eos>"}));
  EXPECT_TRUE(TokenizeText("").empty());
  EXPECT_TRUE(TokenizeText(" \n\t\n%\n").empty());
}

TEST(TextTest, VocabularyKeepsTheMostFrequentTrainWordsAndUnk) {
  absl::StatusOr<TokenizedText> text = TokenizeCorpus(Small(4));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->train_tokens, 8);
  // b (3) and a (2) are kept, then one of the count-1 words: c, the first to occur. <unk> counts
  // d and e (2) and goes after a, which has the same count.
  EXPECT_EQ(text->vocabulary, (Tokens{"b", "a", "<unk>", "c"}));
  EXPECT_EQ(text->unknown_id, 2);
  EXPECT_EQ(text->train_counts, (std::vector<int64_t>{3, 2, 2, 1}));
  // Test-only words (x, y, z, q, <eos>) are <unk> too.
  EXPECT_EQ(text->tokens,
            (std::vector<int32_t>{0, 1, 0, 3, 1, 0, 2, 2, /*test:*/ 1, 2, 2, 0, 3, 2, 2, 2}));

  // No cap in effect: every train word plus an unused <unk>, last.
  text = TokenizeCorpus(Small(100));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->vocabulary, (Tokens{"b", "a", "c", "d", "e", "<unk>"}));
  EXPECT_EQ(text->train_counts, (std::vector<int64_t>{3, 2, 1, 1, 1, 0}));
  // The smallest vocabulary: <unk> (5 train tokens) outranks b (3).
  text = TokenizeCorpus(Small(2));
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->vocabulary, (Tokens{"<unk>", "b"}));
  EXPECT_EQ(text->train_counts, (std::vector<int64_t>{5, 3}));
}

TEST(TextTest, WindowsAreContextsAndTheirNextTokens) {
  absl::StatusOr<Dataset> data = LoadText(Small(4));
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes(), 4);
  EXPECT_EQ(data->num_features(), 3);
  // Train stream 0 1 0 3 1 0 2 2: windows start at 0..4 (the label must be inside the part).
  Matrix train(5, 3);
  train << 0, 1, 0,  //
      1, 0, 3,       //
      0, 3, 1,       //
      3, 1, 0,       //
      1, 0, 2;
  EXPECT_EQ(data->train().features, train);
  EXPECT_EQ(data->train().labels, (std::vector<int32_t>{3, 1, 0, 2, 2}));
  EXPECT_EQ(data->train().class_counts, (std::vector<int64_t>{1, 1, 2, 1}));
  // Test stream 1 2 2 0 3 2 2 2: never a train token.
  Matrix test(5, 3);
  test << 1, 2, 2,  //
      2, 2, 0,      //
      2, 0, 3,      //
      0, 3, 2,      //
      3, 2, 2;
  EXPECT_EQ(data->test().features, test);
  EXPECT_EQ(data->test().labels, (std::vector<int32_t>{0, 3, 2, 2, 2}));

  TextOptions strided = Small(4);
  strided.stride = 2;
  data = LoadText(strided);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train().labels, (std::vector<int32_t>{3, 0, 2}));  // Starts 0, 2, 4.
  EXPECT_EQ(data->test().labels, (std::vector<int32_t>{0, 2, 2}));   // Starts 8, 10, 12.
  EXPECT_EQ(data->test().features.row(1), test.row(2));
}

TEST(TextTest, CapsKeepEvenlySpreadWindows) {
  // W = 5 candidates, M kept: candidates floor(i W / M).
  EXPECT_THAT(TextWindowStarts(0, 8, 3, 1, 2), ElementsAre(0, 2));
  EXPECT_THAT(TextWindowStarts(0, 8, 3, 1, 3), ElementsAre(0, 1, 3));
  EXPECT_THAT(TextWindowStarts(0, 8, 3, 1, 5), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(TextWindowStarts(0, 8, 3, 1, 0), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(TextWindowStarts(10, 18, 3, 2, 2), ElementsAre(10, 12));  // Of 10, 12, 14.
  EXPECT_THAT(TextWindowStarts(100, 1100, 9, 1, 4), ElementsAre(100, 347, 595, 843));
  EXPECT_TRUE(TextWindowStarts(0, 3, 3, 1, 0).empty());  // No room for a label.
  EXPECT_THAT(TextWindowStarts(0, 4, 3, 1, 0), ElementsAre(0));

  TextOptions capped = Small(4);
  capped.max_train_examples = 2;
  capped.max_test_examples = 1;
  absl::StatusOr<Dataset> data = LoadText(capped);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train().labels, (std::vector<int32_t>{3, 0}));  // Windows 0 and 2.
  EXPECT_EQ(data->test().labels, (std::vector<int32_t>{0}));
}

TEST(TextTest, DirectoriesReadSortedTextFilesOnly) {
  const std::string dir = ::testing::TempDir() + "/text_test_dir";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/sub");
  std::ofstream(dir + "/b") << "y\n";
  std::ofstream(dir + "/a.txt") << "x\n%\nx\n";
  std::ofstream(dir + "/a.dat") << "skipped\n";
  std::ofstream(dir + "/.hidden") << "skipped\n";
  std::ofstream(dir + "/sub/c") << "skipped\n";
  std::filesystem::create_symlink("b", dir + "/b.u8");
  std::filesystem::create_symlink("b", dir + "/link");
  absl::StatusOr<std::vector<std::string>> files = ListTextFiles(dir);
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_THAT(*files, ElementsAre(dir + "/a.txt", dir + "/b", dir + "/link"));

  TextOptions o;
  o.path = dir;
  o.context = 1;
  o.test_fraction = 0.25;
  absl::StatusOr<TokenizedText> text = TokenizeCorpus(o);
  ASSERT_TRUE(text.ok()) << text.status();
  // x <eos> x <eos> | y <eos> y <eos>: 8 tokens, 6 train (x 2, <eos> 3, y 1).
  EXPECT_EQ(text->train_tokens, 6);
  EXPECT_EQ(text->vocabulary, (Tokens{"<eos>", "x", "y", "<unk>"}));
  EXPECT_EQ(text->tokens, (std::vector<int32_t>{1, 0, 1, 0, 2, 0, 2, 0}));
}

TEST(TextTest, IdsFollowTrainFrequencyAndLoadingIsDeterministic) {
  TextOptions o;
  o.path = WriteFile("zipf.txt",
                     "the cat saw the dog. the dog saw a cat, then the cat ran!\n%\n"
                     "a dog is not a cat; the cat is not a dog.\n%\nthe end\n");
  o.vocab_size = 8;
  o.context = 4;
  o.test_fraction = 0.3;
  absl::StatusOr<TokenizedText> text = TokenizeCorpus(o);
  ASSERT_TRUE(text.ok()) << text.status();
  // 36 tokens, the first floor(0.7 * 36) = 25 are train: the line "the cat ... ran!", <eos>,
  // and "a dog is not a cat;". Counted by hand: the 4, cat 4 (after "the": it occurs later), dog
  // 3, a 3, saw 2, then the count-1 words by first occurrence: ".", ",", then, ran, ...; <unk>
  // stands for the 7 train tokens of the words past the cap and ranks first.
  EXPECT_EQ(static_cast<int64_t>(text->tokens.size()), 36);
  EXPECT_EQ(text->train_tokens, 25);
  EXPECT_EQ(text->vocabulary, (Tokens{"<unk>", "the", "cat", "dog", "a", "saw", ".", ","}));
  EXPECT_EQ(text->train_counts, (std::vector<int64_t>{7, 4, 4, 3, 3, 2, 1, 1}));
  std::vector<int64_t> recount(8, 0);
  for (int64_t i = 0; i < text->train_tokens; ++i) ++recount[text->tokens[i]];
  EXPECT_EQ(text->train_counts, recount);

  absl::StatusOr<Dataset> first = LoadText(o);
  absl::StatusOr<Dataset> second = LoadText(o);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->train().features, second->train().features);
  EXPECT_EQ(first->train().labels, second->train().labels);
  EXPECT_EQ(first->test().features, second->test().features);
  EXPECT_EQ(first->test().labels, second->test().labels);
}

TEST(TextTest, BadInputIsInvalidArgumentNamingTheValue) {
  const std::string missing = ::testing::TempDir() + "/text_test_no_such_file";
  TextOptions o = Small(4);
  o.path = missing;
  EXPECT_THAT(ErrorOf(o), HasSubstr(missing + ": no such file or directory"));
  const std::string empty_dir = ::testing::TempDir() + "/text_test_empty_dir";
  std::filesystem::create_directories(empty_dir);
  std::ofstream(empty_dir + "/index.dat") << "x";
  o.path = empty_dir;
  EXPECT_THAT(ErrorOf(o), HasSubstr("directory " + empty_dir + " holds no text file"));
  o.path = WriteFile("short.txt", "a b c d e\n");  // 6 tokens with <eos>: 3 train, 3 test.
  o.context = 3;
  EXPECT_THAT(ErrorOf(o), HasSubstr("has 6 tokens (3 train, 3 test at test_fraction 0.5), too "
                                    "few for one train and one test window of 4 tokens"));
  o.context = 2;
  EXPECT_TRUE(LoadText(o).ok());

  o = Small(1);
  EXPECT_THAT(ErrorOf(o), HasSubstr("dataset.vocab_size: 1 is out of range"));
  o = Small(4, 0);
  EXPECT_THAT(ErrorOf(o), HasSubstr("dataset.context: 0 is out of range"));
  o = Small(4);
  o.stride = 0;
  EXPECT_THAT(ErrorOf(o), HasSubstr("dataset.stride: 0 is out of range"));
  for (double f : {0.0, 1.0, -0.5}) {
    o = Small(4);
    o.test_fraction = f;
    EXPECT_THAT(ErrorOf(o), HasSubstr("dataset.test_fraction: "));
    EXPECT_THAT(ErrorOf(o), HasSubstr("out of range; allowed (0, 1)"));
  }
  o = Small(4);
  o.max_test_examples = -1;
  EXPECT_THAT(ErrorOf(o), HasSubstr("dataset.max_test_examples: -1"));

  // The same through the catalog, as a job spec reaches it.
  absl::StatusOr<Dataset> data = MakeDataset("text", {{"vocab_size", int64_t{1}}});
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("vocab_size"));
  data = MakeDataset("text", {{"test_fraction", 1.0}});
  EXPECT_THAT(data.status().message(), HasSubstr("test_fraction"));
  data = MakeDataset("text", {{"path", missing}});
  EXPECT_THAT(data.status().message(), HasSubstr(missing));
}

TEST(TextTest, UnreadableFileIsNamed) {
  const std::string path = WriteFile("unreadable.txt", kSmallCorpus);
  std::filesystem::permissions(path, std::filesystem::perms::none);
  if (std::ifstream(path).is_open()) {
    GTEST_SKIP() << "running with privileges that read a mode-000 file (root)";
  }
  TextOptions o = Small(4);
  o.path = path;
  EXPECT_THAT(ErrorOf(o), HasSubstr(path + ": cannot open file"));
}

TEST(TextTest, ShapeBoundAndMemoryEstimate) {
  TextOptions o = Small(4);
  absl::StatusOr<TextShapeBound> shape = BoundTextShape(o);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->corpus_bytes, 30);
  EXPECT_EQ(shape->max_tokens, 31);
  EXPECT_EQ(shape->train_rows, 28);  // Windows of 4 in 31 tokens: no cap.
  EXPECT_EQ(shape->num_classes, 4);
  o.max_train_examples = 5;  // What LoadText keeps (5 candidates) when the cap binds.
  o.max_test_examples = 2;
  shape = BoundTextShape(o);
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->train_rows, 5);
  EXPECT_EQ(shape->test_rows, 2);

  TrainJob spec;
  spec.dataset = {"text",
                  {{"path", o.path},
                   {"context", int64_t{3}},
                   {"vocab_size", int64_t{4}},
                   {"max_train_examples", int64_t{5}},
                   {"max_test_examples", int64_t{2}},
                   {"test_fraction", 0.5}}};
  spec.model = {"linear", {}};
  spec.optimizer = {"gd", {}};
  absl::StatusOr<int64_t> bytes = EstimatePeakMemoryBytes(spec);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // The data set (7 rows of 3 features and a label) and the file bytes held while loading.
  EXPECT_GE(*bytes, 7 * (3 * static_cast<int64_t>(sizeof(Real)) + 4) + 30 + 4 * 31);
  // Five more train rows: at least their features and labels more.
  spec.dataset.params["max_train_examples"] = int64_t{10};
  absl::StatusOr<int64_t> more = EstimatePeakMemoryBytes(spec);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_GE(*more - *bytes, 5 * (3 * static_cast<int64_t>(sizeof(Real)) + 4));
  spec.dataset.params["path"] = ::testing::TempDir() + "/text_test_no_such_corpus";
  EXPECT_EQ(EstimatePeakMemoryBytes(spec).status().code(), absl::StatusCode::kInvalidArgument);
}

// The Debian fortunes corpus with the default options: plausible sizes and heavy-tailed token
// frequencies (the point of the data set: frequency groups with a few frequent and many rare
// classes).
TEST(TextTest, LoadsTheFortunesCorpus) {
  if (!std::filesystem::exists(std::string(kDebianFortunesPath) + "/fortunes")) {
    GTEST_SKIP() << "Debian package fortunes is not installed (scripts/setup installs it); no "
                    "files under "
                 << kDebianFortunesPath;
  }
  absl::StatusOr<TokenizedText> text = TokenizeCorpus(TextOptions());
  ASSERT_TRUE(text.ok()) << text.status();
  const auto total = static_cast<int64_t>(text->tokens.size());
  EXPECT_GT(total, 300000);  // Debian 12: 568,566 tokens in 2.6 MB.
  EXPECT_LT(total, 3000000);
  EXPECT_EQ(text->vocabulary.size(), 2000u);
  const std::vector<std::string> top(text->vocabulary.begin(), text->vocabulary.begin() + 8);
  EXPECT_THAT(top, ::testing::IsSupersetOf({".", ",", "the", "<eos>", "<unk>"}));

  absl::StatusOr<Dataset> data = MakeDataset("text", {});
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->num_classes(), 2000);
  EXPECT_EQ(data->num_features(), 16);
  EXPECT_EQ(data->train().size(), 20000);
  EXPECT_EQ(data->test().size(), 2000);
  // Heavy tail over the train labels: the 20 most frequent classes (1%) cover more than 40% of
  // the labels (measured: ~55%), the 1,000 rarest (half the classes) less than 10% (~5%).
  std::vector<int64_t> counts = data->train().class_counts;
  std::sort(counts.rbegin(), counts.rend());
  const int64_t n = data->train().size();
  const int64_t head = std::accumulate(counts.begin(), counts.begin() + 20, int64_t{0});
  const int64_t tail = std::accumulate(counts.begin() + 1000, counts.end(), int64_t{0});
  EXPECT_GT(head, n * 40 / 100);
  EXPECT_LT(tail, n * 10 / 100);
}

}  // namespace
}  // namespace optbench::engine
