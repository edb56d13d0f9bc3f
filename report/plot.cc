#include "report/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "report/format.h"
#include "spec/params.h"

namespace optbench::report {
namespace {

// Layout in pixels. A cell holds one panel: its title above the plot box, tick labels left of
// and below it.
constexpr int kCellWidth = 300;
constexpr int kCellHeight = 250;
constexpr int kLegendWidth = 170;
constexpr int kAxisCaption = 24;  // left of the grid (y caption) and below it (x caption)
constexpr int kBoxLeft = 52;      // room for y tick labels
constexpr int kBoxRight = 14;
constexpr int kBoxTop = 26;     // room for the panel title
constexpr int kBoxBottom = 24;  // room for x tick labels
constexpr int kMinBox = 40;
constexpr int kMinSize = 200;
constexpr int kMaxSize = 20000;

std::string Xml(const std::string& s) { return EscapeXml(s); }

// Pixel coordinates: two decimals is below what a renderer resolves, and fixed so the output is
// byte-stable.
std::string Px(double v) { return absl::StrFormat("%.2f", v); }

std::string Label(double v) {
  if (std::abs(v) < 1e-12) v = 0;  // no "-0"
  return absl::StrFormat("%g", v);
}

// Matplotlib's viridis at nine evenly spaced points; dark for the most frequent group, and cut
// at 0.9 because its last yellows vanish on white.
std::string GroupColour(int group, int num_groups) {
  static constexpr std::array<std::array<int, 3>, 9> kViridis = {{{68, 1, 84},
                                                                  {72, 40, 120},
                                                                  {62, 73, 137},
                                                                  {49, 104, 142},
                                                                  {38, 130, 142},
                                                                  {31, 158, 137},
                                                                  {53, 183, 121},
                                                                  {110, 206, 88},
                                                                  {253, 231, 37}}};
  const double t = num_groups > 1 ? 0.9 * group / (num_groups - 1) : 0.0;
  const double x = t * (kViridis.size() - 1);
  const int i = std::min(static_cast<int>(x), static_cast<int>(kViridis.size()) - 2);
  const double f = x - i;
  int rgb[3];
  for (int c = 0; c < 3; ++c) {
    rgb[c] =
        static_cast<int>(std::lround(kViridis[i][c] + f * (kViridis[i + 1][c] - kViridis[i][c])));
  }
  return absl::StrFormat("#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

// Tableau 10 (Maureen Stone, "How we designed the new color palettes in Tableau 10", Tableau
// blog, 2016): ten qualitative colours of balanced weight on white, designed to be told apart
// (for colour-blind readers Okabe & Ito's eight would be safer, but ten lines are common here).
// Series from the 11th on repeat them dashed, then dotted.
std::string SeriesColour(int series) {
  static constexpr std::array<const char*, 10> kTableau10 = {
      "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return kTableau10[static_cast<size_t>(series) % kTableau10.size()];
}
std::string SeriesDash(int series) {
  switch (series / 10 % 3) {
    case 1:
      return "6,3";
    case 2:
      return "1.5,2.5";
    default:
      return "";
  }
}

// Maps data to pixels along one axis: [lo, hi] (after log10 on a log axis) onto [p0, p1].
struct Axis {
  double lo = 0;
  double hi = 1;
  bool log = false;
  double p0 = 0;
  double p1 = 1;

  double T(double v) const { return log ? std::log10(v) : v; }
  double Map(double v) const { return p0 + (T(v) - T(lo)) / (T(hi) - T(lo)) * (p1 - p0); }
};

// 1, 2 or 5 times a power of ten, giving about `target` intervals over `span`.
double NiceStep(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
}

// Multiples of `step` inside [lo, hi], each computed as k * step so labels come out round.
// None when that is not a countable few (a step of 0 or NaN from an empty span, or values so
// large that k + 1 == k): counting by doubles there would never end.
std::vector<double> LinearTicks(double lo, double hi, double step) {
  std::vector<double> ticks;
  if (!(step > 0) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double first = std::ceil(lo / step - 1e-9);
  const double last = std::floor(hi / step + 1e-9);
  if (!(last >= first) || last - first > 1000 || first + 1 == first) return ticks;
  const int count = static_cast<int>(last - first);
  for (int i = 0; i <= count; ++i) ticks.push_back((first + i) * step);
  return ticks;
}

// m x 10^k, divided rather than multiplied for k < 0 so that 0.2 is the double nearest 0.2.
double Decade(double m, double k) { return k < 0 ? m / std::pow(10.0, -k) : m * std::pow(10.0, k); }

// The values m x 10^k (m in `mantissas`) inside [lo, hi], ascending; lo > 0.
std::vector<double> LogTicks(double lo, double hi, std::initializer_list<double> mantissas) {
  std::vector<double> ticks;
  for (double k = std::floor(std::log10(lo)) - 1; k <= std::ceil(std::log10(hi)); k += 1) {
    for (double m : mantissas) {
      const double v = Decade(m, k);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
    }
  }
  return ticks;
}

std::vector<double> Ticks(const Axis& axis, bool integer) {
  if (!axis.log) {
    double step = NiceStep(axis.hi - axis.lo, 5);
    if (integer) step = std::max(step, 1.0);
    return LinearTicks(axis.lo, axis.hi, step);
  }
  // Decades over two or more of them; 1, 2, 5 per decade below that (FitRange made room for two).
  if (axis.hi >= 100 * axis.lo * (1 - 1e-9)) return LogTicks(axis.lo, axis.hi, {1});
  return LogTicks(axis.lo, axis.hi, {1, 2, 5});
}

// The range an axis shows for data spanning [*lo, *hi]: a single value gets room around it
// (steps, being whole, one step either side); a log range with fewer than two of the ticks
// 1, 2, 5 x 10^k widens to the nearest ones outside it (on the nearer side only when it holds
// one already), so that no log axis needs ticks that read as linear ones.
void FitRange(bool log, bool integer, double* lo, double* hi) {
  if (*lo == *hi) {
    if (log) {
      *lo /= std::sqrt(10.0);
      *hi *= std::sqrt(10.0);
    } else {
      const double pad = integer ? 1 : *lo == 0 ? 0.5 : std::abs(*lo) * 0.1;
      *lo -= pad;
      *hi += pad;
    }
  }
  if (!log) return;
  const size_t inside = LogTicks(*lo, *hi, {1, 2, 5}).size();
  if (inside >= 2) return;
  const double below = LogTicks(*lo / 10, *lo, {1, 2, 5}).back();
  const double above = LogTicks(*hi, *hi * 10, {1, 2, 5}).front();
  // With one tick inside, widening the nearer side (in decades) is enough.
  const bool lower = inside == 0 || *lo / below < above / *hi;
  const bool upper = inside == 0 || !lower;
  if (lower) *lo = below;
  if (upper) *hi = above;
}

// Opens a panel's <g> and draws its grid lines, tick labels (data-tick="x" or "y") and plot box
// (<rect data-box="panel">) for the axes `x` (integer ticks when `x_integer`) and `y`, and its
// `title` above the box unless empty.
void PanelFrame(int panel, const Axis& x, bool x_integer, const Axis& y, const std::string& title,
                std::string* svg) {
  const double left = x.p0, right = x.p1, top = y.p1, bottom = y.p0;
  absl::StrAppend(svg, "<g>\n");
  for (double t : Ticks(y, false)) {
    const std::string py = Px(y.Map(t));
    absl::StrAppend(svg, "<line x1=\"", Px(left), "\" y1=\"", py, "\" x2=\"", Px(right), "\" y2=\"",
                    py, "\" stroke=\"#e4e4e4\"/>\n<text data-tick=\"y\" x=\"", Px(left - 4),
                    "\" y=\"", py, "\" dy=\"0.32em\" text-anchor=\"end\" fill=\"#444\">", Label(t),
                    "</text>\n");
  }
  for (double t : Ticks(x, x_integer)) {
    const std::string px = Px(x.Map(t));
    absl::StrAppend(svg, "<line x1=\"", px, "\" y1=\"", Px(top), "\" x2=\"", px, "\" y2=\"",
                    Px(bottom), "\" stroke=\"#e4e4e4\"/>\n<text data-tick=\"x\" x=\"", px,
                    "\" y=\"", Px(bottom + 14), "\" text-anchor=\"middle\" fill=\"#444\">",
                    Label(t), "</text>\n");
  }
  absl::StrAppend(svg, "<rect data-box=\"", panel, "\" x=\"", Px(left), "\" y=\"", Px(top),
                  "\" width=\"", Px(right - left), "\" height=\"", Px(bottom - top),
                  "\" fill=\"none\" stroke=\"#555\"/>\n");
  if (!title.empty()) {
    absl::StrAppend(svg, "<text x=\"", Px((left + right) / 2), "\" y=\"", Px(top - 8),
                    "\" text-anchor=\"middle\" font-size=\"12\">", Xml(title), "</text>\n");
  }
}

// A line as drawn: a series' values of one group over its steps, and the interval around each
// (NaN, NaN where there is none).
struct Line {
  std::string attributes;  // data-panel="P" data-group="G" ...
  std::string colour;
  std::string dash;  // stroke-dasharray, empty for solid
  std::vector<int64_t> steps;
  std::vector<double> values;
  std::vector<std::pair<double, double>> band;  // empty, or one per step
};

struct Panel {
  std::string title;
  std::vector<Line> lines;
};

struct LegendEntry {
  std::string label;
  std::string colour;
  std::string dash;
};

struct Figure {
  std::vector<Panel> panels;
  std::string legend_title;
  std::string legend_note;  // a grey line under the title, empty for none
  std::vector<LegendEntry> legend;
};

// A confidence band per series, point and group: (low, high); empty when there are none.
using Bands = std::vector<std::vector<std::vector<std::pair<double, double>>>>;

// Whether a point can be placed on the axes `options` asks for.
bool Drawable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }
bool DrawableAt(int64_t step, double v, const PlotOptions& options) {
  return Drawable(v, options.log_y) && (!options.log_x || step > 0);
}

// Series `s`'s line for group `g`, with its band from `bands[series]` when there is one.
Line SeriesLine(const v1::Series& s, int series, int g, const Bands& bands) {
  Line line;
  const size_t at = static_cast<size_t>(series);
  for (int i = 0; i < s.points_size(); ++i) {
    const v1::SeriesPoint& p = s.points(i);
    line.steps.push_back(p.step());
    line.values.push_back(g < p.values_size() ? p.values(g) : NAN);
    if (at >= bands.size()) continue;
    const auto& band = bands[at];
    const size_t point = static_cast<size_t>(i), group = static_cast<size_t>(g);
    line.band.push_back(point < band.size() && group < band[point].size()
                            ? band[point][group]
                            : std::pair<double, double>{NAN, NAN});
  }
  return line;
}

bool HasDrawable(const v1::Series& s, int g, const PlotOptions& options) {
  for (const v1::SeriesPoint& p : s.points()) {
    if (g < p.values_size() && DrawableAt(p.step(), p.values(g), options)) return true;
  }
  return false;
}

// The class count of each group when every series that has groups groups its classes alike;
// empty otherwise.
std::vector<int64_t> SharedGroupSizes(const v1::QueryMetricsResponse& response) {
  std::vector<int64_t> sizes;
  bool first = true;
  for (const v1::Series& s : response.series()) {
    if (s.groups_size() == 0) continue;
    std::vector<int64_t> these;
    for (const v1::ClassGroup& g : s.groups()) these.push_back(g.num_classes());
    if (!first && these != sizes) return {};
    sizes = std::move(these);
    first = false;
  }
  return sizes;
}

std::string Classes(int64_t n) { return absl::StrCat(n, n == 1 ? " class" : " classes"); }

Figure JobPanels(const v1::QueryMetricsResponse& response, const Bands& bands, int num_groups,
                 const PlotOptions& options) {
  Figure figure;
  for (int j = 0; j < response.series_size(); ++j) {
    const v1::Series& s = response.series(j);
    Panel& panel = figure.panels.emplace_back();
    panel.title = JobTitle(s.job());
    for (int g = 0; g < s.groups_size(); ++g) {
      Line& line = panel.lines.emplace_back(SeriesLine(s, j, g, bands));
      line.attributes = absl::StrCat("data-panel=\"", j, "\" data-group=\"", g, "\"");
      line.colour = GroupColour(g, num_groups);
    }
  }
  const std::vector<int64_t> sizes = SharedGroupSizes(response);
  figure.legend_title = num_groups > 1 ? "frequency group" : "group";
  if (num_groups > 1) figure.legend_note = "1 = most frequent";
  for (int g = 0; g < num_groups; ++g) {
    if (std::none_of(response.series().begin(), response.series().end(),
                     [&](const v1::Series& s) { return HasDrawable(s, g, options); })) {
      continue;
    }
    std::string label = absl::StrCat(g + 1);
    if (static_cast<size_t>(g) < sizes.size()) {
      absl::StrAppend(&label, "  (", Classes(sizes[static_cast<size_t>(g)]), ")");
    }
    figure.legend.push_back({label, GroupColour(g, num_groups), ""});
  }
  return figure;
}

// `series_kind` names a series in the data attributes and the legend: "job" or "setting".
Figure GroupPanels(const v1::QueryMetricsResponse& response, const Bands& bands, int num_groups,
                   const std::string& series_kind, const PlotOptions& options) {
  Figure figure;
  const std::vector<int64_t> sizes = SharedGroupSizes(response);
  for (int g = 0; g < num_groups; ++g) {
    if (std::none_of(response.series().begin(), response.series().end(),
                     [&](const v1::Series& s) { return HasDrawable(s, g, options); })) {
      continue;
    }
    const int p = static_cast<int>(figure.panels.size());
    Panel& panel = figure.panels.emplace_back();
    std::vector<std::string> title = {absl::StrCat("group ", g + 1)};
    if (static_cast<size_t>(g) < sizes.size()) {
      title.push_back(Classes(sizes[static_cast<size_t>(g)]));
    }
    if (num_groups > 1 && g == 0) title.push_back("most frequent");
    if (num_groups > 1 && g == num_groups - 1) title.push_back("rarest");
    panel.title = absl::StrJoin(title, " \u00b7 ");
    for (int j = 0; j < response.series_size(); ++j) {
      const v1::Series& s = response.series(j);
      if (g >= s.groups_size()) continue;
      Line& line = panel.lines.emplace_back(SeriesLine(s, j, g, bands));
      line.attributes = absl::StrCat("data-panel=\"", p, "\" data-group=\"", g, "\" data-",
                                     series_kind, "=\"", j, "\"");
      line.colour = SeriesColour(j);
      line.dash = SeriesDash(j);
    }
  }
  std::vector<const v1::Job*> jobs;
  for (const v1::Series& s : response.series()) jobs.push_back(&s.job());
  const std::vector<std::string> titles =
      jobs.size() == 1 ? std::vector<std::string>{JobTitle(*jobs[0])} : DistinguishingTitles(jobs);
  figure.legend_title = series_kind;
  if (series_kind == "setting") figure.legend_note = "mean over seeds, 95 % CI";
  for (int j = 0; j < response.series_size(); ++j) {
    const v1::Series& s = response.series(j);
    bool drawable = false;
    for (int g = 0; g < s.groups_size() && !drawable; ++g) drawable = HasDrawable(s, g, options);
    if (drawable) {
      figure.legend.push_back({titles[static_cast<size_t>(j)], SeriesColour(j), SeriesDash(j)});
    }
  }
  return figure;
}

std::string DashAttribute(const std::string& dash) {
  return dash.empty() ? "" : absl::StrCat(" stroke-dasharray=\"", dash, "\"");
}

// A line's band: a translucent <polygon> (the upper bounds left to right, then the lower ones
// back) per maximal run of points with a drawable interval; a run of one point is a vertical
// <line>.
void DrawBand(const Line& line, const Axis& x, const Axis& y, const PlotOptions& options,
              std::string* svg) {
  struct Corner {
    std::string x, high, low;  // Pixel coordinates.
  };
  std::vector<Corner> run;
  auto flush = [&] {
    if (run.size() == 1) {
      absl::StrAppend(svg, "<line data-band=\"1\" ", line.attributes, " x1=\"", run[0].x,
                      "\" y1=\"", run[0].high, "\" x2=\"", run[0].x, "\" y2=\"", run[0].low,
                      "\" stroke=\"", line.colour,
                      "\" stroke-opacity=\"0.4\" stroke-width=\"3\"/>\n");
    } else if (run.size() > 1) {
      std::vector<std::string> corners;
      for (const Corner& c : run) corners.push_back(absl::StrCat(c.x, ",", c.high));
      for (auto it = run.rbegin(); it != run.rend(); ++it) {
        corners.push_back(absl::StrCat(it->x, ",", it->low));
      }
      absl::StrAppend(svg, "<polygon data-band=\"1\" ", line.attributes, " fill=\"", line.colour,
                      "\" fill-opacity=\"0.18\" stroke=\"none\" points=\"",
                      absl::StrJoin(corners, " "), "\"/>\n");
    }
    run.clear();
  };
  for (size_t i = 0; i < line.band.size(); ++i) {
    const auto [low, high] = line.band[i];
    if (!DrawableAt(line.steps[i], low, options) || !DrawableAt(line.steps[i], high, options)) {
      flush();
      continue;
    }
    run.push_back({Px(x.Map(static_cast<double>(line.steps[i]))), Px(y.Map(high)), Px(y.Map(low))});
  }
  flush();
}

// A line: a <polyline> per maximal run of drawable points, a <circle> for a run of one.
void DrawLine(const Line& line, const Axis& x, const Axis& y, const PlotOptions& options,
              std::string* svg) {
  std::vector<std::string> run;
  auto flush = [&] {
    if (run.size() == 1) {
      const size_t comma = run[0].find(',');
      absl::StrAppend(svg, "<circle ", line.attributes, " cx=\"", run[0].substr(0, comma),
                      "\" cy=\"", run[0].substr(comma + 1), "\" r=\"1.8\" fill=\"", line.colour,
                      "\"/>\n");
    } else if (run.size() > 1) {
      absl::StrAppend(svg, "<polyline ", line.attributes, " fill=\"none\" stroke=\"", line.colour,
                      "\"", DashAttribute(line.dash),
                      " stroke-width=\"1.6\" stroke-linejoin=\"round\" points=\"",
                      absl::StrJoin(run, " "), "\"/>\n");
    }
    run.clear();
  };
  for (size_t i = 0; i < line.values.size(); ++i) {
    if (!DrawableAt(line.steps[i], line.values[i], options)) {
      flush();
      continue;
    }
    run.push_back(absl::StrCat(Px(x.Map(static_cast<double>(line.steps[i]))), ",",
                               Px(y.Map(line.values[i]))));
  }
  flush();
}

// Characters (UTF-8 code points) in `s`, to size the legend.
int Chars(const std::string& s) {
  return static_cast<int>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A figure's width and height: 0 (automatic) or kMinSize..kMaxSize; InvalidArgument naming it.
absl::Status CheckFigureSize(int width, int height) {
  for (const auto& [name, value] : {std::pair{"width", width}, std::pair{"height", height}}) {
    if (value != 0 && (value < kMinSize || value > kMaxSize)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", value,
                                                     " is out of range; allowed ", kMinSize, "..",
                                                     kMaxSize, " (or 0: automatic)"));
    }
  }
  return absl::OkStatus();
}

// The <svg> element and its white background.
std::string SvgStart(int width, int height) {
  return absl::StrCat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width, "\" height=\"", height,
      "\" viewBox=\"0 0 ", width, " ", height,
      "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\">\n",
      "<rect width=\"", width, "\" height=\"", height, "\" fill=\"white\"/>\n");
}

// A vertical grid line at x = px across [top, bottom] and its tick label under the box.
std::string XGridTick(double px, double top, double bottom, const std::string& label) {
  const std::string x = Px(px);
  return absl::StrCat("<line x1=\"", x, "\" y1=\"", Px(top), "\" x2=\"", x, "\" y2=\"", Px(bottom),
                      "\" stroke=\"#e4e4e4\"/>\n<text data-tick=\"x\" x=\"", x, "\" y=\"",
                      Px(bottom + 14), "\" text-anchor=\"middle\" fill=\"#444\">", label,
                      "</text>\n");
}

// The frame of a single plot box.
std::string BoxFrame(double left, double top, double right, double bottom) {
  return absl::StrCat("<rect data-box=\"0\" x=\"", Px(left), "\" y=\"", Px(top), "\" width=\"",
                      Px(right - left), "\" height=\"", Px(bottom - top),
                      "\" fill=\"none\" stroke=\"#555\"/>\n");
}

// Opens a legend's group (closed by the caller with </g>) with its heading at (x, y).
std::string LegendHead(double x, double y, const std::string& heading) {
  return absl::StrCat("<g font-size=\"11\">\n<text x=\"", Px(x), "\" y=\"", Px(y),
                      "\" font-size=\"12\">", Xml(heading), "</text>\n");
}

absl::StatusOr<std::string> Render(const v1::QueryMetricsResponse& response, const Bands& bands,
                                   const std::string& series_kind, const PlotOptions& options) {
  if (absl::Status s = CheckFigureSize(options.width, options.height); !s.ok()) return s;
  if (options.columns < 0 || options.columns > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("columns: ", options.columns, " is out of range; allowed 0..100"));
  }
  if (options.reference_y.has_value() &&
      (!std::isfinite(*options.reference_y) || (options.log_y && *options.reference_y <= 0))) {
    return absl::InvalidArgumentError(absl::StrCat("reference line: ", Label(*options.reference_y),
                                                   " cannot be drawn on a ",
                                                   options.log_y ? "log" : "linear", " axis"));
  }

  int num_groups = 0;
  for (const v1::Series& s : response.series()) num_groups = std::max(num_groups, s.groups_size());
  num_groups = std::max(num_groups, 1);
  const bool by_group = options.layout == PlotLayout::kGroup;
  const Figure figure = by_group ? GroupPanels(response, bands, num_groups, series_kind, options)
                                 : JobPanels(response, bands, num_groups, options);

  // Shared ranges over every panel: x over the steps a series has (that the axis can show), y
  // over the drawable values and intervals.
  const bool log = options.log_y;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const v1::Series& s : response.series()) {
    for (const v1::SeriesPoint& p : s.points()) {
      if (options.log_x && p.step() <= 0) continue;
      x_lo = std::min(x_lo, static_cast<double>(p.step()));
      x_hi = std::max(x_hi, static_cast<double>(p.step()));
    }
  }
  for (const Panel& panel : figure.panels) {
    for (const Line& line : panel.lines) {
      for (size_t i = 0; i < line.values.size(); ++i) {
        if (DrawableAt(line.steps[i], line.values[i], options)) {
          y_lo = std::min(y_lo, line.values[i]);
          y_hi = std::max(y_hi, line.values[i]);
        }
        if (i < line.band.size() && DrawableAt(line.steps[i], line.band[i].first, options) &&
            DrawableAt(line.steps[i], line.band[i].second, options)) {
          y_lo = std::min(y_lo, line.band[i].first);
          y_hi = std::max(y_hi, line.band[i].second);
        }
      }
    }
  }
  const std::string what =
      response.series_size() > 0
          ? absl::StrCat(response.series(0).split() == v1::SPLIT_TEST ? "test " : "train ",
                         response.series(0).metric())
          : std::string("values");
  if (y_lo > y_hi) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nothing to plot: no ", log ? "positive " : "finite ", what, " in ", response.series_size(),
        " series (no evaluation in the selected steps yet?", log ? " or try a linear axis" : "",
        options.log_x ? "; step 0 cannot be drawn on a log x axis" : "", ")"));
  }
  if (options.reference_y.has_value()) {
    y_lo = std::min(y_lo, *options.reference_y);
    y_hi = std::max(y_hi, *options.reference_y);
  }
  FitRange(log, false, &y_lo, &y_hi);
  FitRange(options.log_x, true, &x_lo, &x_hi);

  // Layout.
  const int panels = std::max(1, static_cast<int>(figure.panels.size()));
  const int columns =
      options.columns > 0 ? std::min(options.columns, panels) : std::min(panels, by_group ? 5 : 3);
  const int rows = (panels + columns - 1) / columns;
  const int title_height = options.title.empty() ? 12 : 40;
  // The legend is as wide as its longest label (about 6.5 pixels a character), at least
  // kLegendWidth.
  int legend_chars = Chars(figure.legend_title);
  for (const LegendEntry& e : figure.legend)
    legend_chars = std::max(legend_chars, 5 + Chars(e.label));
  const int legend_width =
      std::clamp(static_cast<int>(std::lround(20 + 6.5 * legend_chars)), kLegendWidth, 480);
  const int width =
      options.width > 0 ? options.width : kAxisCaption + columns * kCellWidth + legend_width;
  // Automatic height also fits the legend (a line per entry) beside a single row.
  const int legend_height = kBoxTop + 60 + 16 * static_cast<int>(figure.legend.size());
  const int height =
      options.height > 0
          ? options.height
          : title_height + std::max(rows * kCellHeight, legend_height) + kAxisCaption;
  const double cell_w = static_cast<double>(width - kAxisCaption - legend_width) / columns;
  const double cell_h = static_cast<double>(height - title_height - kAxisCaption) / rows;
  if (cell_w - kBoxLeft - kBoxRight < kMinBox) {
    return absl::InvalidArgumentError(absl::StrCat(
        "width: ", width, " is too small for ", columns, " columns of panels; needs at least ",
        kAxisCaption + legend_width + columns * (kBoxLeft + kBoxRight + kMinBox)));
  }
  if (cell_h - kBoxTop - kBoxBottom < kMinBox) {
    return absl::InvalidArgumentError(absl::StrCat(
        "height: ", height, " is too small for ", rows, " rows of panels; needs at least ",
        title_height + kAxisCaption + rows * (kBoxTop + kBoxBottom + kMinBox)));
  }

  std::string svg = SvgStart(width, height);
  if (!options.title.empty()) {
    absl::StrAppend(
        &svg, "<text x=\"", Px(kAxisCaption + (width - kAxisCaption - legend_width) / 2.0),
        "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">", Xml(options.title), "</text>\n");
  }
  // Axis captions, once for the whole grid since the axes are shared.
  const double grid_mid_y = title_height + rows * cell_h / 2;
  absl::StrAppend(&svg, "<text transform=\"translate(14,", Px(grid_mid_y),
                  ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">", Xml(what),
                  log ? " (log scale)" : "", "</text>\n");
  absl::StrAppend(&svg, "<text x=\"", Px(kAxisCaption + columns * cell_w / 2), "\" y=\"",
                  Px(height - 8), "\" text-anchor=\"middle\" font-size=\"12\">step",
                  options.log_x ? " (log scale)" : "", "</text>\n");

  for (int panel = 0; panel < panels; ++panel) {
    const double cx = kAxisCaption + (panel % columns) * cell_w;
    const double cy = title_height + (panel / columns) * cell_h;
    const double left = cx + kBoxLeft, right = cx + cell_w - kBoxRight;
    const double top = cy + kBoxTop, bottom = cy + cell_h - kBoxBottom;
    const Axis x{x_lo, x_hi, options.log_x, left, right};
    const Axis y{y_lo, y_hi, log, bottom, top};

    const bool drawn = static_cast<size_t>(panel) < figure.panels.size();
    PanelFrame(panel, x, true, y, drawn ? figure.panels[static_cast<size_t>(panel)].title : "",
               &svg);
    if (!drawn) {
      absl::StrAppend(&svg, "</g>\n");
      continue;
    }
    const Panel& p = figure.panels[static_cast<size_t>(panel)];
    if (options.reference_y.has_value()) {
      const std::string py = Px(y.Map(*options.reference_y));
      absl::StrAppend(&svg, "<line data-reference=\"", panel, "\" x1=\"", Px(left), "\" y1=\"", py,
                      "\" x2=\"", Px(right), "\" y2=\"", py,
                      "\" stroke=\"#777\" stroke-dasharray=\"6,4\"/>\n");
    }
    bool any = false;
    for (const Line& line : p.lines) {
      for (size_t i = 0; i < line.values.size() && !any; ++i) {
        any = DrawableAt(line.steps[i], line.values[i], options);
      }
    }
    if (!any) {
      absl::StrAppend(&svg, "<text x=\"", Px((left + right) / 2), "\" y=\"", Px((top + bottom) / 2),
                      "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n");
    }
    for (const Line& line : p.lines) {
      DrawBand(line, x, y, options, &svg);
      DrawLine(line, x, y, options, &svg);
    }
    absl::StrAppend(&svg, "</g>\n");
  }

  const double lx = width - legend_width + 12;
  double ly = title_height + kBoxTop;
  absl::StrAppend(&svg, "<g font-size=\"11\">\n<text x=\"", Px(lx), "\" y=\"", Px(ly),
                  "\" font-size=\"12\">", Xml(figure.legend_title), "</text>\n");
  ly += 16;
  if (!figure.legend_note.empty()) {
    absl::StrAppend(&svg, "<text x=\"", Px(lx), "\" y=\"", Px(ly), "\" fill=\"#666\">",
                    Xml(figure.legend_note), "</text>\n");
    ly += 18;
  }
  for (const LegendEntry& e : figure.legend) {
    absl::StrAppend(&svg, "<line data-legend=\"1\" x1=\"", Px(lx), "\" y1=\"", Px(ly - 4),
                    "\" x2=\"", Px(lx + 22), "\" y2=\"", Px(ly - 4), "\" stroke=\"", e.colour, "\"",
                    DashAttribute(e.dash), " stroke-width=\"3\"/>\n<text x=\"", Px(lx + 28),
                    "\" y=\"", Px(ly), "\">", Xml(e.label), "</text>\n");
    ly += 16;
  }
  if (options.reference_y.has_value()) {
    ly += 4;
    absl::StrAppend(&svg, "<line x1=\"", Px(lx), "\" y1=\"", Px(ly - 4), "\" x2=\"", Px(lx + 22),
                    "\" y2=\"", Px(ly - 4),
                    "\" stroke=\"#777\" stroke-dasharray=\"6,4\"/>\n<text x=\"", Px(lx + 28),
                    "\" y=\"", Px(ly), "\">", Xml(options.reference_label), " = ",
                    Label(*options.reference_y), "</text>\n");
  }
  absl::StrAppend(&svg, "</g>\n</svg>\n");
  return svg;
}

}  // namespace

