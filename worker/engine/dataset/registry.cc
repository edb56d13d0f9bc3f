#include "worker/engine/dataset/registry.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/catalog.h"
#include "worker/engine/dataset/barcoded_fashion_mnist.h"
#include "worker/engine/dataset/csv.h"
#include "worker/engine/dataset/fashion_mnist.h"
#include "worker/engine/dataset/heavy_tail_uniform.h"
#include "worker/engine/dataset/noisy_patches.h"
#include "worker/engine/dataset/npy.h"
#include "worker/engine/dataset/text.h"
#include "worker/engine/dataset/zipf_gaussian.h"

namespace optbench::engine {
inline namespace OPTBENCH_ENGINE_PRECISION {

absl::StatusOr<Dataset> MakeDataset(const std::string& name, const ParamMap& params) {
  OPTBENCH_ASSIGN_OR_RETURN(const ComponentSpec* spec,
                            FindComponent(ComponentKind::kDataset, name));
  OPTBENCH_ASSIGN_OR_RETURN(const ParamMap p, ValidateParams(*spec, params));
  if (name == "heavy_tail_uniform") {
    return MakeHeavyTailUniform(GetInt(p, "m"), static_cast<uint64_t>(GetInt(p, "data_seed")));
  }
  if (name == "zipf_gaussian") return MakeZipfGaussian(ZipfGaussianOptionsFromParams(p));
  if (name == "noisy_patches") return MakeNoisyPatches(NoisyPatchesOptionsFromParams(p));
  if (name == "csv") {
    const CsvOptions options = CsvOptionsFromParams(p);
    if (options.train_path.empty()) {
      return absl::InvalidArgumentError(
          "dataset.train_path: required for dataset 'csv' (path of the training CSV file)");
    }
    return LoadCsvDataset(options);
  }
  if (name == "fashion_mnist") return LoadFashionMnist(FashionMnistOptionsFromParams(p));
  if (name == "barcoded_fashion_mnist") {
    return LoadBarcodedFashionMnist(BarcodedOptionsFromParams(p));
  }
  if (name == "npy") return LoadNpyDataset(NpyOptionsFromParams(p));
  if (name == "text") return LoadText(TextOptionsFromParams(p));
  return absl::InternalError(absl::StrCat("dataset '", name, "' is declared but has no builder"));
}

}  // namespace OPTBENCH_ENGINE_PRECISION
}  // namespace optbench::engine
