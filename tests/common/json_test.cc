#include "common/json.h"

#include <string>

#include "gtest/gtest.h"

namespace optbench {
namespace {

TEST(JsonTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(JsonQuote("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(JsonQuote(std::string("a\0b", 3)), R"("a\u0000b")");
  EXPECT_EQ(JsonQuote("\x7f"), "\"\x7f\"");  // DEL needs no escape in JSON
}

TEST(JsonTest, KeepsValidUtf8) {
  // 2-, 3- and 4-byte sequences at the edges of their ranges: é, U+0800, U+FFFD, U+10000,
  // U+10FFFF, and the last code point before the surrogates (U+D7FF).
  for (const std::string s : {"\xc3\xa9", "\xe0\xa0\x80", "\xef\xbf\xbd", "\xf0\x90\x80\x80",
                              "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf", "caf\xc3\xa9 \xce\xbb=0.1"}) {
    EXPECT_EQ(JsonQuote(s), "\"" + s + "\"");
  }
}

TEST(JsonTest, ReplacesEachByteOfAnInvalidSequence) {
  const std::string r = R"(\ufffd)";
  EXPECT_EQ(JsonQuote("\x80"), "\"" + r + "\"");                          // stray continuation
  EXPECT_EQ(JsonQuote("a\xc3"), "\"a" + r + "\"");                        // truncated at the end
  EXPECT_EQ(JsonQuote("\xc3(x"), "\"" + r + "(x\"");                      // bad continuation
  EXPECT_EQ(JsonQuote("\xc0\xaf"), "\"" + r + r + "\"");                  // overlong '/'
  EXPECT_EQ(JsonQuote("\xe0\x80\xaf"), "\"" + r + r + r + "\"");          // overlong, 3 bytes
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"" + r + r + r + "\"");          // surrogate U+D800
  EXPECT_EQ(JsonQuote("\xf4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // above U+10FFFF
  EXPECT_EQ(JsonQuote("\xff\xfe"), "\"" + r + r + "\"");
  // The valid text around an invalid byte is kept.
  EXPECT_EQ(JsonQuote("\xc3\xa9\xff\xc3\xa9"), "\"\xc3\xa9" + r + "\xc3\xa9\"");
}

}  // namespace
}  // namespace optbench
