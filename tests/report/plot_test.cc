#include "report/plot.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace optbench::report {
namespace {

// ---- a small XML reader, strict enough to reject what a browser would -------------------------

struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;  // values with entities decoded
  std::string text;                          // character data directly inside, decoded
};

// Decodes the five predefined entities; false on a bare '&' or an unknown entity.
bool Decode(const std::string& raw, std::string* out) {
  out->clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '<') return false;
    if (raw[i] != '&') {
      *out += raw[i];
      continue;
    }
    const size_t semi = raw.find(';', i);
    if (semi == std::string::npos) return false;
    static const std::map<std::string, char> kEntities = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    auto it = kEntities.find(raw.substr(i + 1, semi - i - 1));
    if (it == kEntities.end()) return false;
    *out += it->second;
    i = semi;
  }
  return true;
}

// Parses `xml` into its elements in document order. Fails the test (and returns false) on an
// unbalanced or malformed tag, a duplicate attribute, an unquoted value or a raw '&' / '<'.
bool ParseXml(const std::string& xml, std::vector<Element>* elements) {
  std::vector<size_t> open;  // indices into *elements
  size_t i = 0;
  while (i < xml.size()) {
    if (xml[i] != '<') {
      const size_t next = std::min(xml.find('<', i), xml.size());
      std::string text;
      if (!Decode(xml.substr(i, next - i), &text)) {
        ADD_FAILURE() << "bad character data at " << i;
        return false;
      }
      if (!open.empty()) (*elements)[open.back()].text += text;
      i = next;
      continue;
    }
    if (xml.compare(i, 2, "</") == 0) {
      const size_t end = xml.find('>', i);
      const std::string name = xml.substr(i + 2, end - i - 2);
      if (end == std::string::npos || open.empty() || (*elements)[open.back()].name != name) {
        ADD_FAILURE() << "unbalanced </" << name << "> at " << i;
        return false;
      }
      open.pop_back();
      i = end + 1;
      continue;
    }
    Element e;
    size_t j = i + 1;
    while (j < xml.size() && (std::isalnum(static_cast<unsigned char>(xml[j])) || xml[j] == '-'))
      ++j;
    e.name = xml.substr(i + 1, j - i - 1);
    if (e.name.empty()) {
      ADD_FAILURE() << "bad tag at " << i;
      return false;
    }
    bool self_closing = false;
    while (true) {
      while (j < xml.size() && std::isspace(static_cast<unsigned char>(xml[j]))) ++j;
      if (j >= xml.size()) {
        ADD_FAILURE() << "unterminated <" << e.name << ">";
        return false;
      }
      if (xml.compare(j, 2, "/>") == 0) {
        self_closing = true;
        j += 2;
        break;
      }
      if (xml[j] == '>') {
        ++j;
        break;
      }
      const size_t eq = xml.find('=', j);
      if (eq == std::string::npos || eq + 1 >= xml.size() || xml[eq + 1] != '"') {
        ADD_FAILURE() << "unquoted attribute in <" << e.name << "> at " << j;
        return false;
      }
      const std::string key = xml.substr(j, eq - j);
      const size_t close = xml.find('"', eq + 2);
      std::string value;
      if (close == std::string::npos || !Decode(xml.substr(eq + 2, close - eq - 2), &value) ||
          !e.attrs.emplace(key, value).second) {
        ADD_FAILURE() << "bad attribute '" << key << "' in <" << e.name << ">";
        return false;
      }
      j = close + 1;
    }
    elements->push_back(e);
    if (!self_closing) open.push_back(elements->size() - 1);
    i = j;
  }
  if (!open.empty()) {
    ADD_FAILURE() << "<" << (*elements)[open.back()].name << "> never closed";
    return false;
  }
  return true;
}

struct Svg {
  std::vector<Element> elements;

  // Elements named `name` whose attribute `key` equals `value` (any when key is empty).
  std::vector<const Element*> Find(const std::string& name, const std::string& key = "",
                                   const std::string& value = "") const {
    std::vector<const Element*> found;
    for (const Element& e : elements) {
      if (e.name != name) continue;
      auto it = e.attrs.find(key);
      if (!key.empty() && (it == e.attrs.end() || it->second != value)) continue;
      found.push_back(&e);
    }
    return found;
  }
  // Line runs of panel p, group g, in document order.
  std::vector<const Element*> Runs(int panel, int group) const {
    std::vector<const Element*> runs;
    for (const Element* e : Find("polyline", "data-panel", std::to_string(panel))) {
      if (e->attrs.at("data-group") == std::to_string(group)) runs.push_back(e);
    }
    return runs;
  }
};

struct Box {
  double x, y, w, h;
};

double Num(const Element& e, const std::string& key) {
  double v = NAN;
  EXPECT_TRUE(absl::SimpleAtod(e.attrs.at(key), &v)) << key << "=" << e.attrs.at(key);
  return v;
}

Box PlotBox(const Svg& svg, int panel) {
  auto boxes = svg.Find("rect", "data-box", std::to_string(panel));
  EXPECT_EQ(boxes.size(), 1u) << "panel " << panel;
  if (boxes.empty()) return {};
  return {Num(*boxes[0], "x"), Num(*boxes[0], "y"), Num(*boxes[0], "width"),
          Num(*boxes[0], "height")};
}