absl::StatusOr<std::string> QueryToSvg(const v1::QueryMetricsResponse& response,
                                       const PlotOptions& options) {
  return Render(response, {}, "job", options);
}

absl::StatusOr<std::string> AggregatesToSvg(const v1::QueryMetricsResponse& response,
                                            const PlotOptions& options) {
  v1::QueryMetricsResponse means;
  Bands bands;
  for (const v1::AggregateSeries& a : response.aggregates()) {
    v1::Series* s = means.add_series();
    s->mutable_job()->set_id("all seeds");
    *s->mutable_job()->mutable_labels() = a.labels();
    s->set_metric(a.metric());
    s->set_split(a.split());
    *s->mutable_groups() = a.groups();
    auto& series = bands.emplace_back();
    for (const v1::AggregatePoint& p : a.points()) {
      v1::SeriesPoint* point = s->add_points();
      point->set_step(p.step());
      auto& at = series.emplace_back();
      for (const v1::AggregateValue& v : p.values()) {
        point->add_values(v.mean());
        at.emplace_back(v.ci_low(), v.ci_high());
      }
    }
  }
  return Render(means, bands, "setting", options);
}

absl::StatusOr<std::string> ProfileToSvg(const ProfileResult& result,
                                         const ProfilePlotOptions& options) {
  if (!std::isfinite(options.tau_max) || options.tau_max <= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tau-max: ", Label(options.tau_max), " must be a finite number > 1"));
  }
  if (absl::Status s = CheckFigureSize(options.width, options.height); !s.ok()) return s;
  if (result.curves.empty()) {
    return absl::FailedPreconditionError("nothing to plot: no optimizer in the profile");
  }
  // Automatic width: 560, or wider so the title (15 px type, about 8.5 px a character) fits.
  const int width =
      options.width > 0 ? options.width : std::max(560, Chars(options.title) * 17 / 2 + 40);
  const int height = options.height > 0 ? options.height : 360;
  const int title_height = options.title.empty() ? 12 : 40;
  const double left = kAxisCaption + kBoxLeft, right = width - kLegendWidth - kBoxRight;
  const double top = title_height + 8, bottom = height - kAxisCaption - kBoxBottom;
  if (right - left < kMinBox || bottom - top < kMinBox) {
    return absl::InvalidArgumentError(
        absl::StrCat("size: ", width, " x ", height, " is too small for the profile"));
  }
  const Axis x{1, options.tau_max, true, left, right};
  const Axis y{0, 1, false, bottom, top};

  std::string svg = SvgStart(width, height);
  if (!options.title.empty()) {
    absl::StrAppend(&svg, "<text x=\"", Px(width / 2.0),
                    "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">", Xml(options.title),
                    "</text>\n");
  }
  absl::StrAppend(&svg, "<text transform=\"translate(14,", Px((top + bottom) / 2),
                  ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">fraction of "
                  "workloads</text>\n<text x=\"",
                  Px((left + right) / 2), "\" y=\"", Px(height - 8),
                  "\" text-anchor=\"middle\" font-size=\"12\">tau: time / best time (log "
                  "scale)</text>\n");
  for (double t : Ticks(y, false)) {
    const std::string py = Px(y.Map(t));
    absl::StrAppend(&svg, "<line x1=\"", Px(left), "\" y1=\"", py, "\" x2=\"", Px(right),
                    "\" y2=\"", py, "\" stroke=\"#e4e4e4\"/>\n<text x=\"", Px(left - 4), "\" y=\"",
                    py, "\" dy=\"0.32em\" text-anchor=\"end\" fill=\"#444\">", Label(t),
                    "</text>\n");
  }
  // Ratios read as factors: ticks at powers of two (of ten on a long axis), and at tau_max.
  std::vector<double> x_ticks;
  const double factor = options.tau_max <= 64 ? 2 : 10;
  for (double t = 1; t < options.tau_max * (1 - 1e-9); t *= factor) x_ticks.push_back(t);
  x_ticks.push_back(options.tau_max);
  for (double t : x_ticks) {
    absl::StrAppend(&svg, XGridTick(x.Map(t), top, bottom, Label(t)));
  }
  absl::StrAppend(&svg, BoxFrame(left, top, right, bottom));
  const double lx = width - kLegendWidth + 12;
  double ly = top + 12;
  std::string legend = LegendHead(lx, ly, "optimizer");
  ly += 18;
  for (size_t i = 0; i < result.curves.size(); ++i) {
    const ProfileCurve& c = result.curves[i];
    const std::string colour = SeriesColour(static_cast<int>(i));
    // Horizontal at the current fraction, then up at each breakpoint inside the axis.
    double rho = Rho(c, 1);
    std::vector<std::string> points = {absl::StrCat(Px(x.Map(1)), ",", Px(y.Map(rho)))};
    for (const auto& [tau, fraction] : c.breakpoints) {
      if (tau <= 1 || tau > options.tau_max) continue;
      points.push_back(absl::StrCat(Px(x.Map(tau)), ",", Px(y.Map(rho))));
      rho = fraction;
      points.push_back(absl::StrCat(Px(x.Map(tau)), ",", Px(y.Map(rho))));
    }
    points.push_back(absl::StrCat(Px(x.Map(options.tau_max)), ",", Px(y.Map(rho))));
    absl::StrAppend(&svg, "<polyline data-optimizer=\"", i, "\" fill=\"none\" stroke=\"", colour,
                    "\" stroke-width=\"2\" stroke-linejoin=\"miter\" points=\"",
                    absl::StrJoin(points, " "), "\"/>\n");
    absl::StrAppend(&legend, "<line x1=\"", Px(lx), "\" y1=\"", Px(ly - 4), "\" x2=\"", Px(lx + 22),
                    "\" y2=\"", Px(ly - 4), "\" stroke=\"", colour,
                    "\" stroke-width=\"3\"/>\n<text x=\"", Px(lx + 28), "\" y=\"", Px(ly), "\">",
                    Xml(c.optimizer), "</text>\n");
    ly += 16;
  }
  absl::StrAppend(&svg, legend, "</g>\n</svg>\n");
  return svg;
}

