#include "client/png.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/client/png_image.h"

namespace optbench::client {
namespace {

// Writes `png` to a fresh file and decodes it with cairo.
testing::Image Decode(const std::string& png) {
  char tmpl[] = "/tmp/optbench_png_XXXXXX";
  const int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  if (fd < 0) return {};
  ::close(fd);
  std::ofstream(tmpl, std::ios::binary) << png;
  testing::Image image = testing::ReadPng(tmpl);
  std::filesystem::remove(tmpl);
  return image;
}

// The PNG of a white `width` x `height` page with `body` drawn on it; empty when SvgToPng fails.
std::string Page(int width, int height, const std::string& body) {
  const std::string size = absl::StrCat("width=\"", width, "\" height=\"", height, "\"");
  auto png = SvgToPng(absl::StrCat("<svg xmlns=\"http://www.w3.org/2000/svg\" ", size, "><rect ",
                                   size, " fill=\"white\"/>", body, "</svg>"));
  EXPECT_TRUE(png.ok()) << png.status();
  return png.ok() ? *png : "";
}

TEST(SvgToPngTest, OnePixelPerUserUnitWithTheShapesInPlace) {
  // A 10 x 20 Tableau-blue rectangle on whole pixels of a 40 x 30 page.
  const std::string png =
      Page(40, 30, "<rect x=\"10\" y=\"5\" width=\"10\" height=\"20\" fill=\"#4e79a7\"/>");
  int width = 0, height = 0;
  ASSERT_TRUE(testing::PngHeaderSize(png, &width, &height)) << png.substr(0, 16);
  EXPECT_EQ(width, 40);
  EXPECT_EQ(height, 30);
  const testing::Image image = Decode(png);
  ASSERT_EQ(image.width, 40);
  ASSERT_EQ(image.height, 30);
  EXPECT_EQ(image.Count(0x4e79a7), 10 * 20);
  EXPECT_EQ(image.Count(0xffffff), 40 * 30 - 10 * 20);
  EXPECT_EQ(image.At(15, 15), 0x4e79a7u);
  EXPECT_EQ(image.At(9, 15), 0xffffffu);
  EXPECT_EQ(image.At(15, 25), 0xffffffu);
}

TEST(SvgToPngTest, DrawsText) {
  // Text needs a font: a page with only a word on it is not blank.
  const testing::Image image = Decode(Page(
      120, 40, "<text x=\"4\" y=\"30\" font-family=\"DejaVu Sans\" font-size=\"24\">group</text>"));
  ASSERT_EQ(image.width, 120);
  EXPECT_GT(image.Count(0x000000, 64), 40);
}

TEST(SvgToPngTest, RefusesWhatItCannotDrawNamingWhy) {
  auto bad = SvgToPng("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\"");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("cannot parse"), std::string::npos) << bad.status();
  auto sizeless = SvgToPng("<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>");
  EXPECT_EQ(sizeless.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sizeless.status().message().find("width and height"), std::string::npos)
      << sizeless.status();
}

}  // namespace
}  // namespace optbench::client
