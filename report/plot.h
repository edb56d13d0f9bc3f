// Figures of query results as self-contained SVG: paper 1's per-frequency-group curves
// (ALGORITHMS.md 1.4), a panel per group or per job, with no plotting library and no Python.
#ifndef OPTBENCH_REPORT_PLOT_H_
#define OPTBENCH_REPORT_PLOT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "optbench/v1/coordinator.pb.h"
#include "report/profile.h"

namespace optbench::report {

// How panels split a figure.
enum class PlotLayout {
  // One panel per frequency group, one line per job (or setting): the optimizers compared on
  // the same classes, as paper 1's figures do.
  kGroup,
  // One panel per job (or setting), one line per frequency group.
  kJob,
};

struct PlotOptions {
  PlotLayout layout = PlotLayout::kGroup;
  // Figure title above the panels; empty for none.
  std::string title;
  // Logarithmic y axis. Values <= 0 cannot be drawn on it and are skipped like NaN.
  bool log_y = false;
  // Logarithmic x (step) axis. Step 0 cannot be drawn on it: its points are skipped like NaN.
  bool log_x = false;
  // Whole-figure size in pixels; 0 picks one from the number of panels (about 300 x 250 per
  // panel plus the legend). Allowed 200..20000 otherwise.
  int width = 0;
  int height = 0;
  // Panels per row; 0 picks min(number of panels, 3) in job layout, min(number of panels, 5) in
  // group layout.
  int columns = 0;
  // A dashed horizontal line in every panel, e.g. log c (the loss of a uniform prediction over c
  // classes), labelled in the legend with `reference_label`. The y range includes it.
  std::optional<double> reference_y;
  std::string reference_label = "reference";
};

// Renders `response` (what QueryMetrics returns, as for QueryToTable) as an SVG document. All
// panels share the x and the y range: on a linear axis the range is exactly [smallest, largest]
// drawable value over every panel (and the reference line), so those map to the edges of the
// plot boxes (likewise on a log axis, except that one too narrow to hold two of the ticks
// 1, 2, 5 x 10^k widens to the nearest ones outside it, on one side when it holds one). Linear
// ticks are 1, 2 or 5 x 10^k apart; log ticks are the powers of ten when the range spans two
// decades or more, else 1, 2 and 5 x 10^k.
//
// Group layout (the default): one panel per frequency group titled "group 1 · 10 classes · most
// frequent" ... "group 10 · 40 classes · rarest" (the class count when every series groups its
// classes alike), one line per series coloured from Tableau 10 (dashed from the 11th series on),
// the legend naming each series by what tells them apart (DistinguishingTitles). A group with no
// drawable value in any series gets no panel.
//
// Job layout: one panel per series titled with JobTitle (e.g. "adam lr=0.001 seed=0"), one line
// per group coloured from a sequential map (group 1, the most frequent classes, darkest; the
// rarest lightest), the legend listing the groups with their class counts. A panel without a
// drawable value says "no data".
//
// Either way a legend entry (group or series) with no drawable value anywhere is left out.
// Each maximal run of consecutive drawable values of a line is one <polyline> with attributes
// data-panel="P" data-group="G" (0-based; G is the frequency group in either layout) and, in
// group layout, data-job="J" (the series' index in the response); a NaN, an infinity, a value the
// group lacks at a step, or on a log axis a value <= 0 (step 0 on a log x axis) ends the run, so
// gaps stay gaps and are never drawn at 0. A run of a single point is a <circle> with the same
// attributes. Steps a series never evaluated are not gaps: its line joins the steps it has.
// Coordinates are printed with two decimals and labels with %g, so the same response gives the
// same bytes.
//
// Errors: InvalidArgument for a width, height or columns out of range, or a reference value that
// is not finite (or <= 0 with log_y); FailedPrecondition when no series has a drawable value
// (e.g. jobs still queued, or no positive value for a log axis).
absl::StatusOr<std::string> QueryToSvg(const v1::QueryMetricsResponse& response,
                                       const PlotOptions& options);

// The same figure for response.aggregates (`optbench plot --aggregate seed`), a setting in place
// of a job (data-setting="S" in place of data-job; job layout titles a panel with the setting's
// labels): each line is the mean over seeds, under it the 95 % interval as a translucent band in
// the line's colour: a <polygon data-band="1"> with the line's data-* attributes per run of
// points whose interval is drawable (a run of one point: a vertical <line data-band="1">; n < 2
// has no interval, so no band). The shared y range covers the bands too. Errors as QueryToSvg.
absl::StatusOr<std::string> AggregatesToSvg(const v1::QueryMetricsResponse& response,
                                            const PlotOptions& options);

// Paper 1's per-class picture: each class's value at its series' last step against the class's
// number of training examples, log-log, one panel per series (one job, or a few side by side,
// sharing both axes). `response` is a QueryMetrics answer grouped by class (GROUP_BY_CLASS: one
// group per class). Each drawable point (frequency > 0, value finite and > 0) is a
// <circle data-panel="P" data-class="C" data-frequency="N" data-value="V" data-step="S"> whose
// data-value is the stored double printed exactly (spec::FormatDouble, as `optbench query
// --format json` prints it) and whose <title> reads "class C: N train examples, <metric> V".
// options.title, width and height as for QueryToSvg (log_y and reference_y are ignored: both
// axes are logarithmic). Errors: InvalidArgument for a width or height out of range or a series
// not grouped by class; FailedPrecondition when no series has a drawable point.
absl::StatusOr<std::string> ClassScatterToSvg(const v1::QueryMetricsResponse& response,
                                              const PlotOptions& options);

// `text` with & < > " ' as entities (&apos; for '), for SVG and HTML text and quoted attribute
// values alike.
std::string EscapeXml(absl::string_view text);

struct ProfilePlotOptions {
  std::string title;  // Above the plot; empty for none.
  // The right end of the τ axis (> 1, finite): AlgoPerf's scoring integrates its profiles up to
  // τ = 4.
  double tau_max = 4;
  // Figure size in pixels; 0 = 360 high and 560 wide, or wider for a long title. Allowed
  // 200..20000 otherwise.
  int width = 0;
  int height = 0;
};

// The performance profile of `result` (profile.h) as an SVG document: one plot, x = τ on a log
// axis from 1 to tau_max, y = the fraction of workloads 0..1, per optimizer its ρ(τ) as a step
// line (a <polyline data-optimizer="i"> in result.curves order, rising at each breakpoint),
// a colour per optimizer and a legend naming them. An optimizer that solves nothing within
// tau_max is a line along 0.
//
// Errors: InvalidArgument for tau_max not finite or <= 1, or a size out of range;
// FailedPrecondition when there are no optimizers.
absl::StatusOr<std::string> ProfileToSvg(const ProfileResult& result,
                                         const ProfilePlotOptions& options);

// Time to target as horizontal bars (the picture beside the profile): a row of bars per
// workload (titled by WorkloadTitle), one bar per optimizer in result.optimizers' colours (as
// ProfileToSvg's), its length the entry's median time in question.options.time on a linear axis
// from 0. Each bar is a <rect data-workload="W" data-optimizer="O" data-value="T"> (T with
// %.17g, so it reads back exactly) with a <title> naming the setting and how many seeds reached;
// an optimizer that did not reach the target (or was not run) has no bar but a <text
// data-workload data-optimizer data-value="inf"> "not reached" (or "not run"). Errors as
// ProfileToSvg (tau_max is not used); FailedPrecondition when there are no entries.
absl::StatusOr<std::string> TimeToTargetToSvg(const ProfileResult& result,
                                              const ProfileQuestion& question,
                                              const ProfilePlotOptions& options);

}  // namespace optbench::report

#endif  // OPTBENCH_REPORT_PLOT_H_