absl::StatusOr<std::string> ClassScatterToSvg(const v1::QueryMetricsResponse& response,
                                              const PlotOptions& options) {
  if (absl::Status s = CheckFigureSize(options.width, options.height); !s.ok()) return s;
  // One (frequency, value) per class at the series' last step.
  struct Point {
    int64_t cls;
    int64_t frequency;
    double value;
  };
  std::vector<std::vector<Point>> panels;
  std::vector<int64_t> last_steps;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const v1::Series& s : response.series()) {
    auto& points = panels.emplace_back();
    last_steps.push_back(s.points().empty() ? -1 : s.points(s.points_size() - 1).step());
    if (s.points().empty()) continue;
    const v1::SeriesPoint& last = s.points(s.points_size() - 1);
    for (int g = 0; g < s.groups_size() && g < last.values_size(); ++g) {
      if (s.groups(g).classes_size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "series of job ", s.job().id(), ": group ", g + 1, " holds ",
            s.groups(g).classes_size(), " classes; a class scatter needs one class per group"));
      }
      const Point p{s.groups(g).classes(0), s.groups(g).train_examples(), last.values(g)};
      if (p.frequency <= 0 || !Drawable(p.value, true)) continue;
      x_lo = std::min(x_lo, static_cast<double>(p.frequency));
      x_hi = std::max(x_hi, static_cast<double>(p.frequency));
      y_lo = std::min(y_lo, p.value);
      y_hi = std::max(y_hi, p.value);
      points.push_back(p);
    }
  }
  const std::string what =
      response.series_size() > 0
          ? absl::StrCat(response.series(0).split() == v1::SPLIT_TEST ? "test " : "train ",
                         response.series(0).metric())
          : std::string("values");
  if (x_lo > x_hi) {
    return absl::FailedPreconditionError(absl::StrCat("nothing to plot: no positive ", what,
                                                      " of a class with training examples in ",
                                                      response.series_size(), " series"));
  }
  // Half a decade of room around single values, so each axis spans something.
  // A single value gets half a decade either side; every range 5 % of its span (in log10) more,
  // so that no point sits on the frame.
  for (auto [lo, hi] : {std::pair{&x_lo, &x_hi}, std::pair{&y_lo, &y_hi}}) {
    if (*lo == *hi) {
      *lo /= std::sqrt(10.0);
      *hi *= std::sqrt(10.0);
    }
    const double margin = std::pow(*hi / *lo, 0.05);
    *lo /= margin;
    *hi *= margin;
  }

  const int n = std::max<int>(1, panels.size());
  const int title_height = options.title.empty() ? 12 : 40;
  const int cell = 380;
  const int width = options.width > 0 ? options.width : kAxisCaption + n * cell + 20;
  const int height = options.height > 0 ? options.height : title_height + 320 + kAxisCaption;
  const double cell_w = static_cast<double>(width - kAxisCaption - 20) / n;
  const double cell_h = static_cast<double>(height - title_height - kAxisCaption);
  if (cell_w - kBoxLeft - kBoxRight < kMinBox || cell_h - kBoxTop - kBoxBottom < kMinBox) {
    return absl::InvalidArgumentError(absl::StrCat("width x height: ", width, " x ", height,
                                                   " is too small for ", n, " panel(s)"));
  }
  std::string svg = SvgStart(width, height);
  if (!options.title.empty()) {
    absl::StrAppend(&svg, "<text x=\"", Px(width / 2.0),
                    "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">", Xml(options.title),
                    "</text>\n");
  }
  absl::StrAppend(&svg, "<text transform=\"translate(14,", Px(title_height + cell_h / 2),
                  ") rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">", Xml(what),
                  " at the last step (log scale)</text>\n");
  absl::StrAppend(&svg, "<text x=\"", Px(kAxisCaption + n * cell_w / 2), "\" y=\"", Px(height - 8),
                  "\" text-anchor=\"middle\" font-size=\"12\">training examples of the class "
                  "(log scale)</text>\n");
  for (int panel = 0; panel < n; ++panel) {
    const double cx = kAxisCaption + panel * cell_w;
    const double left = cx + kBoxLeft, right = cx + cell_w - kBoxRight;
    const double top = title_height + kBoxTop, bottom = title_height + cell_h - kBoxBottom;
    const Axis x{x_lo, x_hi, true, left, right};
    const Axis y{y_lo, y_hi, true, bottom, top};
    if (panel >= response.series_size()) {
      PanelFrame(panel, x, false, y, "", &svg);
      absl::StrAppend(&svg, "</g>\n");
      continue;
    }
    const v1::Series& s = response.series(panel);
    PanelFrame(
        panel, x, false, y,
        absl::StrCat(JobTitle(s.job()),
                     last_steps[panel] >= 0 ? absl::StrCat(" (step ", last_steps[panel], ")") : ""),
        &svg);
    if (panels[panel].empty()) {
      absl::StrAppend(&svg, "<text x=\"", Px((left + right) / 2), "\" y=\"", Px((top + bottom) / 2),
                      "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n");
    }
    for (const Point& p : panels[panel]) {
      const std::string value = spec::FormatDouble(p.value);
      absl::StrAppend(&svg, "<circle data-panel=\"", panel, "\" data-class=\"", p.cls,
                      "\" data-frequency=\"", p.frequency, "\" data-value=\"", value,
                      "\" data-step=\"", last_steps[panel], "\" cx=\"",
                      Px(x.Map(static_cast<double>(p.frequency))), "\" cy=\"", Px(y.Map(p.value)),
                      "\" r=\"3\" fill=\"", GroupColour(0, 1),
                      "\" fill-opacity=\"0.6\"><title>class ", p.cls, ": ", p.frequency,
                      " train examples, ", Xml(s.metric()), " ", value, "</title></circle>\n");
    }
    absl::StrAppend(&svg, "</g>\n");
  }
  absl::StrAppend(&svg, "</svg>\n");
  return svg;
}