std::vector<std::pair<double, double>> Points(const Element& polyline) {
  std::vector<std::pair<double, double>> points;
  for (absl::string_view pair : absl::StrSplit(polyline.attrs.at("points"), ' ')) {
    std::vector<std::string> xy = absl::StrSplit(pair, ',');
    double x = NAN, y = NAN;
    EXPECT_EQ(xy.size(), 2u) << pair;
    if (xy.size() == 2) {
      EXPECT_TRUE(absl::SimpleAtod(xy[0], &x) && absl::SimpleAtod(xy[1], &y)) << pair;
    }
    points.emplace_back(x, y);
  }
  return points;
}

// The layout of the tests from before there were two: a panel per job.
PlotOptions ByJob() {
  PlotOptions options;
  options.layout = PlotLayout::kJob;
  return options;
}

Svg Parse(const absl::StatusOr<std::string>& text) {
  Svg svg;
  EXPECT_TRUE(text.ok()) << text.status();
  if (text.ok()) {
    EXPECT_TRUE(ParseXml(*text, &svg.elements)) << *text;
  }
  return svg;
}

Svg Render(const v1::QueryMetricsResponse& response, const PlotOptions& options = ByJob()) {
  return Parse(QueryToSvg(response, options));
}

// One series per entry of `values` (values[job][step][group]); steps 0, 10, 20, ...
v1::QueryMetricsResponse Response(const std::vector<std::vector<std::vector<double>>>& values) {
  v1::QueryMetricsResponse r;
  for (size_t j = 0; j < values.size(); ++j) {
    v1::Series* s = r.add_series();
    s->mutable_job()->set_id("s-1-" + std::to_string(j));
    (*s->mutable_job()->mutable_labels())["optimizer"] = j == 0 ? "gd" : "adam";
    (*s->mutable_job()->mutable_labels())["lr"] = std::to_string(j + 1);
    s->set_metric("loss");
    s->set_split(v1::SPLIT_TRAIN);
    const size_t groups = values[j].empty() ? 0 : values[j][0].size();
    for (size_t g = 0; g < groups; ++g) {
      s->add_groups()->set_num_classes(static_cast<int64_t>(g + 1));
    }
    for (size_t t = 0; t < values[j].size(); ++t) {
      v1::SeriesPoint* p = s->add_points();
      p->set_step(static_cast<int64_t>(10 * t));
      for (double v : values[j][t]) p->add_values(v);
    }
  }
  return r;
}

constexpr double kPx = 0.006;  // coordinates carry two decimals

// ---- tests -------------------------------------------------------------------------------------

TEST(PlotTest, OnePolylinePerPanelAndGroupWithAPointPerStep) {
  // 4 jobs x 3 groups x 5 steps.
  std::vector<std::vector<std::vector<double>>> values(4);
  for (int j = 0; j < 4; ++j) {
    for (int t = 0; t < 5; ++t) values[j].push_back({1.0 + j + t, 2.0 + j, 3.0 - 0.1 * t});
  }
  Svg svg = Render(Response(values));
  ASSERT_FALSE(svg.elements.empty());
  EXPECT_EQ(svg.elements[0].name, "svg");
  EXPECT_EQ(svg.Find("polyline").size(), 4u * 3);
  for (int j = 0; j < 4; ++j) {
    for (int g = 0; g < 3; ++g) {
      auto runs = svg.Runs(j, g);
      ASSERT_EQ(runs.size(), 1u) << j << " " << g;
      EXPECT_EQ(Points(*runs[0]).size(), 5u);
    }
  }
  // Panel titles come from the job labels.
  bool found = false;
  for (const Element* t : svg.Find("text")) found |= t->text == "adam lr=3";
  EXPECT_TRUE(found);
  // Three panels per row: panel 3 sits under panel 0.
  const Box b0 = PlotBox(svg, 0), b2 = PlotBox(svg, 2), b3 = PlotBox(svg, 3);
  EXPECT_NEAR(b3.x, b0.x, kPx);
  EXPECT_GT(b3.y, b0.y + b0.h);
  EXPECT_NEAR(b2.y, b0.y, kPx);
  EXPECT_GT(b2.x, b0.x + b0.w);
}

TEST(PlotTest, AggregatesDrawTheMeanOverSeedsWithItsIntervalAsABand) {
  // One setting, one group: means 2, 1.5, 1 at steps 0, 10, 20; the last point rests on one seed
  // (no interval), so the band covers steps 0 and 10.
  v1::QueryMetricsResponse r;
  v1::AggregateSeries* a = r.add_aggregates();
  (*a->mutable_labels())["optimizer"] = "gd";
  (*a->mutable_labels())["lr"] = "0.1";
  a->set_metric("loss");
  a->add_groups()->set_num_classes(3);
  const double kNan = std::nan("");
  const double means[] = {2.0, 1.5, 1.0}, lows[] = {1.0, 1.2, kNan}, highs[] = {3.0, 1.8, kNan};
  for (int t = 0; t < 3; ++t) {
    v1::AggregatePoint* p = a->add_points();
    p->set_step(10 * t);
    v1::AggregateValue* v = p->add_values();
    v->set_mean(means[t]);
    v->set_n(t == 2 ? 1 : 3);
    v->set_ci_low(lows[t]);
    v->set_ci_high(highs[t]);
  }
  auto text = AggregatesToSvg(r, ByJob());
  ASSERT_TRUE(text.ok()) << text.status();
  Svg svg;
  ASSERT_TRUE(ParseXml(*text, &svg.elements)) << *text;
  const Box box = PlotBox(svg, 0);
  auto line = Points(*svg.Runs(0, 0).at(0));
  ASSERT_EQ(line.size(), 3u);
  const std::vector<const Element*> bands = svg.Find("polygon", "data-band", "1");
  ASSERT_EQ(bands.size(), 1u);
  EXPECT_EQ(bands[0]->attrs.at("data-panel"), "0");
  EXPECT_EQ(bands[0]->attrs.at("data-group"), "0");
  auto corners = Points(*bands[0]);
  ASSERT_EQ(corners.size(), 4u);  // Upper bounds at steps 0 and 10, then the lower ones back.
  // The y range is [1, 3]: the band's top at step 0 is the box's top, its bottom there the
  // box's bottom; the means lie inside the band.
  EXPECT_NEAR(corners[0].first, box.x, kPx);
  EXPECT_NEAR(corners[0].second, box.y, kPx);
  EXPECT_NEAR(corners[3].first, box.x, kPx);
  EXPECT_NEAR(corners[3].second, box.y + box.h, kPx);
  EXPECT_NEAR(corners[1].first, line[1].first, kPx);
  EXPECT_LT(corners[1].second, line[1].second);         // 1.8 above 1.5 (y grows downwards).
  EXPECT_GT(corners[2].second, line[1].second);         // 1.2 below it.
  EXPECT_NEAR(line[0].second, box.y + box.h / 2, kPx);  // mean 2, mid-range.
  bool titled = false;
  for (const Element* t : svg.Find("text")) titled |= t->text == "gd lr=0.1";
  EXPECT_TRUE(titled);
}

