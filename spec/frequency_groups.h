// Frequency groups: classes split into G groups holding about the same number of training
// examples, most frequent first (ALGORITHMS.md 1.4; Kunstner et al. 2024, arXiv 2402.19449,
// fKunstner/class-imbalance-sgd-adam utils.py `split_classes_by_frequency`). Eigen-free: the
// coordinator's query code groups stored per-class metrics with it.
#ifndef OPTBENCH_SPEC_FREQUENCY_GROUPS_H_
#define OPTBENCH_SPEC_FREQUENCY_GROUPS_H_

#include <cstdint>
#include <vector>

namespace optbench::spec {

// Returns `num_groups` lists of class ids (indices into `train_counts`); group 0 holds the most
// frequent classes, the last group the rarest. The rule: sort classes by decreasing count, ties
// by increasing class id; let F_j be the fraction of all examples in the first j sorted classes;
// for each breakpoint b = 1/G, ..., (G-1)/G the first position j with F_j >= b ends a group (the
// class at j is the group's last member); the rest form the last group. The comparison is done
// in exact integer arithmetic, so on paper 1's D1 with G = m the groups are exactly the m
// frequency levels. A group is empty when one class spans several breakpoints. Classes with
// count 0 come last (rarest). If all counts are 0, every class is in the last group. Within a
// group, ids are in sorted (frequency) order. Preconditions (checked): num_groups >= 1, counts
// >= 0.
std::vector<std::vector<int64_t>> FrequencyGroups(const std::vector<int64_t>& train_counts,
                                                  int num_groups);

}  // namespace optbench::spec

#endif  // OPTBENCH_SPEC_FREQUENCY_GROUPS_H_
