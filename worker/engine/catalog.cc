#include "worker/engine/catalog.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/engine/schedule.h"

namespace optbench::engine {
namespace {

// Builders that keep the table below one declaration per line.
ParamSpec Double(std::string name, double def, std::optional<double> min, std::optional<double> max,
                 std::string doc, bool min_exclusive = false, bool max_exclusive = false) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kDouble;
  p.default_value = def;
  p.min = min;
  p.max = max;
  p.min_exclusive = min_exclusive;
  p.max_exclusive = max_exclusive;
  p.doc = std::move(doc);
  return p;
}

ParamSpec Int(std::string name, int64_t def, std::optional<double> min, std::optional<double> max,
              std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kInt;
  p.default_value = def;
  p.min = min;
  p.max = max;
  p.doc = std::move(doc);
  return p;
}

ParamSpec Bool(std::string name, bool def, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kBool;
  p.default_value = def;
  p.doc = std::move(doc);
  return p;
}

ParamSpec String(std::string name, std::string def, std::vector<std::string> choices,
                 std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = ParamType::kString;
  p.default_value = std::move(def);
  p.choices = std::move(choices);
  p.doc = std::move(doc);
  return p;
}

// A learning rate: > 0 and finite.
ParamSpec Lr(double def) {
  return Double("lr", def, 0.0, 1e6, "step size (learning rate)", /*min_exclusive=*/true);
}
// Heavy-ball momentum in the PyTorch convention b_t = mu b_{t-1} + u_t (ALGORITHMS.md 0).
ParamSpec Momentum() {
  return Double("momentum", 0.0, 0.0, 1.0, "heavy-ball momentum mu, b = mu b + u (PyTorch style)",
                false, /*max_exclusive=*/true);
}
ParamSpec DataSeed() {
  return Int("data_seed", 0, 0, 9.0e15,
             "seed of the data generator (the job seed drives init and sampling only)");
}

std::vector<ComponentSpec> BuildCatalog() {
  using K = ComponentKind;
  std::vector<ComponentSpec> c;
  // ---- datasets -------------------------------------------------------------------------
  c.push_back({K::kDataset,
               "heavy_tail_uniform",
               "paper 1 D1: 2^i classes of 2^(m-i) samples at level i, inputs Uniform[0,1) "
               "independent of the label; n = m 2^m, d = (m+1) 2^m, c = 2^m - 1; test = train",
               {Int("m", 8, 2, 14, "number of frequency levels (m = 11 is the paper's size)"),
                DataSeed()}});
  c.push_back({K::kDataset,
               "zipf_gaussian",
               "paper 1 D2: n_k = ceil(min_samples (classes/k)^alpha) samples of class k, "
               "x = e_y + noise N(0, I) in R^classes",
               {Int("classes", 100, 2, 100000, "number of classes"),
                Double("alpha", 1.0, 0.0, 10.0, "power-law exponent of class frequencies"),
                Int("min_samples", 10, 1, 1000000, "samples of the rarest class"),
                Double("noise", 0.1, 0.0, 1e3, "standard deviation of the Gaussian noise"),
                Double("test_fraction", 0.0, 0.0, 10.0,
                       "test split drawn from the same distribution, ceil(fraction n_k) per "
                       "class; 0 = no test split"),
                DataSeed()}});
  c.push_back({K::kDataset,
               "csv",
               "a user's CSV file: a header row, numeric feature columns and an integer label "
               "column (0..classes-1) chosen by name",
               {String("train_path", "", {}, "path of the training CSV file (required)"),
                String("test_path", "", {}, "path of an optional test CSV file"),
                String("label_column", "label", {}, "name of the label column"),
                Int("num_classes", 0, 0, 10000000,
                    "number of classes; 0 = one more than the largest label seen")}});
  // ---- models ---------------------------------------------------------------------------
  c.push_back({K::kModel,
               "linear",
               "softmax regression: logits = x W^T + b, W is classes x features",
               {Bool("bias", true, "learn a bias vector b"),
                String("init", "zeros", {"zeros", "uniform"},
                       "initial weights: zeros, or Uniform(-1/sqrt(d), 1/sqrt(d)) (PyTorch "
                       "default)")}});
  // ---- optimizers -----------------------------------------------------------------------
  c.push_back({K::kOptimizer,
               "gd",
               "gradient descent with heavy-ball or Nesterov momentum and coupled L2 decay, as "
               "torch.optim.SGD: b = mu b + (g + wd theta), theta -= lr b",
               {Lr(0.1), Momentum(),
                Bool("nesterov", false, "Nesterov momentum (torch.optim.SGD); needs momentum > 0"),
                Double("weight_decay", 0.0, 0.0, 1e6, "coupled L2: g += weight_decay theta")}});
  c.push_back({K::kOptimizer,
               "adam",
               "Adam (Kingma & Ba 2015): bias-corrected first and second moments",
               {Lr(1e-3),
                Double("beta1", 0.9, 0.0, 1.0, "first-moment decay (0 = no momentum)", false, true),
                Double("beta2", 0.999, 0.0, 1.0, "second-moment decay", false, true),
                Double("eps", 1e-8, 0.0, 1.0, "added to sqrt(v_hat)", true),
                Bool("bias_correction", true, "divide moments by 1 - beta^t"),
                Double("weight_decay", 0.0, 0.0, 1e6,
                       "coupled L2: g += weight_decay theta (torch.optim.Adam)"),
                Bool("amsgrad", false, "divide by the running max of v (Reddi et al. 2018)")}});
  c.push_back({K::kOptimizer,
               "sign_descent",
               "paper 1 sign descent: u = sign(g) fed to heavy-ball momentum (not Signum)",
               {Lr(1e-3), Momentum()}});
  c.push_back({K::kOptimizer,
               "normalized_gd",
               "paper 1 normalized GD: u = g / ||g|| (norm over all parameters) fed to "
               "heavy-ball momentum",
               {Lr(0.1), Momentum()}});
  // ---- optimizers: elementwise (adamw, adagrad, rmsprop, signum, lion, adafactor, ...) ------
  c.push_back({K::kOptimizer,
               "sgd",
               "alias of gd (torch.optim.SGD without dampening): heavy-ball or Nesterov momentum, "
               "coupled L2 decay",
               {Lr(0.1), Momentum(),
                Bool("nesterov", false, "Nesterov momentum (torch.optim.SGD); needs momentum > 0"),
                Double("weight_decay", 0.0, 0.0, 1e6, "coupled L2: g += weight_decay theta")}});
  c.push_back({K::kOptimizer,
               "adamw",
               "AdamW (Loshchilov & Hutter 2019, torch.optim.AdamW): Adam with decoupled decay "
               "theta *= 1 - lr wd",
               {Lr(1e-3),
                Double("beta1", 0.9, 0.0, 1.0, "first-moment decay (0 = no momentum)", false, true),
                Double("beta2", 0.999, 0.0, 1.0, "second-moment decay", false, true),
                Double("eps", 1e-8, 0.0, 1.0, "added to sqrt(v_hat)", true),
                Bool("bias_correction", true, "divide moments by 1 - beta^t"),
                Double("weight_decay", 1e-2, 0.0, 1e6, "decoupled decay: theta *= 1 - lr wd"),
                Bool("amsgrad", false, "divide by the running max of v (Reddi et al. 2018)")}});
  c.push_back({K::kOptimizer,
               "adagrad",
               "Adagrad (Duchi et al. 2011, torch.optim.Adagrad): s += g^2, "
               "theta -= lr g / (sqrt(s) + eps)",
               {Lr(1e-2), Double("lr_decay", 0.0, 0.0, 1e6, "lr_t = lr / (1 + (t - 1) lr_decay)"),
                Double("weight_decay", 0.0, 0.0, 1e6, "coupled L2: g += weight_decay theta"),
                Double("initial_accumulator_value", 0.0, 0.0, 1e6, "initial value of s"),
                Double("eps", 1e-10, 0.0, 1.0, "added to sqrt(s)", true)}});
  c.push_back({K::kOptimizer,
               "rmsprop",
               "RMSprop (Tieleman & Hinton 2012; centered: Graves 2013), as torch.optim.RMSprop",
               {Lr(1e-2),
                Double("alpha", 0.99, 0.0, 1.0, "smoothing constant of v = alpha v + (1-alpha) g^2",
                       false, true),
                Double("eps", 1e-8, 0.0, 1.0, "added to sqrt(v)", true),
                Double("weight_decay", 0.0, 0.0, 1e6, "coupled L2: g += weight_decay theta"),
                Double("momentum", 0.0, 0.0, 1.0, "momentum of b = mu b + g / (sqrt(v) + eps)",
                       false, true),
                Bool("centered", false, "divide by sqrt(v - mean(g)^2) (Graves 2013)")}});
  c.push_back({K::kOptimizer,
               "scaled_sign",
               "paper 1 rescaled sign descent: u = sign(g) ||g||_1 (norm over all parameters) fed "
               "to heavy-ball momentum",
               {Lr(1e-3), Momentum()}});
  c.push_back(
      {K::kOptimizer,
       "signum",
       "Signum (Bernstein et al. 2018; paper 2's signum.py): theta -= lr (sign((1-la) m + "
       "la g) + wd theta)",
       {Lr(1e-3),
        Double("beta1", 0.9, 0.0, 1.0, "momentum decay of m = beta1 m + (1-beta1) g", false, true),
        Double("lookahead", 0.0, 0.0, 1.0, "la: weight of g in the signed interpolation"),
        Double("weight_decay", 0.0, 0.0, 1e6, "decoupled: theta -= lr wd theta")}});
  c.push_back({K::kOptimizer,
               "lion",
               "Lion (Chen et al. 2023): theta -= lr (sign(beta1 m + (1-beta1) g) + wd theta), "
               "m = beta2 m + (1-beta2) g",
               {Lr(1e-4), Double("beta1", 0.9, 0.0, 1.0, "interpolation weight of m in the update"),
                Double("beta2", 0.99, 0.0, 1.0, "momentum decay", false, true),
                Double("weight_decay", 0.0, 0.0, 1e6, "decoupled: theta -= lr wd theta")}});
  c.push_back({K::kOptimizer,
               "adafactor",
               "Adafactor (Shazeer & Stern 2018, Alg. 4/5): factored second moment, relative step, "
               "update clipping",
               {Lr(1e-2), Double("eps1", 1e-30, 0.0, 1.0, "added to g^2", true),
                Double("eps2", 1e-3, 0.0, 1.0, "floor of the parameter RMS in the step size", true),
                Double("clip_threshold", 1.0, 0.0, 1e6, "d: update RMS clipped to d", true),
                Double("decay_rate", -0.8, -10.0, 0.0, "c in beta2_t = 1 - t^c", false, true),
                Double("beta1", 0.0, 0.0, 1.0, "first moment of the update; 0 = none", false, true),
                Bool("relative_step", true, "step rho_t = min(lr, 1/sqrt(t)) instead of lr"),
                Bool("scale_parameter", true, "multiply the step by max(eps2, RMS(theta))")}});
  // ---- optimizers: matrix-aware (muon, adamuon, shampoo, soap, splus, spa) -----------------
  c.push_back({K::kOptimizer,
               "paper2_adam",
               "paper 2's fixed auxiliary Adam (kvfrans/matrix-whitening): betas (0.9, 0.99), "
               "eps 1e-8, decoupled weight decay 0.001 * lr on matrices only; use as "
               "aux_optimizer",
               {Lr(0.01)}});
  // Matrix rules apply to every slot whose role is not kVector (GroupedOptimizer routes by role).
  c.push_back(
      {K::kOptimizer,
       "muon",
       "Muon (KellerJordan/Muon muon.py; ALGORITHMS 0.7, paper 2 eq. 2.4.3): momentum "
       "orthogonalized by quintic Newton-Schulz in float32 (reference: bfloat16), scaled "
       "by sqrt(max(1, rows/cols)); vector slots get the reference's aux Adam "
       "(0.9, 0.95, eps 1e-10, no decay)",
       {Lr(0.02),
        Double("momentum", 0.95, 0.0, 1.0, "beta: buf = beta buf + (1-beta) g", false, true),
        Bool("nesterov", true,
             "orthogonalize (1-beta) g + beta buf instead of buf (paper 2: lookahead "
             "1-beta; its runs use false)"),
        String("ns_coefficients", "fixed", {"fixed", "schedule"},
               "Newton-Schulz (a,b,c): fixed (3.4445,-4.7750,2.0315) or paper 2's "
               "5-step schedule"),
        Int("ns_steps", 5, 1, 50, "Newton-Schulz iterations"),
        Double("weight_decay", 0.0, 0.0, 1e6, "decoupled: theta *= 1 - lr wd"),
        String("variant", "reference", {"reference", "paper"},
               "reference: X = M/(||M||+1e-7); paper: X = (M/(1-beta^t))/(||.||+1e-8)")}});
  c.push_back(
      {K::kOptimizer,
       "adamuon",
       "AdaMuon as paper 2 (kvfrans/matrix-whitening adamuon.py; ALGORITHMS 2.4.7): "
       "bias-corrected Muon O, then O / (sqrt(v_hat) + eps) with v an EMA of O^2 (full or "
       "rank-1); vector slots get Adam (beta1, beta2, eps) [service default]",
       {Lr(3.12e-4), Double("beta1", 0.9, 0.0, 1.0, "momentum EMA", false, true),
        Double("beta2", 0.95, 0.0, 1.0, "variance EMA of the orthogonalized update", false, true),
        Double("eps", 1e-8, 0.0, 1.0, "added to sqrt(v_hat)", true),
        String("ns_coefficients", "schedule", {"fixed", "schedule"},
               "Newton-Schulz (a,b,c): paper 2's 5-step schedule (code default) or the "
               "fixed triple; float32 in the product"),
        Int("ns_steps", 5, 1, 50, "Newton-Schulz iterations"),
        Double("weight_decay", 0.0, 0.0, 1e6, "decoupled: theta *= 1 - lr wd"),
        String("variance", "full", {"full", "rank1", "rank1_code"},
               "full v; rank-1 r c^T/mean(r); rank1_code = the code's rank-1 times "
               "rows/cols")}});
  c.push_back({K::kOptimizer,
               "soap",
               "SOAP (nikhilvyas/SOAP soap.py; ALGORITHMS 0.9, paper 2 eq. 2.4.5): Adam in the "
               "eigenbasis of Shampoo's factors; step 1 only builds the basis; vector slots get "
               "Adam without rotation, as the reference (precondition_1d off)",
               {Lr(3e-3), Double("beta1", 0.95, 0.0, 1.0, "first-moment decay", false, true),
                Double("beta2", 0.95, 0.0, 1.0, "second-moment decay", false, true),
                Double("shampoo_beta", -1.0, -1.0, 1.0, "factor decay; < 0 = beta2", false, true),
                Double("eps", 1e-8, 0.0, 1.0, "added to sqrt(v)", true),
                Double("weight_decay", 0.01, 0.0, 1e6,
                       "decoupled: theta -= lr wd theta (reference: after the step)"),
                Int("precondition_frequency", 10, 1, 1000000000,
                    "basis refresh every N steps (reference: QR power step; paper: eigh)"),
                Int("max_precond_dim", 10000, 1, 1000000000,
                    "a longer side is not rotated (paper: sides >= this)"),
                Bool("normalize_grads", false, "reference only: divide the update by its RMS"),
                Bool("correct_bias", true,
                     "reference only: step lr sqrt(1-beta2^k)/(1-beta1^k); paper always corrects"),
                String("variant", "reference", {"reference", "paper"},
                       "reference: nikhilvyas/SOAP; paper: momentum in the original basis, "
                       "eigh refresh, first update zeroed")}});
  c.push_back({K::kOptimizer,
               "splus",
               "SPlus as paper 2 (kvfrans/matrix-whitening splus.py; ALGORITHMS 2.4.6): sign of "
               "the momentum in the eigenbasis of Shampoo's factors, times 2/(rows+cols); vector "
               "slots: sign(m_hat) unrotated, unscaled [service default; the code refuses them]",
               {Lr(0.1), Double("beta1", 0.99, 0.0, 1.0, "momentum EMA", false, true),
                Double("beta2", 0.968, 0.0, 1.0, "factor EMA", false, true),
                Double("lookahead", 0.0, 0.0, 1.0, "lambda: sign of (1-lambda) m + lambda g"),
                Double("eps", 1e-30, 0.0, 1.0, "added to the factors' diagonal before eigh"),
                Double("weight_decay", 0.01, 0.0, 1e6, "decoupled: theta -= lr wd theta"),
                Int("precondition_frequency", 10, 1, 1000000000,
                    "eigenbasis recomputed after step 1 and every N steps"),
                Int("max_precond_dim", 10000, 1, 1000000000, "sides >= this are not rotated")}});
  c.push_back({K::kOptimizer,
               "spa",
               "SPA, paper 2's didactic method (kvfrans/matrix-whitening spa.py; ALGORITHMS "
               "2.4.8): S = Q_L sign(Q_L^T m Q_R) Q_R^T, then S / (sqrt(v_hat) + eps); first "
               "update zeroed; vector slots unrotated, as the code",
               {Lr(1e-3), Double("beta1", 0.9, 0.0, 1.0, "momentum EMA", false, true),
                Double("beta2", 0.999, 0.0, 1.0, "variance and factor EMA", false, true),
                Double("eps", 1e-16, 0.0, 1.0, "added to sqrt(v_hat)", true),
                Double("weight_decay", 0.0, 0.0, 1e6, "decoupled: theta -= lr wd theta"),
                Int("precondition_frequency", 10, 1, 1000000000,
                    "eigenbasis recomputed after step 1 and every N steps"),
                Int("max_precond_dim", 10000, 1, 1000000000, "sides >= this are not rotated")}});
  c.push_back(
      {K::kOptimizer,
       "shampoo",
       "Shampoo (Gupta et al. 2018 Alg. 1; ALGORITHMS 0.8, paper 2 eq. 2.4.4): "
       "L^-1/4 M R^-1/4 by eigendecomposition (float64 retry); vector slots: basic = "
       "Adam, paper = the code's m_hat/((sqrt(v)+eps)(sqrt(v_hat)+eps))",
       {Lr(1e-3), Double("beta1", 0.9, 0.0, 1.0, "momentum EMA on g", false, true),
        Double("beta2", 0.99, 0.0, 1.0, "factor EMA and Adam second moment", false, true),
        Double("eps", 1e-8, 0.0, 1.0, "Adam eps (grafting, vectors, paper normalization)", true),
        Double("root_eps", 1e-6, 0.0, 1.0,
               "basic only: eigenvalue floor relative to the largest (paper: fixed "
               "1/(|l|^1/4 + 1e-8))"),
        Double("weight_decay", 0.0, 0.0, 1e6, "decoupled: theta -= lr wd theta"),
        Int("precondition_frequency", 10, 1, 1000000000,
            "inverse roots recomputed at step 1 and every N steps"),
        Int("max_precond_dim", 10000, 1, 1000000000,
            "matrices with a longer side get the vector rule"),
        Bool("graft_adam", true, "basic only: rescale the update to the Frobenius norm of Adam's"),
        String("variant", "basic", {"basic", "paper"},
               "basic: EMA factors of g; paper: factors of Adam-normalized g, scale "
               "mean(sqrt(diag R))")}});
  // ---- models and datasets of the seed papers (mlp, cnn, fashion_mnist, ...) ---------------
  c.push_back({K::kDataset,
               "noisy_patches",
               "paper 3 (ALGORITHMS 3.1): binary, X = [y mu, xi] as 2d features, mu = mu_norm e_1, "
               "xi with s N(0, sigma_p^2) coordinates off e_1, sigma_p = mu_norm / (snr sqrt(s))",
               {Int("d", 2000, 2, 1000000, "patch dimension"),
                Int("n_train", 32, 2, 10000000, "training examples, balanced over y = -1, +1"),
                Int("n_test", 1000, 0, 10000000, "test examples (0 = no test split)"),
                Double("mu_norm", 1.0, 0.0, 1e6, "signal strength ||mu||", true),
                Int("s", 40, 1, 1000000, "non-zero noise coordinates per example (<= d - 1)"),
                Double("snr", 1.0, 0.0, 1e6, "||mu|| / (sigma_p sqrt(s))", true), DataSeed()}});
  c.push_back({K::kModel,
               "attention2",
               "paper 3 (ALGORITHMS 3.2): softmax attention over the two patches [x1, x2] of a row "
               "with trainable W_Q, W_K, readout f = sum_l <v, z_l> with v = mean row of W_V+ "
               "minus that of W_V-, logistic loss; binary data with 2d features",
               {Int("m_k", 10, 1, 100000, "rows of W_Q and W_K (paper 3 service default 10)"),
                Int("m_v", 10, 1, 100000, "rows of W_V+ and W_V- (service default 10)"),
                Double("sigma0", 0.01, 0.0, 1e6, "initial weights ~ N(0, sigma0^2)")}});
  c.push_back({K::kDataset,
               "fashion_mnist",
               "Fashion-MNIST from its IDX files (Debian package dataset-fashion-mnist): 60,000 "
               "train and 10,000 test 28x28 images, 10 classes, 784 features in pixel order",
               {String("path", "/usr/share/datasets/fashion-mnist", {},
                       "directory holding the four IDX files (.gz or plain)"),
                Bool("standardize", true,
                     "standardize each pixel by the train mean and std (pixels with std 0 are "
                     "left as they are); false = pixel / 255"),
                Double("zipf", 0.0, 0.0, 10.0,
                       "heavy-tailed subsample: class k keeps ceil(m (k+1)^-zipf) of its train "
                       "images (m = smallest class count), seeded; 0 = off"),
                Int("max_train", 0, 0, 100000000,
                    "keep at most this many train images (seeded uniform subset); 0 = all"),
                DataSeed()}});
  c.push_back({K::kDataset,
               "barcoded_fashion_mnist",
               "paper 1 D4 on Fashion-MNIST: the 10 classes plus 10 * 2^barcode_bits rare "
               "classes (a barcode on the top row stamped on per_class images of one class)",
               {String("path", "/usr/share/datasets/fashion-mnist", {},
                       "directory holding the four Fashion-MNIST IDX files (.gz or plain)"),
                Int("barcode_bits", 10, 1, 10,
                    "barcode pixels (paper: 10, i.e. 10,240 barcoded classes, 349 MB float32)"),
                Int("per_class", 5, 1, 1000, "train images per barcoded class (paper: 5)"),
                Int("test_per_class", 1, 1, 1000, "test images per barcoded class (paper: 1)"),
                Int("max_original", 0, 0, 100000000,
                    "keep at most this many original train images (seeded); 0 = all 60,000"),
                Bool("standardize", true,
                     "standardize each pixel by the train mean and std (paper 1); false = "
                     "pixel / 255"),
                DataSeed()}});
  c.push_back({K::kDataset,
               "npy",
               "NumPy .npy files: features float32/float64 n x d (C order), labels int32/int64 "
               "of length n (0..classes-1)",
               {String("features_path", "", {}, "path of the train features .npy (required)"),
                String("labels_path", "", {}, "path of the train labels .npy (required)"),
                String("test_features_path", "", {}, "path of optional test features .npy"),
                String("test_labels_path", "", {}, "path of optional test labels .npy"),
                Int("num_classes", 0, 0, 10000000,
                    "number of classes; 0 = one more than the largest label seen")}});
  c.push_back(
      {K::kDataset,
       "text",
       "next-token prediction on real text (paper 1 D5 stand-in): word tokens (lower-cased, "
       "punctuation split off, fortune '%' lines -> <eos>), a row = `context` token ids, label = "
       "the next token id; classes = the vocabulary, ids by decreasing train frequency",
       {String("path", "", {},
               "corpus file, or directory of files (sorted; *.dat, *.u8, .* skipped); \"\" = "
               "Debian's fortunes package, /usr/share/games/fortunes"),
        Int("vocab_size", 2000, 2, 1000000,
            "vocabulary cap: the vocab_size - 1 most frequent train words plus <unk>"),
        Int("context", 16, 1, 100000, "tokens per row (paper 1: sequence length 35)"),
        Int("stride", 1, 1, 1000000, "token offset between candidate windows"),
        Double("test_fraction", 0.1, 0.0, 1.0,
               "the stream's last fraction is the test part (contiguous split)", true, true),
        Int("max_train_examples", 20000, 0, 1000000000,
            "keep at most this many train windows, evenly spread over the corpus; 0 = all"),
        Int("max_test_examples", 2000, 0, 1000000000,
            "keep at most this many test windows, evenly spread; 0 = all")}});
  {
    ParamSpec hidden;
    hidden.name = "hidden";
    hidden.type = ParamType::kIntList;
    hidden.default_value = std::vector<int64_t>{256, 128};
    hidden.min = 1;
    hidden.max = 1000000;
    hidden.doc = "widths of the hidden ReLU layers, input side first; [] = softmax regression";
    const ParamSpec dense_init =
        String("init", "kaiming_uniform", {"kaiming_uniform", "xavier_uniform"},
               "initial weights: kaiming_uniform = PyTorch's Linear/Conv2d default "
               "U(+-1/sqrt(fan_in)) for weights and biases; xavier_uniform = "
               "U(+-sqrt(6/(fan_in+fan_out))), biases 0");
    const ParamSpec zero_head =
        Bool("zero_head", false, "start the output layer at 0 (initial loss exactly log c)");
    c.push_back({K::kModel,
                 "mlp",
                 "fully connected ReLU network: Linear -> ReLU per hidden width, then "
                 "Linear(-> classes)",
                 {hidden, Bool("bias", true, "learn bias vectors"), dense_init, zero_head}});
    c.push_back(
        {K::kModel,
         "cnn",
         "paper 1's CNN: conv5x5(pad 2) -> ReLU -> maxpool2 -> conv5x5(pad 2) -> ReLU -> "
         "maxpool2 -> flatten -> Linear(-> classes); inputs are images in (C, H, W) order",
         {Int("channels1", 32, 1, 4096, "channels of the first convolution (paper: 32)"),
          Int("channels2", 100, 1, 4096, "channels of the second convolution (paper: 100)"),
          Int("height", 28, 4, 4096, "image height"), Int("width", 28, 4, 4096, "image width"),
          Int("in_channels", 1, 1, 4096, "input channels"),
          Bool("bias", true, "learn bias vectors"), dense_init, zero_head}});
    c.push_back(
        {K::kModel,
         "transformer",
         "decoder-only LM over contexts of token ids (dataset text): embedding + positional "
         "encoding, pre-norm blocks (causal multi-head attention, GELU MLP), final LN, head on "
         "the last position; last_layer_only = paper 1's frozen-features variant",
         {Int("d_model", 64, 1, 65536, "embedding / residual width d (divisible by heads)"),
          Int("heads", 2, 1, 4096, "attention heads; d_head = d_model / heads"),
          Int("layers", 2, 1, 1000, "number of blocks L"),
          Int("mlp_width", 256, 1, 1000000, "hidden width of each block's MLP"),
          String("positional", "learned", {"learned", "sinusoidal"},
                 "positional encoding: a learned T x d table or fixed sin/cos"),
          Bool("last_layer_only", false,
               "paper 1: no MLP, no layer norm; embeddings and attention frozen at unit-scale "
               "random init; only head.weight/head.bias trained"),
          zero_head,
          Double("init_std", 0.02, 0.0, 10.0,
                 "GPT-2 init: weights and embeddings N(0, init_std^2), biases 0 (with "
                 "last_layer_only: the head only)",
                 /*min_exclusive=*/true),
          Bool("scale_residual", true,
               "GPT-2: attn.o and mlp.proj weights init_std / sqrt(2 layers)")}});
  }
  std::sort(c.begin(), c.end(), [](const ComponentSpec& a, const ComponentSpec& b) {
    return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
  });
  return c;
}

const std::vector<ComponentSpec>& Catalog() {
  static const std::vector<ComponentSpec>* catalog = new std::vector<ComponentSpec>(BuildCatalog());
  return *catalog;
}

absl::Status CheckTrainerField(const char* field, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer.", field, ": ", value, " is out of range; allowed [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<const ComponentSpec*> ListComponents(ComponentKind kind) {
  std::vector<const ComponentSpec*> out;
  for (const ComponentSpec& spec : Catalog()) {
    if (spec.kind == kind) out.push_back(&spec);
  }
  return out;
}

absl::StatusOr<const ComponentSpec*> FindComponent(ComponentKind kind, const std::string& name) {
  std::vector<std::string> known;
  for (const ComponentSpec* spec : ListComponents(kind)) {
    if (spec->name == name) return spec;
    known.push_back(spec->name);
  }
  const char* kind_name = ComponentKindName(kind);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(kind_name, ".name: missing; known ", kind_name,
                                                   "s: ", absl::StrJoin(known, ", ")));
  }
  return absl::InvalidArgumentError(absl::StrCat(kind_name, ".name: unknown ", kind_name, " '",
                                                 name, "'; known: ", absl::StrJoin(known, ", ")));
}

absl::StatusOr<JobSpec> ValidateJobSpec(const JobSpec& spec) {
  JobSpec out = spec;
  const std::pair<ComponentKind, ComponentChoice*> parts[] = {
      {ComponentKind::kDataset, &out.dataset},
      {ComponentKind::kModel, &out.model},
      {ComponentKind::kOptimizer, &out.optimizer}};
  for (const auto& [kind, choice] : parts) {
    auto component = FindComponent(kind, choice->name);
    if (!component.ok()) return component.status();
    auto params = ValidateParams(**component, choice->params);
    if (!params.ok()) return params.status();
    choice->params = *std::move(params);
  }
  constexpr int64_t kMaxSteps = 1'000'000'000;
  TrainerSpec& t = out.trainer;
  if (t.chunk_rows == 0) t.chunk_rows = TrainerSpec().chunk_rows;
  if (t.eval_every == 0) t.eval_every = TrainerSpec().eval_every;
  if (auto s = CheckTrainerField("steps", t.steps, 1, kMaxSteps); !s.ok()) return s;
  if (auto s = CheckTrainerField("batch_size", t.batch_size, 0, 100'000'000); !s.ok()) return s;
  if (auto s = CheckTrainerField("chunk_rows", t.chunk_rows, 1, 10'000'000); !s.ok()) return s;
  if (auto s = CheckTrainerField("eval_every", t.eval_every, 1, kMaxSteps); !s.ok()) return s;
  if (t.schedule.empty()) t.schedule = "constant";
  if (std::find(ScheduleNames().begin(), ScheduleNames().end(), t.schedule) ==
      ScheduleNames().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.schedule: unknown schedule '", t.schedule,
                     "'; allowed: ", absl::StrJoin(ScheduleNames(), ", ")));
  }
  if (auto s = CheckTrainerField("warmup_steps", t.warmup_steps, 0, t.steps); !s.ok()) return s;
  if (auto s = CheckTrainerField("checkpoint_every", t.checkpoint_every, 0, t.steps); !s.ok()) {
    return s;
  }
  if (!(t.min_lr_ratio >= 0 && t.min_lr_ratio <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.min_lr_ratio: ", FormatDouble(t.min_lr_ratio),
                     " is out of range; allowed [0, 1]"));
  }
  if (t.min_lr_ratio != 0 && t.schedule != "cosine") {
    return absl::InvalidArgumentError(
        absl::StrCat("trainer.min_lr_ratio: ", FormatDouble(t.min_lr_ratio),
                     " is only used by schedule 'cosine' (schedule is '", t.schedule, "')"));
  }
  if (out.optimizer.name == "gd" || out.optimizer.name == "sgd") {
    if (GetBool(out.optimizer.params, "nesterov") &&
        GetDouble(out.optimizer.params, "momentum") == 0) {
      return absl::InvalidArgumentError(
          "optimizer.nesterov: true requires momentum > 0 (as torch.optim.SGD)");
    }
  }
  if (out.aux_optimizer.has_value()) {
    auto aux = FindComponent(ComponentKind::kOptimizer, out.aux_optimizer->name);
    if (!aux.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("aux_", aux.status().message()));
    }
    auto params = ValidateParams(**aux, out.aux_optimizer->params);
    if (!params.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("aux_", params.status().message()));
    }
    out.aux_optimizer->params = *std::move(params);
  }
  if (out.dataset.name == "noisy_patches" &&
      GetInt(out.dataset.params, "s") >= GetInt(out.dataset.params, "d")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dataset.s: ", GetInt(out.dataset.params, "s"),
        " noise coordinates do not fit in d - 1 = ", GetInt(out.dataset.params, "d") - 1));
  }
  if (out.model.name == "attention2") {
    // attention2 reads a row as two patches and emits one logistic score: 2 classes, an even
    // number of features. Data sets whose shape their parameters fix are checked here; files
    // (csv, npy) when the model is built.
    const std::string& data = out.dataset.name;
    const bool more_classes =
        data == "heavy_tail_uniform" || data == "fashion_mnist" ||
        data == "barcoded_fashion_mnist" || data == "text" ||
        (data == "zipf_gaussian" && GetInt(out.dataset.params, "classes") != 2);
    if (more_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.name: attention2 needs a binary data set whose rows are two patches (2 classes, "
          "an even number of features, e.g. noisy_patches); dataset '",
          data, "' has more than 2 classes"));
    }
  }
  if (out.model.name == "transformer") {
    // Rows must be token ids below the class count, which only `text` guarantees; the model
    // treats anything else as a broken precondition.
    if (out.dataset.name != "text") {
      return absl::InvalidArgumentError(
          absl::StrCat("model.name: transformer needs contexts of token ids from dataset 'text'; "
                       "dataset '",
                       out.dataset.name, "' does not provide them"));
    }
    const int64_t d_model = GetInt(out.model.params, "d_model");
    const int64_t heads = GetInt(out.model.params, "heads");
    if (d_model % heads != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.heads: d_model ", d_model, " is not divisible by heads ", heads));
    }
  }
  if (out.dataset.name == "csv" && GetString(out.dataset.params, "train_path").empty()) {
    return absl::InvalidArgumentError(
        "dataset.train_path: required for dataset 'csv' (path of the training CSV file)");
  }
  return out;
}

}  // namespace optbench::engine