TEST(PlotTest, DataExtremesMapToThePlotBoxEdgesWithTheYRangeShared) {
  // Panel 0 spans 1..2, panel 1 spans 2..5: the shared range is 1..5 over steps 0..20.
  v1::QueryMetricsResponse r = Response({{{1.5}, {1.0}, {2.0}}, {{5.0}, {2.0}, {3.0}}});
  Svg svg = Render(r);
  const Box b0 = PlotBox(svg, 0), b1 = PlotBox(svg, 1);
  auto p0 = Points(*svg.Runs(0, 0).at(0));
  auto p1 = Points(*svg.Runs(1, 0).at(0));
  ASSERT_EQ(p0.size(), 3u);
  ASSERT_EQ(p1.size(), 3u);
  // First and last step at the left and right edges, in both panels.
  EXPECT_NEAR(p0[0].first, b0.x, kPx);
  EXPECT_NEAR(p0[2].first, b0.x + b0.w, kPx);
  EXPECT_NEAR(p1[0].first, b1.x, kPx);
  EXPECT_NEAR(p1[2].first, b1.x + b1.w, kPx);
  EXPECT_NEAR(p0[1].first, b0.x + b0.w / 2, kPx);
  // The global minimum (panel 0) at the bottom edge, the global maximum (panel 1) at the top.
  EXPECT_NEAR(p0[1].second, b0.y + b0.h, kPx);
  EXPECT_NEAR(p1[0].second, b1.y, kPx);
  // The same value sits at the same height in both panels: 2.0 is a quarter of the way up.
  EXPECT_NEAR(p0[2].second, b0.y + 0.75 * b0.h, kPx);
  EXPECT_NEAR(p1[1].second, b1.y + 0.75 * b1.h, kPx);
  // 1.5 linearly: an eighth of the way up.
  EXPECT_NEAR(p0[0].second, b0.y + 0.875 * b0.h, kPx);
}

TEST(PlotTest, LogAxisMapsDecadesEvenly) {
  PlotOptions options = ByJob();
  options.log_y = true;
  Svg svg = Render(Response({{{0.01}, {0.1}, {1.0}, {10.0}}}), options);
  const Box b = PlotBox(svg, 0);
  auto p = Points(*svg.Runs(0, 0).at(0));
  ASSERT_EQ(p.size(), 4u);
  EXPECT_NEAR(p[0].second, b.y + b.h, kPx);
  EXPECT_NEAR(p[3].second, b.y, kPx);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i].second - p[i + 1].second, b.h / 3, 2 * kPx) << i;
  // The decade ticks are labelled and drawn at the heights of the data at those values.
  std::map<std::string, double> label_y;
  for (const Element* t : svg.Find("text")) {
    if (t->attrs.count("text-anchor") && t->attrs.at("text-anchor") == "end") {
      label_y[t->text] = Num(*t, "y");
    }
  }
  ASSERT_EQ(label_y.size(), 4u);
  EXPECT_NEAR(label_y.at("0.01"), p[0].second, kPx);
  EXPECT_NEAR(label_y.at("0.1"), p[1].second, kPx);
  EXPECT_NEAR(label_y.at("1"), p[2].second, kPx);
  EXPECT_NEAR(label_y.at("10"), p[3].second, kPx);
}

TEST(PlotTest, NanInfinityAndMissingValuesBreakTheLine) {
  // Group 0: 1, 2, NaN, 3, 4, inf, 5 -> runs of 2 and 2 points and a lone point.
  // Group 1 lacks a value at step 30 (a shorter values list): runs of 3 and 3.
  v1::QueryMetricsResponse r =
      Response({{{1, 9}, {2, 9}, {NAN, 8}, {3}, {4, 7}, {INFINITY, 6}, {5, 5}}});
  Svg svg = Render(r);
  auto runs = svg.Runs(0, 0);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(Points(*runs[0]).size(), 2u);
  EXPECT_EQ(Points(*runs[1]).size(), 2u);
  auto lone = svg.Find("circle", "data-panel", "0");
  ASSERT_EQ(lone.size(), 1u);
  EXPECT_EQ(lone[0]->attrs.at("data-group"), "0");
  const Box b = PlotBox(svg, 0);
  EXPECT_NEAR(Num(*lone[0], "cx"), b.x + b.w, kPx);  // step 60, the last
  auto runs1 = svg.Runs(0, 1);
  ASSERT_EQ(runs1.size(), 2u);
  EXPECT_EQ(Points(*runs1[0]).size(), 3u);
  EXPECT_EQ(Points(*runs1[1]).size(), 3u);
  // Nothing is drawn outside the box (a NaN drawn as 0 would sit below it: the range is 1..9).
  for (const Element* e : svg.Find("polyline")) {
    for (auto [x, y] : Points(*e)) {
      EXPECT_LE(y, b.y + b.h + kPx);
      EXPECT_GE(y, b.y - kPx);
    }
  }
  // The break leaves the gap: the second run starts at step 30, not at step 20.
  EXPECT_NEAR(Points(*runs[1])[0].first, b.x + b.w / 2, kPx);
}

