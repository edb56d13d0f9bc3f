#include "report/aggregate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace optbench::report {
namespace {

// Continued fraction for the incomplete beta function (Numerical Recipes, 3rd ed., 6.4 betacf),
// by the modified Lentz method.
double BetaContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-15;
  const double qab = a + b;
  const double qap = a + 1;
  const double qam = a - 1;
  double c = 1;
  double d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < kEps) break;
  }
  return h;
}

// The regularized incomplete beta function I_x(a, b), 0 <= x <= 1.
double RegularizedBeta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * BetaContinuedFraction(a, b, x) / a;
  return 1 - front * BetaContinuedFraction(b, a, 1 - x) / b;
}

std::map<std::string, std::string> SettingOf(const v1::Job& job) {
  std::map<std::string, std::string> labels(job.labels().begin(), job.labels().end());
  labels.erase("seed");
  return labels;
}

// `t975` caches StudentT975 by degrees of freedom: a query asks for few distinct ones, many times.
v1::AggregateValue Summarize(const std::vector<double>& values, std::map<int64_t, double>* t975) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  v1::AggregateValue out;
  const int64_t n = static_cast<int64_t>(values.size());
  out.set_n(n);
  double sum = 0;
  for (double v : values) sum += v;
  const double mean = n > 0 ? sum / static_cast<double>(n) : nan;
  out.set_mean(mean);
  if (n < 2) {
    out.set_std(nan);
    out.set_ci_low(nan);
    out.set_ci_high(nan);
    return out;
  }
  double squares = 0;
  for (double v : values) squares += (v - mean) * (v - mean);
  const double std = std::sqrt(squares / static_cast<double>(n - 1));
  auto [t, fresh] = t975->try_emplace(n - 1, 0.0);
  if (fresh) t->second = StudentT975(n - 1);
  const double half = t->second * std / std::sqrt(static_cast<double>(n));
  out.set_std(std);
  out.set_ci_low(mean - half);
  out.set_ci_high(mean + half);
  return out;
}

}  // namespace

absl::Status CheckAggregate(const std::string& aggregate) {
  if (aggregate.empty() || aggregate == "seed") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("aggregate: '", aggregate,
                                                 "' is not accepted; accepted: ", kAggregateChoices,
                                                 " (or empty for none)"));
}

double StudentT975(int64_t df) {
  const double nu = static_cast<double>(df);
  // P(|T| > t) = I_{nu/(nu+t^2)}(nu/2, 1/2) decreases in t; find where it is 0.05.
  double lo = 0;
  double hi = 1;
  while (RegularizedBeta(nu / 2, 0.5, nu / (nu + hi * hi)) > 0.05) hi *= 2;
  for (int i = 0; i < 100 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = (lo + hi) / 2;
    if (RegularizedBeta(nu / 2, 0.5, nu / (nu + mid * mid)) > 0.05) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return (lo + hi) / 2;
}

void AggregateOverSeeds(v1::QueryMetricsResponse* response) {
  // Settings in the order of their first job; each with the indices of its series.
  std::vector<std::pair<std::map<std::string, std::string>, std::vector<int>>> settings;
  for (int i = 0; i < response->series_size(); ++i) {
    std::map<std::string, std::string> setting = SettingOf(response->series(i).job());
    auto it = std::find_if(settings.begin(), settings.end(),
                           [&](const auto& s) { return s.first == setting; });
    if (it == settings.end()) {
      settings.push_back({std::move(setting), {i}});
    } else {
      it->second.push_back(i);
    }
  }
  std::map<int64_t, double> t975;
  for (const auto& [labels, members] : settings) {
    v1::AggregateSeries* out = response->add_aggregates();
    out->mutable_labels()->insert(labels.begin(), labels.end());
    // step -> group -> finite values.
    std::map<int64_t, std::vector<std::vector<double>>> values;
    size_t num_groups = 0;
    for (int i : members) {
      const v1::Series& s = response->series(i);
      out->add_job_ids(s.job().id());
      out->set_split(s.split());
      if (out->metric().empty()) out->set_metric(s.metric());
      if (out->groups_size() == 0) *out->mutable_groups() = s.groups();
      for (const v1::SeriesPoint& p : s.points()) {
        std::vector<std::vector<double>>& at = values[p.step()];
        if (at.size() < static_cast<size_t>(p.values_size())) at.resize(p.values_size());
        num_groups = std::max(num_groups, at.size());
        for (int g = 0; g < p.values_size(); ++g) {
          if (std::isfinite(p.values(g))) at[g].push_back(p.values(g));
        }
      }
    }
    for (auto& [step, groups] : values) {
      v1::AggregatePoint* point = out->add_points();
      point->set_step(step);
      groups.resize(num_groups);
      for (const std::vector<double>& v : groups) *point->add_values() = Summarize(v, &t975);
    }
  }
}

}  // namespace optbench::report
