// Reading PNG files back in tests: the header's size (by hand, from the IHDR chunk) and the
// pixels (decoded by cairo, independently of how they were written).
#ifndef OPTBENCH_TESTS_CLIENT_PNG_IMAGE_H_
#define OPTBENCH_TESTS_CLIENT_PNG_IMAGE_H_

#include <cairo.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace optbench::testing {

// The 8-byte PNG signature, then the IHDR chunk (length 13, "IHDR", width and height as 32-bit
// big-endian), as the PNG specification (ISO/IEC 15948, 5.2 and 11.2.2) requires first.
// False when `png` does not start that way.
inline bool PngHeaderSize(const std::string& png, int* width, int* height) {
  static const std::string kSignature("\x89PNG\r\n\x1a\n", 8);
  if (png.size() < 24 || png.compare(0, 8, kSignature) != 0 ||
      png.compare(8, 8, std::string("\0\0\0\x0dIHDR", 8)) != 0) {
    return false;
  }
  auto be32 = [&png](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(png[at + i]);
    return static_cast<int>(v);
  };
  *width = be32(16);
  *height = be32(20);
  return true;
}

// A decoded image: 0xRRGGBB per pixel, row by row (alpha dropped: the figures are opaque).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint32_t> rgb;

  uint32_t At(int x, int y) const { return rgb[static_cast<size_t>(y) * width + x]; }
  // Pixels within `tolerance` of `colour` in each channel.
  int Count(uint32_t colour, int tolerance = 0) const {
    int n = 0;
    for (uint32_t p : rgb) {
      bool close = true;
      for (int shift : {0, 8, 16}) {
        close &= std::abs(static_cast<int>((p >> shift) & 0xff) -
                          static_cast<int>((colour >> shift) & 0xff)) <= tolerance;
      }
      n += close;
    }
    return n;
  }
};

// The pixels of the PNG file at `path`; an empty image when cairo cannot read it.
inline Image ReadPng(const std::string& path) {
  Image image;
  cairo_surface_t* surface = cairo_image_surface_create_from_png(path.c_str());
  if (cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(surface);
    image.width = cairo_image_surface_get_width(surface);
    image.height = cairo_image_surface_get_height(surface);
    const int stride = cairo_image_surface_get_stride(surface);
    const unsigned char* data = cairo_image_surface_get_data(surface);
    // ARGB32 and RGB24 both keep a pixel as a native-endian uint32 0xAARRGGBB.
    for (int y = 0; y < image.height; ++y) {
      const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<size_t>(y) * stride);
      for (int x = 0; x < image.width; ++x) image.rgb.push_back(row[x] & 0xffffff);
    }
  }
  cairo_surface_destroy(surface);
  return image;
}

}  // namespace optbench::testing

#endif  // OPTBENCH_TESTS_CLIENT_PNG_IMAGE_H_