TEST(PlotTest, LogAxisSkipsValuesThatAreNotPositive) {
  PlotOptions options = ByJob();
  options.log_y = true;
  Svg svg = Render(Response({{{1}, {0}, {0.5}, {0.25}, {-1}, {0.1}}}), options);
  auto runs = svg.Runs(0, 0);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(Points(*runs[0]).size(), 2u);
  EXPECT_EQ(svg.Find("circle").size(), 2u);  // steps 0 and 50
}

TEST(PlotTest, TitlesEscapeXmlSpecialCharacters) {
  v1::QueryMetricsResponse r = Response({{{1}, {2}}});
  (*r.mutable_series(0)->mutable_job()->mutable_labels())["lr"] = "a&b<c\"d'e>";
  PlotOptions options = ByJob();
  options.title = "x & y < \"z\"";
  options.reference_y = 1.5;
  options.reference_label = "<ref>";
  auto text = QueryToSvg(r, options);
  ASSERT_TRUE(text.ok()) << text.status();
  Svg svg;
  ASSERT_TRUE(ParseXml(*text, &svg.elements)) << *text;  // a raw & or < fails here
  std::vector<std::string> texts;
  for (const Element* t : svg.Find("text")) texts.push_back(t->text);
  EXPECT_NE(std::find(texts.begin(), texts.end(), "gd lr=a&b<c\"d'e>"), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "x & y < \"z\""), texts.end());
  EXPECT_NE(std::find(texts.begin(), texts.end(), "<ref> = 1.5"), texts.end());
}

TEST(PlotTest, ReferenceLineIsInEveryPanelAndInsideTheRange) {
  PlotOptions options = ByJob();
  options.reference_y = 5.0;  // above every value: it becomes the top of the range
  Svg svg = Render(Response({{{1}, {2}}, {{3}, {4}}}), options);
  for (int panel = 0; panel < 2; ++panel) {
    auto lines = svg.Find("line", "data-reference", std::to_string(panel));
    ASSERT_EQ(lines.size(), 1u);
    const Box b = PlotBox(svg, panel);
    EXPECT_NEAR(Num(*lines[0], "y1"), b.y, kPx);
    EXPECT_NEAR(Num(*lines[0], "y2"), b.y, kPx);
    EXPECT_NE(lines[0]->attrs.count("stroke-dasharray"), 0u);
  }
  // The minimum 1 stays at the bottom edge of panel 0.
  const Box b0 = PlotBox(svg, 0);
  EXPECT_NEAR(Points(*svg.Runs(0, 0).at(0))[0].second, b0.y + b0.h, kPx);
}

double Luminance(const std::string& hex) {
  int rgb[3];
  for (int c = 0; c < 3; ++c) rgb[c] = std::stoi(hex.substr(1 + 2 * c, 2), nullptr, 16);
  return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
}

TEST(PlotTest, GroupColoursGetLighterFromFrequentToRare) {
  std::vector<double> point(10);
  for (int g = 0; g < 10; ++g) point[g] = g + 1;
  Svg svg = Render(Response({{point, point}}));
  double previous = -1;
  for (int g = 0; g < 10; ++g) {
    auto runs = svg.Runs(0, g);
    ASSERT_EQ(runs.size(), 1u);
    const std::string colour = runs[0]->attrs.at("stroke");
    ASSERT_EQ(colour.size(), 7u) << colour;
    EXPECT_GT(Luminance(colour), previous + 5) << "group " << g << " " << colour;
    previous = Luminance(colour);
  }
}

TEST(PlotTest, SameInputGivesTheSameBytes) {
  v1::QueryMetricsResponse r = Response({{{1.0 / 3}, {2.0 / 7}}, {{std::sqrt(2.0)}, {NAN}}});
  auto a = QueryToSvg(r, ByJob());
  auto b = QueryToSvg(r, ByJob());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  // Fixed formatting: every coordinate pair has exactly two decimals.
  Svg svg;
  ASSERT_TRUE(ParseXml(*a, &svg.elements));
  for (const Element* e : svg.Find("polyline")) {
    for (absl::string_view pair : absl::StrSplit(e->attrs.at("points"), ' ')) {
      for (absl::string_view v : absl::StrSplit(pair, ',')) {
        ASSERT_GE(v.size(), 4u);
        EXPECT_EQ(v[v.size() - 3], '.') << v;
      }
    }
  }
}

