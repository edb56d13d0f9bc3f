// Figures of query results as self-contained SVG: paper 1's per-frequency-group curves
// (ALGORITHMS.md 1.4), one panel per job, with no plotting library and no Python.
#ifndef OPTBENCH_REPORT_PLOT_H_
#define OPTBENCH_REPORT_PLOT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "optbench/v1/coordinator.pb.h"
#include "report/profile.h"

namespace optbench::report {

struct PlotOptions {
  // Figure title above the panels; empty for none.
  std::string title;
  // Logarithmic y axis. Values <= 0 cannot be drawn on it and are skipped like NaN.
  bool log_y = false;
  // Whole-figure size in pixels; 0 picks one from the number of panels (about 300 x 250 per
  // panel plus the legend). Allowed 200..20000 otherwise.
  int width = 0;
  int height = 0;
  // Panels per row; 0 picks min(number of jobs, 3).
  int columns = 0;
  // A dashed horizontal line in every panel, e.g. log c (the loss of a uniform prediction over c
  // classes), labelled in the legend with `reference_label`. The y range includes it.
  std::optional<double> reference_y;
  std::string reference_label = "reference";
};

// Renders `response` (what QueryMetrics returns, as for QueryToTable) as an SVG document:
// one panel per series titled with JobTitle (e.g. "adam lr=0.001 seed=0"), x = step, y = the
// metric of each group, one colour per group from a sequential map (group 1, the most frequent
// classes, darkest; the rarest lightest), a legend, and axes with ticks. All panels share the x
// and the y range: the y range is exactly [smallest, largest] finite value over every panel (and
// the reference line), so those map to the bottom and top edges of the plot boxes.
//
// Each maximal run of consecutive drawable values of a group is one <polyline> with attributes
// data-panel="P" data-group="G" (0-based); a NaN, an infinity, a value the group lacks at a step,
// or (log axis) a value <= 0 ends the run, so gaps stay gaps and are never drawn at 0. A run of a
// single point is a <circle> with the same attributes. Steps a series never evaluated are not
// gaps: its line joins the steps it has. Coordinates are printed with two decimals and labels
// with %g, so the same response gives the same bytes.
//
// Errors: InvalidArgument for a width, height or columns out of range, or a reference value that
// is not finite (or <= 0 with log_y); FailedPrecondition when no series has a drawable value
// (e.g. jobs still queued, or no positive value for a log axis).
absl::StatusOr<std::string> QueryToSvg(const v1::QueryMetricsResponse& response,
                                       const PlotOptions& options);

// The same figure for response.aggregates (`optbench plot --aggregate seed`): one panel per
// setting titled with its labels, each group's line the mean over seeds, under it the 95 %
// interval as a translucent band in the group's colour: a <polygon data-band="1"> with the
// line's data-panel and data-group per run of points whose interval is drawable (a run of one
// point: a vertical <line data-band="1">; n < 2 has no interval, so no band). The shared y range
// covers the bands too. Errors as QueryToSvg.
absl::StatusOr<std::string> AggregatesToSvg(const v1::QueryMetricsResponse& response,
                                            const PlotOptions& options);

struct ProfilePlotOptions {
  std::string title;  // Above the plot; empty for none.
  // The right end of the τ axis (> 1, finite): AlgoPerf's scoring integrates its profiles up to
  // τ = 4.
  double tau_max = 4;
  // Figure size in pixels; 0 = 560 x 360. Allowed 200..20000 otherwise.
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

}  // namespace optbench::report

#endif  // OPTBENCH_REPORT_PLOT_H_
