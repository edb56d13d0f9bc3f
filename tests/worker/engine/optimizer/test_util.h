// Helpers for optimizer tests: a parameter tensor with a settable gradient.
#ifndef OPTBENCH_TESTS_WORKER_ENGINE_OPTIMIZER_TEST_UTIL_H_
#define OPTBENCH_TESTS_WORKER_ENGINE_OPTIMIZER_TEST_UTIL_H_

#include <string>
#include <vector>

#include "worker/engine/model/model.h"

namespace optbench::engine {

// A named tensor and its gradient, owned here; slot() points into it.
struct TestParam {
  TestParam(std::string id, Matrix value) : id(std::move(id)), value(std::move(value)) {
    grad = Matrix::Zero(this->value.rows(), this->value.cols());
  }
  ParamSlot slot() { return {id, &value, &grad}; }

  std::string id;
  Matrix value;
  Matrix grad;
};

// A column vector matrix from a list of numbers.
inline Matrix Column(std::initializer_list<double> values) {
  Matrix m(static_cast<Eigen::Index>(values.size()), 1);
  Eigen::Index i = 0;
  for (double v : values) m(i++, 0) = v;
  return m;
}

}  // namespace optbench::engine

#endif  // OPTBENCH_TESTS_WORKER_ENGINE_OPTIMIZER_TEST_UTIL_H_