TEST(PlotTest, BadOptionsAndEmptyDataAreErrorsNamingTheValue) {
  const v1::QueryMetricsResponse r = Response({{{1}, {2}}});
  PlotOptions small = ByJob();
  small.width = 150;
  auto s = QueryToSvg(r, small);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("150"), std::string::npos) << s.status();

  PlotOptions narrow = ByJob();  // in range, but three columns of panels do not fit in it
  narrow.width = 300;
  s = QueryToSvg(Response({{{1}}, {{1}}, {{1}}}), narrow);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("300"), std::string::npos) << s.status();

  PlotOptions bad_reference = ByJob();
  bad_reference.log_y = true;
  bad_reference.reference_y = -2;
  s = QueryToSvg(r, bad_reference);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("-2"), std::string::npos) << s.status();

  s = QueryToSvg(Response({{{NAN}, {INFINITY}}}), {});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("train loss"), std::string::npos) << s.status();

  PlotOptions log = ByJob();
  log.log_y = true;
  s = QueryToSvg(Response({{{0}, {-1}}}), log);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);

  s = QueryToSvg(v1::QueryMetricsResponse(), {});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(PlotTest, OneValueStillGetsARange) {
  Svg svg = Render(Response({{{2.0}}}));
  auto lone = svg.Find("circle");
  ASSERT_EQ(lone.size(), 1u);
  const Box b = PlotBox(svg, 0);
  EXPECT_NEAR(Num(*lone[0], "cx"), b.x + b.w / 2, kPx);
  EXPECT_NEAR(Num(*lone[0], "cy"), b.y + b.h / 2, kPx);
}

// A class-grouped answer: per job, classes with `counts` training examples and values at steps 0
// and 10 (the scatter takes the last).
v1::QueryMetricsResponse ClassResponse(const std::vector<int64_t>& counts,
                                       const std::vector<std::vector<double>>& last_values) {
  v1::QueryMetricsResponse r;
  for (size_t j = 0; j < last_values.size(); ++j) {
    v1::Series* s = r.add_series();
    s->mutable_job()->set_id("s-1-" + std::to_string(j));
    (*s->mutable_job()->mutable_labels())["optimizer"] = j == 0 ? "gd" : "adam";
    s->set_metric("loss");
    for (size_t c = 0; c < counts.size(); ++c) {
      v1::ClassGroup* g = s->add_groups();
      g->set_num_classes(1);
      g->set_train_examples(counts[c]);
      g->add_classes(static_cast<int64_t>(c));
    }
    v1::SeriesPoint* first = s->add_points();
    first->set_step(0);
    for (size_t c = 0; c < counts.size(); ++c) first->add_values(99);
    v1::SeriesPoint* last = s->add_points();
    last->set_step(10);
    for (double v : last_values[j]) last->add_values(v);
  }
  return r;
}

TEST(ClassScatterTest, APointPerClassAtTheLastStepWithExactValuesLogLog) {
  const double third = 1.0 / 3;
  auto text = ClassScatterToSvg(
      ClassResponse({1000, 100, 10, 0}, {{0.1, third, 10, 5}, {0.2, 0.3, NAN, 5}}), {});
  ASSERT_TRUE(text.ok()) << text.status();
  Svg svg;
  ASSERT_TRUE(ParseXml(*text, &svg.elements));
  // Class 3 has no training examples and job 1's class 2 is NaN: neither is drawn.
  EXPECT_EQ(svg.Find("circle", "data-panel", "0").size(), 3u);
  EXPECT_EQ(svg.Find("circle", "data-panel", "1").size(), 2u);
  auto third_point = svg.Find("circle", "data-value", "0.3333333333333333");
  ASSERT_EQ(third_point.size(), 1u);
  EXPECT_EQ(third_point[0]->attrs.at("data-class"), "1");
  EXPECT_EQ(third_point[0]->attrs.at("data-frequency"), "100");
  EXPECT_EQ(third_point[0]->attrs.at("data-step"), "10");
  // Its hover text.
  bool titled = false;
  for (const Element* t : svg.Find("title")) {
    titled |= t->text == "class 1: 100 train examples, loss 0.3333333333333333";
  }
  EXPECT_TRUE(titled);
  // Log-log: frequencies 10, 100, 1000 are evenly spaced in x; values 0.1 .. 10 in y likewise.
  auto at = [&](const std::string& panel, const std::string& cls) {
    for (const Element* c : svg.Find("circle", "data-panel", panel)) {
      if (c->attrs.at("data-class") == cls) return std::pair{Num(*c, "cx"), Num(*c, "cy")};
    }
    ADD_FAILURE() << "no class " << cls;
    return std::pair{0.0, 0.0};
  };
  const auto p0 = at("0", "0"), p1 = at("0", "1"), p2 = at("0", "2");
  EXPECT_NEAR(p0.first - p1.first, p1.first - p2.first, 2 * kPx);
  EXPECT_GT(p0.first, p1.first);
  EXPECT_NEAR(p2.second - at("0", "1").second,
              std::log10(third / 10) / std::log10(0.1 / 10) * (p2.second - p0.second), 2 * kPx);
  // Both panels share the axes: the same class count maps to the same x offset in its box.
  const Box b0 = PlotBox(svg, 0), b1 = PlotBox(svg, 1);
  EXPECT_NEAR(at("1", "0").first - b1.x, p0.first - b0.x, kPx);
  // No point sits on a frame.
  for (const Element* c : svg.Find("circle")) {
    const Box b = PlotBox(svg, static_cast<int>(Num(*c, "data-panel")));
    EXPECT_GT(Num(*c, "cx"), b.x);
    EXPECT_LT(Num(*c, "cx"), b.x + b.w);
    EXPECT_GT(Num(*c, "cy"), b.y);
    EXPECT_LT(Num(*c, "cy"), b.y + b.h);
  }
}

