#include "spec/frequency_groups.h"

#include <algorithm>
#include <numeric>

#include "common/check.h"

namespace optbench::spec {

std::vector<std::vector<int64_t>> FrequencyGroups(const std::vector<int64_t>& train_counts,
                                                  int num_groups) {
  OPTBENCH_CHECK(num_groups >= 1);
  const int64_t c = static_cast<int64_t>(train_counts.size());
  std::vector<int64_t> order(static_cast<size_t>(c));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return train_counts[static_cast<size_t>(a)] > train_counts[static_cast<size_t>(b)];
  });
  int64_t total = 0;
  for (int64_t n : train_counts) {
    OPTBENCH_CHECK(n >= 0);
    total += n;
  }
  std::vector<std::vector<int64_t>> groups(static_cast<size_t>(num_groups));
  if (total == 0) {
    groups.back() = order;
    return groups;
  }
  // Position j (0-based) closes group g (g = 1..G-1, breakpoint g/G) when it is the first with
  // cumulative_j / total >= g / G, i.e. cumulative_j * G >= g * total (exact in integers).
  const __int128 g_total = num_groups;
  size_t group = 0;
  __int128 cumulative = 0;
  for (int64_t id : order) {
    groups[group].push_back(id);
    cumulative += train_counts[static_cast<size_t>(id)];
    while (group + 1 < groups.size() &&
           cumulative * g_total >= static_cast<__int128>(group + 1) * total) {
      ++group;
    }
  }
  return groups;
}

}  // namespace optbench::spec
