#include "worker/engine/dataset/idx.h"

#include <zlib.h>

#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace optbench::engine {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

// An IDX file's bytes: magic (0, 0, type, dims), big-endian sizes, then `data`.
std::string IdxBytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                     uint8_t type = 0x08, uint8_t first = 0) {
  std::string s = {static_cast<char>(first), 0, static_cast<char>(type),
                   static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) s.push_back(static_cast<char>((d >> shift) & 0xff));
  }
  s.append(data.begin(), data.end());
  return s;
}

std::string Path(const std::string& name) { return ::testing::TempDir() + "/idx_test_" + name; }

std::string WritePlain(const std::string& name, const std::string& bytes) {
  const std::string path = Path(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string WriteGzip(const std::string& name, const std::string& bytes) {
  const std::string path = Path(name);
  gzFile f = gzopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<uint8_t> Ramp(size_t n) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), uint8_t{7});
  return v;
}

std::string ErrorOf(const std::string& path) {
  absl::StatusOr<IdxArray> a = ReadIdx(path);
  EXPECT_FALSE(a.ok());
  if (a.ok()) return "";
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()), HasSubstr(path));
  return std::string(a.status().message());
}

TEST(IdxTest, ReadsPlainAndGzipFiles) {
  const std::string bytes = IdxBytes({3, 2, 4}, Ramp(24));
  for (const std::string& path : {WritePlain("plain", bytes), WriteGzip("gz", bytes)}) {
    absl::StatusOr<IdxArray> a = ReadIdx(path);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->dims, (std::vector<int64_t>{3, 2, 4}));
    EXPECT_EQ(a->data, Ramp(24));
  }
  absl::StatusOr<IdxArray> header = ReadIdxHeader(WriteGzip("gz_header", bytes));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->dims, (std::vector<int64_t>{3, 2, 4}));
  EXPECT_TRUE(header->data.empty());
}

TEST(IdxTest, LargeSizesAreBigEndian) {
  absl::StatusOr<IdxArray> a = ReadIdx(WriteGzip("big", IdxBytes({300}, Ramp(300))));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->dims, (std::vector<int64_t>{300}));
}

TEST(IdxTest, RejectsWrongMagic) {
  EXPECT_THAT(ErrorOf(WritePlain("magic", IdxBytes({2}, Ramp(2), 0x08, 0x1f))),
              HasSubstr("wrong magic"));
  EXPECT_THAT(ErrorOf(WriteGzip("type", IdxBytes({2}, {0, 0, 0, 0, 0, 0, 0, 0}, 0x0D))),
              HasSubstr("unsupported IDX element type 0x0d"));
  EXPECT_THAT(ErrorOf(WritePlain("dims", IdxBytes({}, {}))), HasSubstr("0 dimensions"));
}

TEST(IdxTest, RejectsTruncatedFiles) {
  const std::string full = IdxBytes({3, 2, 2}, Ramp(12));
  EXPECT_THAT(ErrorOf(WritePlain("short_data", full.substr(0, full.size() - 7))),
              HasSubstr("truncated data: expected 12 bytes, got 5"));
  EXPECT_THAT(ErrorOf(WritePlain("short_header", full.substr(0, 9))),
              HasSubstr("truncated header"));
  // A gzip stream cut in the middle.
  const std::string gz = ReadAll(WriteGzip("whole", IdxBytes({200, 2}, Ramp(400))));
  EXPECT_THAT(ErrorOf(WritePlain("cut.gz", gz.substr(0, gz.size() / 2))),
              AnyOf(HasSubstr("truncated"), HasSubstr("corrupt gzip")));
  // Valid gzip, but it holds fewer bytes than the header declares.
  EXPECT_THAT(ErrorOf(WriteGzip("short.gz", full.substr(0, full.size() - 1))),
              HasSubstr("truncated data"));
}

TEST(IdxTest, RejectsCorruptGzipAndTrailingBytes) {
  std::string gz = ReadAll(WriteGzip("good", IdxBytes({200, 2}, Ramp(400))));
  gz[gz.size() - 6] ^= 0x5a;  // Inside the CRC-32 of the trailer.
  EXPECT_THAT(ErrorOf(WritePlain("bad_crc.gz", gz)), HasSubstr("corrupt gzip"));
  EXPECT_THAT(ErrorOf(WritePlain("trailing", IdxBytes({2}, Ramp(3)))),
              HasSubstr("unexpected bytes after the 2 data bytes"));
}

TEST(IdxTest, MissingFileNamesThePath) {
  EXPECT_THAT(ErrorOf(Path("does_not_exist.gz")), HasSubstr("cannot open file"));
}

}  // namespace
}  // namespace optbench::engine