TEST(ClassScatterTest, RefusesGroupsOfSeveralClassesAndEmptyData) {
  v1::QueryMetricsResponse grouped = ClassResponse({10, 20}, {{1, 2}});
  grouped.mutable_series(0)->mutable_groups(1)->add_classes(7);
  auto bad = ClassScatterToSvg(grouped, {});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("group 2 holds 2 classes"), std::string::npos)
      << bad.status();
  auto empty = ClassScatterToSvg(ClassResponse({10, 20}, {{NAN, -1}}), {});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kFailedPrecondition);
  PlotOptions tiny;
  tiny.width = 100;
  EXPECT_EQ(ClassScatterToSvg(ClassResponse({10}, {{1}}), tiny).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ---- group layout, legends, log ticks ----------------------------------------------------------

PlotOptions ByGroup() {
  PlotOptions options;
  options.layout = PlotLayout::kGroup;
  return options;
}

// Texts of the elements named `name` with attribute key = value, in document order.
std::vector<std::string> Texts(const Svg& svg, const std::string& key = "",
                               const std::string& value = "") {
  std::vector<std::string> texts;
  for (const Element* e : svg.Find("text", key, value)) texts.push_back(e->text);
  return texts;
}

// The lines of panel p for series (job or setting) j: data-panel, data-<kind>.
std::vector<const Element*> SeriesRuns(const Svg& svg, int panel, const std::string& kind, int j) {
  std::vector<const Element*> runs;
  for (const Element* e : svg.Find("polyline", "data-panel", std::to_string(panel))) {
    auto it = e->attrs.find("data-" + kind);
    if (it != e->attrs.end() && it->second == std::to_string(j)) runs.push_back(e);
  }
  return runs;
}

// The legend: its swatches' colours and the label beside each, in order.
std::vector<std::pair<std::string, std::string>> Legend(const Svg& svg) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (size_t i = 0; i + 1 < svg.elements.size(); ++i) {
    const Element& e = svg.elements[i];
    if (e.name == "line" && e.attrs.count("data-legend") != 0) {
      EXPECT_EQ(svg.elements[i + 1].name, "text");
      entries.emplace_back(e.attrs.at("stroke"), svg.elements[i + 1].text);
    }
  }
  return entries;
}

TEST(PlotTest, GroupLayoutHasAPanelPerGroupAndALinePerJob) {
  // 2 jobs x 3 groups x 3 steps (0, 10, 20); values from 1 to 5 overall.
  const v1::QueryMetricsResponse r = Response({
      {{1, 2, 3}, {2, 3, 4}, {3, 4, 5}},  // gd, lr=1
      {{5, 4, 3}, {4, 3, 2}, {3, 2, 1}},  // adam, lr=2
  });
  Svg svg = Render(r, ByGroup());
  for (int p = 0; p < 3; ++p) PlotBox(svg, p);  // one box each
  EXPECT_TRUE(svg.Find("rect", "data-box", "3").empty());
  EXPECT_EQ(svg.Find("polyline").size(), 3u * 2);
  // Panel titles name the group, its classes (Response gives group g g+1 classes), and the ends.
  const std::vector<std::string> texts = Texts(svg);
  for (const char* title : {"group 1 \u00b7 1 class \u00b7 most frequent",
                            "group 2 \u00b7 2 classes", "group 3 \u00b7 3 classes \u00b7 rarest"}) {
    EXPECT_NE(std::find(texts.begin(), texts.end(), title), texts.end()) << title;
  }
  // Each (panel, job) is one 3-point line at the pixels its values map to: x over steps 0..20,
  // y over the shared range 1..5.
  std::map<int, std::string> colour_of_job;
  for (int p = 0; p < 3; ++p) {
    const Box b = PlotBox(svg, p);
    for (int j = 0; j < 2; ++j) {
      auto runs = SeriesRuns(svg, p, "job", j);
      ASSERT_EQ(runs.size(), 1u) << p << " " << j;
      EXPECT_EQ(runs[0]->attrs.at("data-group"), std::to_string(p));
      auto points = Points(*runs[0]);
      ASSERT_EQ(points.size(), 3u);
      for (int t = 0; t < 3; ++t) {
        const double v = j == 0 ? 1 + p + t : 5 - p - t;
        EXPECT_NEAR(points[t].first, b.x + b.w * t / 2, kPx) << p << " " << j << " " << t;
        EXPECT_NEAR(points[t].second, b.y + b.h * (5 - v) / 4, kPx) << p << " " << j << " " << t;
      }
      const std::string colour = runs[0]->attrs.at("stroke");
      if (p == 0) colour_of_job[j] = colour;
      EXPECT_EQ(colour, colour_of_job[j]) << "job " << j << " changes colour in panel " << p;
    }
  }
  EXPECT_NE(colour_of_job[0], colour_of_job[1]);
  // The legend names the jobs by what differs, in the colours of their lines.
  const auto legend = Legend(svg);
  ASSERT_EQ(legend.size(), 2u);
  EXPECT_EQ(legend[0], std::make_pair(colour_of_job[0], std::string("gd lr=1")));
  EXPECT_EQ(legend[1], std::make_pair(colour_of_job[1], std::string("adam lr=2")));
  // Group layout is the default.
  auto default_layout = QueryToSvg(r, {});
  ASSERT_TRUE(default_layout.ok());
  EXPECT_EQ(*default_layout, *QueryToSvg(r, ByGroup()));
}

