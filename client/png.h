// SVG to PNG for `optbench plot --out FILE.png`: the figure report/ draws as SVG, rasterized by
// librsvg onto a cairo surface, so both formats come from one drawing. Only the CLI links it.
#ifndef OPTBENCH_CLIENT_PNG_H_
#define OPTBENCH_CLIENT_PNG_H_

#include <string>

#include "absl/status/statusor.h"

namespace optbench::client {

// The PNG bytes of `svg` (a whole SVG document) at its intrinsic size: one pixel per SVG user
// unit, so a document with width="W" height="H" gives a W x H image (RGBA, 8 bits a channel).
// Text uses the fonts fontconfig finds (DejaVu Sans on Debian, fonts-dejavu-core).
// Errors: InvalidArgument when librsvg cannot parse `svg` or it has no size in pixels (no width
// and height, or percentages); Internal when cairo cannot make the image (e.g. out of memory).
// Thread-compatible: librsvg handles are not shared between calls.
absl::StatusOr<std::string> SvgToPng(const std::string& svg);

}  // namespace optbench::client

#endif  // OPTBENCH_CLIENT_PNG_H_