absl::StatusOr<std::string> TimeToTargetToSvg(const ProfileResult& result,
                                              const ProfileQuestion& question,
                                              const ProfilePlotOptions& options) {
  if (absl::Status s = CheckFigureSize(options.width, options.height); !s.ok()) return s;
  if (result.entries.empty()) {
    return absl::FailedPreconditionError("nothing to plot: no optimizer in the profile");
  }
  constexpr int kBar = 16;          // bar height
  constexpr int kRowGap = 14;       // between workloads
  constexpr int kLabelWidth = 260;  // workload titles left of the bars
  const int num_optimizers = static_cast<int>(result.optimizers.size());
  const int num_workloads = static_cast<int>(result.workloads.size());
  const int title_height = options.title.empty() ? 12 : 40;
  const int width =
      options.width > 0 ? options.width : std::max(720, Chars(options.title) * 17 / 2 + 40);
  const int height = options.height > 0
                         ? options.height
                         : title_height + 8 + num_workloads * (num_optimizers * kBar + kRowGap) +
                               kBoxBottom + kAxisCaption;
  const double left = kLabelWidth, right = width - kLegendWidth - kBoxRight;
  const double top = title_height + 8, bottom = height - kAxisCaption - kBoxBottom;
  if (right - left < kMinBox || bottom - top < kMinBox) {
    return absl::InvalidArgumentError(
        absl::StrCat("size: ", width, " x ", height, " is too small for the bars"));
  }
  double longest = 0;
  for (const ProfileEntry& e : result.entries) {
    if (e.solved && std::isfinite(e.time)) longest = std::max(longest, e.time);
  }
  // From 0 to a tick a little past the longest bar.
  double hi = 1;
  if (longest > 0) {
    const double step = NiceStep(longest * 1.05, 5);
    hi = std::ceil(longest * 1.05 / step) * step;
  }
  const Axis x{0, hi, false, left, right};
  const std::string unit = TimeMeasureName(question.options.time);

  std::string svg = SvgStart(width, height);
  if (!options.title.empty()) {
    absl::StrAppend(&svg, "<text x=\"", Px(width / 2.0),
                    "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">", Xml(options.title),
                    "</text>\n");
  }
  absl::StrAppend(&svg, "<text x=\"", Px((left + right) / 2), "\" y=\"", Px(height - 8),
                  "\" text-anchor=\"middle\" font-size=\"12\">median ", unit,
                  " to reach the target (best setting of each optimizer)</text>\n");
  for (double t : Ticks(x, question.options.time == TimeMeasure::kSteps)) {
    absl::StrAppend(&svg, XGridTick(x.Map(t), top, bottom, Label(t)));
  }
  std::map<std::string, int> optimizer_index;
  for (int i = 0; i < num_optimizers; ++i) {
    optimizer_index[result.optimizers[static_cast<size_t>(i)]] = i;
  }
  for (int w = 0; w < num_workloads; ++w) {
    const std::string& workload = result.workloads[static_cast<size_t>(w)];
    const double row_top = top + w * (num_optimizers * kBar + kRowGap);
    absl::StrAppend(&svg, "<text x=\"", Px(left - 8), "\" y=\"",
                    Px(row_top + num_optimizers * kBar / 2.0),
                    "\" dy=\"0.32em\" text-anchor=\"end\" font-size=\"11\">",
                    Xml(WorkloadTitle(workload, question)), "</text>\n");
    for (const ProfileEntry& e : result.entries) {
      if (e.workload != workload) continue;
      const int o = optimizer_index[e.optimizer];
      const double y = row_top + o * kBar;
      const std::string attributes =
          absl::StrCat("data-workload=\"", w, "\" data-optimizer=\"", o, "\"");
      if (!e.solved || !e.best.has_value()) {
        absl::StrAppend(&svg, "<text ", attributes, " data-value=\"inf\" x=\"", Px(left + 4),
                        "\" y=\"", Px(y + kBar / 2.0), "\" dy=\"0.32em\" fill=\"#888\">",
                        Xml(e.optimizer), e.best.has_value() ? ": not reached" : ": not run",
                        "</text>\n");
        continue;
      }
      absl::StrAppend(&svg, "<rect ", attributes, " data-value=\"",
                      absl::StrFormat("%.17g", e.time), "\" x=\"", Px(left), "\" y=\"", Px(y + 2),
                      "\" width=\"", Px(x.Map(e.time) - left), "\" height=\"", kBar - 4,
                      "\" fill=\"", SeriesColour(o), "\"><title>",
                      Xml(absl::StrCat(e.optimizer, " ", SettingText(e.best->setting), ": ",
                                       Label(e.time), " ", unit, ", ", e.best->reached, "/",
                                       e.best->runs.size(), " seeds reached")),
                      "</title></rect>\n");
    }
  }
  absl::StrAppend(&svg, BoxFrame(left, top, right, bottom));
  const double lx = width - kLegendWidth + 12;
  double ly = top + 12;
  absl::StrAppend(&svg, LegendHead(lx, ly, "optimizer"));
  ly += 18;
  for (int o = 0; o < num_optimizers; ++o) {
    absl::StrAppend(&svg, "<rect data-legend=\"", o, "\" x=\"", Px(lx), "\" y=\"", Px(ly - 9),
                    "\" width=\"22\" height=\"10\" fill=\"", SeriesColour(o), "\"/>\n<text x=\"",
                    Px(lx + 28), "\" y=\"", Px(ly), "\">",
                    Xml(result.optimizers[static_cast<size_t>(o)]), "</text>\n");
    ly += 16;
  }
  absl::StrAppend(&svg, "</g>\n</svg>\n");
  return svg;
}

std::string EscapeXml(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace optbench::report