TEST(PlotTest, SeriesColoursAreDistinctAndRepeatDashed) {
  std::vector<std::vector<std::vector<double>>> values(12);
  for (int j = 0; j < 12; ++j) values[j] = {{1.0 + j}, {2.0 + j}};
  Svg svg = Render(Response(values), ByGroup());
  std::set<std::string> colours, styles;
  for (int j = 0; j < 12; ++j) {
    auto runs = SeriesRuns(svg, 0, "job", j);
    ASSERT_EQ(runs.size(), 1u) << j;
    const std::string colour = runs[0]->attrs.at("stroke");
    const std::string dash =
        runs[0]->attrs.count("stroke-dasharray") ? runs[0]->attrs.at("stroke-dasharray") : "";
    if (j < 10) {
      EXPECT_TRUE(colours.insert(colour).second) << "job " << j << " repeats " << colour;
      EXPECT_EQ(dash, "") << j;
    } else {
      EXPECT_NE(dash, "") << j;
    }
    EXPECT_TRUE(styles.insert(colour + dash).second) << j;
  }
}

TEST(PlotTest, AggregatesInGroupLayoutDrawALineAndABandPerSetting) {
  // Two settings x 2 groups x 2 steps, three seeds each.
  v1::QueryMetricsResponse r;
  for (int s = 0; s < 2; ++s) {
    v1::AggregateSeries* a = r.add_aggregates();
    (*a->mutable_labels())["optimizer"] = "gd";
    (*a->mutable_labels())["lr"] = s == 0 ? "0.1" : "0.5";
    a->set_metric("loss");
    for (int g = 0; g < 2; ++g) a->add_groups()->set_num_classes(2);
    for (int t = 0; t < 2; ++t) {
      v1::AggregatePoint* p = a->add_points();
      p->set_step(10 * t);
      for (int g = 0; g < 2; ++g) {
        v1::AggregateValue* v = p->add_values();
        const double mean = 2 + g - t - s;  // 0 .. 3
        v->set_mean(mean);
        v->set_n(3);
        v->set_ci_low(mean - 0.5);
        v->set_ci_high(mean + 0.5);
      }
    }
  }
  Svg svg = Parse(AggregatesToSvg(r, ByGroup()));
  EXPECT_EQ(svg.Find("polyline").size(), 2u * 2);
  const auto bands = svg.Find("polygon", "data-band", "1");
  ASSERT_EQ(bands.size(), 2u * 2);
  for (int p = 0; p < 2; ++p) {
    const Box b = PlotBox(svg, p);
    for (int s = 0; s < 2; ++s) {
      auto runs = SeriesRuns(svg, p, "setting", s);
      ASSERT_EQ(runs.size(), 1u);
      const Element* band = nullptr;
      for (const Element* e : bands) {
        if (e->attrs.at("data-panel") == std::to_string(p) &&
            e->attrs.at("data-setting") == std::to_string(s)) {
          band = e;
        }
      }
      ASSERT_NE(band, nullptr) << p << " " << s;
      EXPECT_EQ(band->attrs.at("fill"), runs[0]->attrs.at("stroke"));
      // The y range is the bands' [-0.5, 3.5]: the upper bound at step 0 is mean + 0.5.
      const double mean = 2 + p - s;
      EXPECT_NEAR(Points(*band)[0].second, b.y + b.h * (3.5 - (mean + 0.5)) / 4, kPx);
      EXPECT_NEAR(Points(*runs[0])[0].second, b.y + b.h * (3.5 - mean) / 4, kPx);
    }
  }
  const auto legend = Legend(svg);
  ASSERT_EQ(legend.size(), 2u);
  EXPECT_EQ(legend[0].second, "lr=0.1");
  EXPECT_EQ(legend[1].second, "lr=0.5");
  EXPECT_NE(legend[0].first, legend[1].first);
}

// The tick labels of panel 0 only (every panel repeats them).
std::vector<std::string> FirstPanelTicks(const Svg& svg, const std::string& axis) {
  std::vector<std::string> ticks;
  bool in_first = false;
  int groups = 0;
  for (const Element& e : svg.elements) {
    if (e.name == "g" && ++groups == 2) break;
    in_first = groups == 1;
    if (in_first && e.name == "text" && e.attrs.count("data-tick") &&
        e.attrs.at("data-tick") == axis)
      ticks.push_back(e.text);
  }
  return ticks;
}

TEST(PlotTest, LogTicksArePowersOfTenOverDecadesAndOneTwoFiveWithin) {
  PlotOptions options = ByGroup();
  options.log_y = true;
  // [0.03, 40]: three decades and more; ticks at the powers of ten inside, nothing else.
  EXPECT_EQ(FirstPanelTicks(Render(Response({{{0.03}, {40}}}), options), "y"),
            (std::vector<std::string>{"0.1", "1", "10"}));
  // [0.2, 0.9]: within a decade, the 1-2-5 values inside.
  EXPECT_EQ(FirstPanelTicks(Render(Response({{{0.2}, {0.9}}}), options), "y"),
            (std::vector<std::string>{"0.2", "0.5"}));
  // [0.05, 3]: under two decades: 1, 2, 5 per decade.
  EXPECT_EQ(FirstPanelTicks(Render(Response({{{0.05}, {3}}}), options), "y"),
            (std::vector<std::string>{"0.05", "0.1", "0.2", "0.5", "1", "2"}));
  // [0.31, 0.38] holds none: the axis widens to the 1-2-5 values around it, [0.2, 0.5], rather
  // than label linear steps such as 0.35.
  Svg narrow = Render(Response({{{0.31}, {0.38}}}), options);
  EXPECT_EQ(FirstPanelTicks(narrow, "y"), (std::vector<std::string>{"0.2", "0.5"}));
  const Box b = PlotBox(narrow, 0);
  auto p = Points(*narrow.Runs(0, 0).at(0));
  const double span = std::log10(0.5 / 0.2);
  EXPECT_NEAR(p[0].second, b.y + b.h * std::log10(0.5 / 0.31) / span, kPx);
  EXPECT_NEAR(p[1].second, b.y + b.h * std::log10(0.5 / 0.38) / span, kPx);
  // [0.3, 0.9] holds one, 0.5: the nearer side widens, to 1 (a factor 1.11, not 1.5 to 0.2).
  EXPECT_EQ(FirstPanelTicks(Render(Response({{{0.3}, {0.9}}}), options), "y"),
            (std::vector<std::string>{"0.5", "1"}));
  // Linear ticks stay round.
  EXPECT_EQ(FirstPanelTicks(Render(Response({{{0.03}, {40}}}), ByGroup()), "y"),
            (std::vector<std::string>{"10", "20", "30", "40"}));
}

TEST(PlotTest, AGroupWithoutDrawableValuesHasNoLegendEntryNorPanel) {
  // Group 2 (index 1) is NaN everywhere in both jobs; job 2 has nothing drawable at all.
  const v1::QueryMetricsResponse r = Response({
      {{1, NAN, 3}, {2, NAN, 4}},
      {{5, NAN, 3}, {4, NAN, 2}},
      {{NAN, NAN, NAN}, {NAN, NAN, NAN}},
  });
  Svg by_job = Render(r, ByJob());
  std::vector<std::string> labels;
  for (const auto& [colour, label] : Legend(by_job)) labels.push_back(label);
  EXPECT_EQ(labels, (std::vector<std::string>{"1  (1 class)", "3  (3 classes)"}));
  EXPECT_EQ(Texts(by_job, "fill", "#888"), std::vector<std::string>{"no data"});  // job 2's panel

  Svg by_group = Render(r, ByGroup());
  PlotBox(by_group, 0);
  PlotBox(by_group, 1);
  EXPECT_TRUE(by_group.Find("rect", "data-box", "2").empty());
  const std::vector<std::string> texts = Texts(by_group);
  EXPECT_EQ(std::count_if(texts.begin(), texts.end(),
                          [](const std::string& t) { return t.rfind("group 2", 0) == 0; }),
            0);
  EXPECT_NE(std::find(texts.begin(), texts.end(), "group 3 \u00b7 3 classes \u00b7 rarest"),
            texts.end());
  // The second panel is group 3's: data-group keeps the group's own number.
  ASSERT_EQ(SeriesRuns(by_group, 1, "job", 0).size(), 1u);
  EXPECT_EQ(SeriesRuns(by_group, 1, "job", 0)[0]->attrs.at("data-group"), "2");
  labels.clear();
  for (const auto& [colour, label] : Legend(by_group)) labels.push_back(label);
  EXPECT_EQ(labels, (std::vector<std::string>{"gd lr=1", "adam lr=2"}));
}

TEST(PlotTest, LogStepAxisSkipsStepZero) {
  // Steps 0, 1, 10, 100: on a log x axis step 0 is left out like a gap, and 1, 10, 100 are
  // evenly spaced with decade ticks.
  v1::QueryMetricsResponse r = Response({{{4}, {3}, {2}, {1}}});
  const int64_t steps[] = {0, 1, 10, 100};
  for (int t = 0; t < 4; ++t) r.mutable_series(0)->mutable_points(t)->set_step(steps[t]);
  PlotOptions options = ByGroup();
  options.log_x = true;
  Svg svg = Render(r, options);
  const Box b = PlotBox(svg, 0);
  auto runs = svg.Runs(0, 0);
  ASSERT_EQ(runs.size(), 1u);
  auto p = Points(*runs[0]);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p[0].first, b.x, kPx);
  EXPECT_NEAR(p[1].first, b.x + b.w / 2, kPx);
  EXPECT_NEAR(p[2].first, b.x + b.w, kPx);
  // The y range is the drawable values' [1, 3]: step 0's 4 is not in it.
  EXPECT_NEAR(p[0].second, b.y, kPx);
  EXPECT_TRUE(svg.Find("circle").empty());
  EXPECT_EQ(FirstPanelTicks(svg, "x"), (std::vector<std::string>{"1", "10", "100"}));
  const std::vector<std::string> texts = Texts(svg);
  EXPECT_NE(std::find(texts.begin(), texts.end(), "step (log scale)"), texts.end());
  // Only step 0: nothing to draw, and the error says why.
  auto s = QueryToSvg(Response({{{4}}}), options);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("step 0"), std::string::npos) << s.status();
}

// Steps and values past 2^53, where adding 1 to a double changes nothing: the figure is drawn
// (without ticks it cannot count) instead of counting ticks for ever.
TEST(PlotTest, HugeStepsAndValuesEndInsteadOfCountingTicksForEver) {
  v1::QueryMetricsResponse r = Response({{{1e16}, {std::nextafter(1e16, 2e16)}}});
  r.mutable_series(0)->mutable_points(0)->set_step(int64_t{1} << 60);
  r.mutable_series(0)->mutable_points(1)->set_step((int64_t{1} << 60) + 1);
  for (PlotLayout layout : {PlotLayout::kJob, PlotLayout::kGroup}) {
    PlotOptions options;
    options.layout = layout;
    auto svg = QueryToSvg(r, options);
    ASSERT_TRUE(svg.ok()) << svg.status();
    EXPECT_NE(svg->find("<polyline"), std::string::npos);
  }
}

}  // namespace
}  // namespace optbench::report
