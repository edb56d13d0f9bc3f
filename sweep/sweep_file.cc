#include "sweep/sweep_file.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/charconv.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "spec/catalog.h"
#include "spec/source.h"
#include "sweep/sweep_values.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/yaml.h"

namespace optbench::sweep {
namespace {

using spec::ComponentKind;
using spec::ComponentSpec;
using spec::ParamSpec;
using spec::ParamType;
using spec::ParamValue;

// Seeds stay exact through anything that stores numbers as doubles (JSON clients, plots).
constexpr int64_t kMaxSeed = static_cast<int64_t>(spec::kMaxSeed);
constexpr int64_t kSaturated = std::numeric_limits<int64_t>::max();
// The top-level key that names the job whose kept model a task works on (spec/source.h).
constexpr char kSourceKey[] = "source";

// Where something is written: its field path ("optimizer[1].lr[0]") and its 1-based line.
struct Origin {
  std::string path;
  int line = 1;
};

std::string Child(absl::string_view path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

std::string Index(absl::string_view path, size_t i) { return absl::StrCat(path, "[", i, "]"); }

// The 1-based line of `node`, or `fallback` when yaml-cpp has no mark for it. Null nodes carry
// the mark of the next token, so callers use the line of their key instead.
int LineOf(const YAML::Node& node, int fallback) {
  if (!node.IsDefined() || node.IsNull()) return fallback;
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? fallback : mark.line + 1;
}

// For messages: "'text'", "a list", "a mapping", "nothing".
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return absl::StrCat("'", node.Scalar(), "'");
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

// Builds errors "<source>:<line>: <path>: <message>".
class Reporter {
 public:
  explicit Reporter(absl::string_view source)
      : source_(source.empty() ? "<input>" : std::string(source)) {}

  const std::string& source() const { return source_; }

  absl::Status Error(int line, absl::string_view path, absl::string_view message) const {
    if (path.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(source_, ":", line, ": ", message));
    }
    return absl::InvalidArgumentError(absl::StrCat(source_, ":", line, ": ", path, ": ", message));
  }
  absl::Status Error(const Origin& origin, absl::string_view message) const {
    return Error(origin.line, origin.path, message);
  }

  // An engine error names its field the engine's way ("optimizer.beta1: <problem>"); this names
  // the node in the file instead.
  absl::Status Relocate(const absl::Status& engine_error, const Origin& origin) const {
    absl::string_view message = engine_error.message();
    const size_t colon = message.find(": ");
    if (colon != absl::string_view::npos) message.remove_prefix(colon + 2);
    return Error(origin, message);
  }

  absl::Status TooManyJobs(int line, absl::string_view what, int64_t max_jobs) const {
    return absl::ResourceExhaustedError(
        absl::StrCat(source_, ":", line, ": ", what, ", more than max_jobs = ", max_jobs));
  }

 private:
  std::string source_;
};

int64_t SaturatingMul(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  if (a > kSaturated / b) return kSaturated;
  return a * b;
}

int64_t SaturatingAdd(int64_t a, int64_t b) { return a > kSaturated - b ? kSaturated : a + b; }

std::string FormatCount(int64_t n) {
  return n == kSaturated ? absl::StrCat("more than ", kSaturated - 1) : absl::StrCat(n);
}

// ---- values -------------------------------------------------------------------------------

struct Value {
  ParamValue value;
  Origin origin;
};

absl::StatusOr<ParamValue> TypeScalar(const Reporter& reporter, const YAML::Node& node,
                                      const Origin& origin) {
  const std::string& tag = node.Tag();
  if (tag == "?") return TypePlainScalar(node.Scalar());
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return ParamValue(node.Scalar());
  std::string shown = tag;
  if (absl::StartsWith(shown, "tag:yaml.org,2002:")) {
    shown = absl::StrCat("!!", shown.substr(std::string("tag:yaml.org,2002:").size()));
  }
  return reporter.Error(origin, absl::StrCat("unsupported tag '", shown,
                                             "'; leave the tag out, or quote the value for a "
                                             "string"));
}

// A list of ints: the value of an int_list parameter.
absl::StatusOr<ParamValue> ReadIntList(const Reporter& reporter, const YAML::Node& node,
                                       const Origin& origin) {
  std::vector<int64_t> ints;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node element = node[i];
    const Origin at{Index(origin.path, i), LineOf(element, origin.line)};
    if (!element.IsScalar()) {
      return reporter.Error(at, absl::StrCat("expected an integer, got ", Describe(element)));
    }
    OPTBENCH_ASSIGN_OR_RETURN(ParamValue typed, TypeScalar(reporter, element, at));
    const int64_t* v = std::get_if<int64_t>(&typed);
    if (v == nullptr) {
      return reporter.Error(at, absl::StrCat("expected an integer, got ", Describe(element)));
    }
    ints.push_back(*v);
  }
  return ParamValue(std::move(ints));
}

// The values that the YAML value `node` of the field at `field` stands for: one for a scalar, one
// per element for a list (a grid axis); for kIntList see sweep_file.h. An axis longer than
// `max_axis` is ResourceExhausted (it alone would exceed the job cap).
absl::StatusOr<std::vector<Value>> ReadValues(const Reporter& reporter, const YAML::Node& node,
                                              ParamType type, const Origin& field,
                                              int64_t max_axis) {
  if (!node.IsDefined() || node.IsNull()) return reporter.Error(field, "missing value");
  const Origin here{field.path, LineOf(node, field.line)};
  if (node.IsMap()) {
    return reporter.Error(here,
                          "expected a value or a list of values (a grid axis), got a mapping");
  }
  std::vector<Value> values;
  if (node.IsScalar()) {
    OPTBENCH_ASSIGN_OR_RETURN(ParamValue typed, TypeScalar(reporter, node, here));
    values.push_back({std::move(typed), here});
    return values;
  }
  const size_t n = node.size();
  if (type == ParamType::kIntList) {
    size_t lists = 0;
    for (size_t i = 0; i < n; ++i) lists += node[i].IsSequence() ? 1 : 0;
    if (lists == 0) {
      OPTBENCH_ASSIGN_OR_RETURN(ParamValue list, ReadIntList(reporter, node, here));
      values.push_back({std::move(list), here});
      return values;
    }
    if (lists != n) {
      return reporter.Error(here,
                            "mixes lists and scalars; an int_list value is a list of integers "
                            "and a grid axis of them a list of such lists");
    }
  } else if (n == 0) {
    return reporter.Error(here, "empty list; a grid axis needs at least one value");
  }
  if (static_cast<int64_t>(n) > max_axis) {
    return reporter.TooManyJobs(
        here.line, absl::StrCat(here.path, ": a grid axis of ", n, " values"), max_axis);
  }
  for (size_t i = 0; i < n; ++i) {
    const YAML::Node element = node[i];
    const Origin at{Index(here.path, i), LineOf(element, here.line)};
    if (type == ParamType::kIntList) {
      OPTBENCH_ASSIGN_OR_RETURN(ParamValue list, ReadIntList(reporter, element, at));
      values.push_back({std::move(list), at});
      continue;
    }
    if (!element.IsDefined() || element.IsNull()) return reporter.Error(at, "missing value");
    if (element.IsSequence()) {
      return reporter.Error(at,
                            "expected a value, got a list (a list is a value only for int_list "
                            "parameters)");
    }
    if (element.IsMap()) return reporter.Error(at, "expected a value, got a mapping");
    OPTBENCH_ASSIGN_OR_RETURN(ParamValue typed, TypeScalar(reporter, element, at));
    values.push_back({std::move(typed), at});
  }
  return values;
}

// ---- mappings -----------------------------------------------------------------------------

struct Entry {
  std::string key;
  int line = 1;  // Of the key.
  YAML::Node value;
};

// The entries of `map` in file order. yaml-cpp keeps duplicate keys without a word; they are
// refused here.
absl::StatusOr<std::vector<Entry>> ReadMapping(const Reporter& reporter, const YAML::Node& map,
                                               absl::string_view path) {
  std::vector<Entry> entries;
  std::map<std::string, int> seen;
  const int map_line = LineOf(map, 1);
  for (const auto& pair : map) {
    // Copies: yaml-cpp's iterators hand out temporaries, so a reference to `it->first` dangles.
    const YAML::Node key = pair.first;
    const int line = LineOf(key, map_line);
    if (!key.IsScalar()) {
      return reporter.Error(line, path, absl::StrCat("expected a plain key, got ", Describe(key)));
    }
    auto [first, inserted] = seen.emplace(key.Scalar(), line);
    if (!inserted) {
      return reporter.Error(line, Child(path, key.Scalar()),
                            absl::StrCat("duplicate key; first at line ", first->second));
    }
    entries.push_back({key.Scalar(), line, pair.second});
  }
  return entries;
}

// ---- components ---------------------------------------------------------------------------

// A field of a component alternative or of the settings: one value, or several (an axis).
struct Field {
  std::string key;
  std::vector<Value> values;
};

// One dataset, model or optimizer alternative as written.
struct Alternative {
  const ComponentSpec* spec = nullptr;
  Origin origin;              // The mapping.
  Origin name_origin;         // Its `name` value.
  std::vector<Field> fields;  // File order; `name` excluded.
};

// "{name: adam, ...}" for messages; a scalar given where the mapping belongs becomes the name.
std::string ExampleMapping(const spec::Catalog& catalog, ComponentKind kind,
                           const YAML::Node& given) {
  if (given.IsScalar()) return absl::StrCat("{name: ", given.Scalar(), "}");
  const std::vector<const ComponentSpec*> known = catalog.List(kind);
  return absl::StrCat("{name: ", known.empty() ? "..." : known.front()->name, ", ...}");
}

// Reads the values of field `entry` declared `decl`, each checked where it is written (type and
// range; rules across fields are checked per job, once defaults are filled in).
absl::StatusOr<std::vector<Value>> ReadField(const Reporter& reporter, const Entry& entry,
                                             const ParamSpec& decl, const Origin& field_origin,
                                             int64_t max_axis) {
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<Value> values,
                            ReadValues(reporter, entry.value, decl.type, field_origin, max_axis));
  for (Value& v : values) {
    auto checked = spec::CheckParamValue(decl, v.value, field_origin.path);
    if (!checked.ok()) return reporter.Relocate(checked.status(), v.origin);
    v.value = *std::move(checked);
  }
  return values;
}

absl::StatusOr<Alternative> ReadAlternative(const Reporter& reporter, const spec::Catalog& catalog,
                                            ComponentKind kind, const YAML::Node& node,
                                            const Origin& origin, int64_t max_axis) {
  const char* kind_name = spec::ComponentKindName(kind);
  if (!node.IsMap()) {
    return reporter.Error(
        origin, absl::StrCat("expected a mapping such as ", ExampleMapping(catalog, kind, node),
                             " or a list of them, got ", Describe(node)));
  }
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<Entry> entries, ReadMapping(reporter, node, origin.path));
  Alternative alt;
  alt.origin = origin;
  alt.name_origin = {Child(origin.path, "name"), origin.line};
  std::string name;
  for (const Entry& entry : entries) {
    if (entry.key != "name") continue;
    alt.name_origin.line = entry.line;
    if (entry.value.IsSequence() || entry.value.IsMap()) {
      return reporter.Error(alt.name_origin, absl::StrCat("expected one ", kind_name, " name, got ",
                                                          Describe(entry.value),
                                                          "; alternatives are a list of mappings"));
    }
    if (entry.value.IsScalar()) name = entry.value.Scalar();
  }
  // An empty name gets the engine's "missing; known ..." message.
  auto spec = catalog.Find(kind, name);
  if (!spec.ok()) return reporter.Relocate(spec.status(), alt.name_origin);
  alt.spec = *spec;

  for (const Entry& entry : entries) {
    if (entry.key == "name") continue;
    const Origin field_origin{Child(origin.path, entry.key), entry.line};
    const ParamSpec* decl = nullptr;
    std::vector<std::string> known;
    for (const ParamSpec& p : alt.spec->params) {
      if (p.name == entry.key) decl = &p;
      known.push_back(p.name);
    }
    if (decl == nullptr) {
      return reporter.Error(
          field_origin,
          absl::StrCat("unknown parameter of ", kind_name, " '", alt.spec->name, "'; known: ",
                       known.empty() ? std::string("(none)") : absl::StrJoin(known, ", ")));
    }
    OPTBENCH_ASSIGN_OR_RETURN(std::vector<Value> values,
                              ReadField(reporter, entry, *decl, field_origin, max_axis));
    alt.fields.push_back({entry.key, std::move(values)});
  }
  return alt;
}

// `path` is the file's key for the component's slot ("optimizer", "aux_optimizer"), the root of
// the field paths in messages.
absl::StatusOr<std::vector<Alternative>> ReadAlternatives(
    const Reporter& reporter, const spec::Catalog& catalog, ComponentKind kind,
    const YAML::Node& node, int key_line, int64_t max_axis, const std::string& path) {
  if (!node.IsDefined() || node.IsNull()) {
    return reporter.Error(key_line, path,
                          absl::StrCat("missing value; expected a mapping such as ",
                                       ExampleMapping(catalog, kind, node), " or a list of them"));
  }
  std::vector<Alternative> alts;
  if (!node.IsSequence()) {
    OPTBENCH_ASSIGN_OR_RETURN(
        Alternative alt,
        ReadAlternative(reporter, catalog, kind, node, {path, LineOf(node, key_line)}, max_axis));
    alts.push_back(std::move(alt));
    return alts;
  }
  if (node.size() == 0) {
    return reporter.Error(LineOf(node, key_line), path,
                          "empty list; give at least one alternative");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node element = node[i];
    const Origin origin{Index(path, i), LineOf(element, LineOf(node, key_line))};
    if (!element.IsDefined() || element.IsNull()) return reporter.Error(origin, "missing value");
    OPTBENCH_ASSIGN_OR_RETURN(Alternative alt,
                              ReadAlternative(reporter, catalog, kind, element, origin, max_axis));
    alts.push_back(std::move(alt));
  }
  return alts;
}

// The task's settings (the `trainer:` block of the train task), each a value or a grid axis.
absl::StatusOr<std::vector<Field>> ReadSettings(const Reporter& reporter,
                                                const spec::TaskSpec& task, const YAML::Node& node,
                                                const Origin& origin, int64_t max_axis) {
  std::vector<std::string> known;
  for (const ParamSpec& p : task.settings) known.push_back(p.name);
  if (!node.IsMap()) {
    const std::string example =
        task.settings.empty()
            ? std::string("{}")
            : absl::StrCat("{", task.settings[0].name, ": ",
                           spec::FormatParamValue(task.settings[0].default_value), ", ...}");
    return reporter.Error(
        origin, absl::StrCat("expected a mapping such as ", example, ", got ", Describe(node)));
  }
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<Entry> entries, ReadMapping(reporter, node, origin.path));
  std::vector<Field> fields;
  for (const Entry& entry : entries) {
    const Origin field_origin{Child(origin.path, entry.key), entry.line};
    const ParamSpec* decl = spec::FindParam(task.settings, entry.key);
    if (decl == nullptr) {
      return reporter.Error(field_origin,
                            absl::StrCat("unknown ", task.settings_key, " setting; known: ",
                                         known.empty() ? "(none)" : absl::StrJoin(known, ", ")));
    }
    OPTBENCH_ASSIGN_OR_RETURN(std::vector<Value> values,
                              ReadField(reporter, entry, *decl, field_origin, max_axis));
    fields.push_back({entry.key, std::move(values)});
  }
  return fields;
}

absl::StatusOr<std::vector<Value>> ReadSeeds(const Reporter& reporter, const YAML::Node& node,
                                             const Origin& origin, int64_t max_axis) {
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<Value> seeds,
                            ReadValues(reporter, node, ParamType::kInt, origin, max_axis));
  const std::string allowed = absl::StrCat("allowed integers in [0, ", kMaxSeed, "]");
  for (Value& seed : seeds) {
    const std::string shown = spec::FormatParamValue(seed.value);
    int64_t v = 0;
    if (const int64_t* i = std::get_if<int64_t>(&seed.value)) {
      v = *i;
    } else if (const double* d = std::get_if<double>(&seed.value)) {
      if (!std::isfinite(*d) || std::trunc(*d) != *d) {
        return reporter.Error(seed.origin, absl::StrCat(shown, " is not an integer; ", allowed));
      }
      if (*d < 0 || *d > static_cast<double>(kMaxSeed)) {
        return reporter.Error(seed.origin, absl::StrCat(shown, " is out of range; ", allowed));
      }
      v = static_cast<int64_t>(*d);
    } else {
      return reporter.Error(seed.origin,
                            absl::StrCat("expected an integer, got '", shown, "'; ", allowed));
    }
    if (v < 0 || v > kMaxSeed) {
      return reporter.Error(seed.origin, absl::StrCat(v, " is out of range; ", allowed));
    }
    seed.value = v;
  }
  return seeds;
}

// One source (spec/source.h) as a sweep file writes it: a job id, or a mapping of a sweep and
// label filters ({sweep: paper5_train, optimizer: adam}); its canonical text.
absl::StatusOr<std::string> ReadSource(const Reporter& reporter, const YAML::Node& node,
                                       const Origin& origin) {
  const Origin here{origin.path, LineOf(node, origin.line)};
  if (node.IsScalar()) {
    auto parsed = spec::ParseSource(node.Scalar());
    if (!parsed.ok()) return reporter.Relocate(parsed.status(), here);
    return spec::FormatSource(*parsed);
  }
  if (!node.IsMap()) {
    return reporter.Error(here, absl::StrCat("expected a job id or a mapping such as {sweep: "
                                             "<id or name>, <label>: <value>}, got ",
                                             Describe(node)));
  }
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<Entry> entries, ReadMapping(reporter, node, here.path));
  spec::SourceSpec source;
  for (const Entry& entry : entries) {
    const Origin at{Child(here.path, entry.key), entry.line};
    if (!entry.value.IsScalar() || entry.value.Scalar().empty()) {
      return reporter.Error(at, absl::StrCat("expected a value, got ", Describe(entry.value)));
    }
    if (entry.key == "sweep") {
      source.sweep = entry.value.Scalar();
    } else {
      source.filter.emplace_back(entry.key, entry.value.Scalar());
    }
  }
  if (source.sweep.empty()) {
    return reporter.Error(here, "a filter names its sweep: {sweep: <id or name>, ...}");
  }
  // What the coordinator will read back, checked here so that the error names the line.
  const std::string text = spec::FormatSource(source);
  auto parsed = spec::ParseSource(text);
  if (!parsed.ok()) return reporter.Relocate(parsed.status(), here);
  if (!(*parsed == source)) {
    return reporter.Error(here, absl::StrCat("cannot be written as a source text ('", text,
                                             "' reads back otherwise): a value holds ',<word>='"));
  }
  return text;
}

// The `source:` key of a task that works on another job's kept model: one source, or a list of
// them (a grid axis). Each becomes a value of the task's kSourceSetting.
absl::StatusOr<std::vector<Value>> ReadSources(const Reporter& reporter, const YAML::Node& node,
                                               const Origin& origin, int64_t max_axis) {
  if (!node.IsDefined() || node.IsNull()) {
    return reporter.Error(origin,
                          "missing value; expected a job id or {sweep: <id or name>, <label>: "
                          "<value>}");
  }
  std::vector<Value> values;
  if (!node.IsSequence()) {
    OPTBENCH_ASSIGN_OR_RETURN(std::string text, ReadSource(reporter, node, origin));
    values.push_back({ParamValue(std::move(text)), {origin.path, LineOf(node, origin.line)}});
    return values;
  }
  if (node.size() == 0) {
    return reporter.Error(origin, "empty list; a grid axis needs at least one value");
  }
  if (static_cast<int64_t>(node.size()) > max_axis) {
    return reporter.TooManyJobs(
        origin.line, absl::StrCat(origin.path, ": a grid axis of ", node.size(), " values"),
        max_axis);
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const Origin at{Index(origin.path, i), LineOf(node[i], origin.line)};
    OPTBENCH_ASSIGN_OR_RETURN(std::string text, ReadSource(reporter, node[i], at));
    values.push_back({ParamValue(std::move(text)), at});
  }
  return values;
}

// ---- expansion ----------------------------------------------------------------------------

int64_t CountSettings(const std::vector<Field>& fields) {
  int64_t n = 1;
  for (const Field& f : fields) n = SaturatingMul(n, static_cast<int64_t>(f.values.size()));
  return n;
}

int64_t CountSettings(const std::vector<Alternative>& alts) {
  int64_t n = 0;
  for (const Alternative& alt : alts) n = SaturatingAdd(n, CountSettings(alt.fields));
  return n;
}

// One concrete setting of a component or of the task's settings: a value chosen for each field.
struct Setting {
  const Alternative* alt = nullptr;  // Null for the settings.
  const std::vector<Field>* fields = nullptr;
  Origin origin;               // The alternative's mapping, or the settings'.
  std::vector<size_t> choice;  // choice[f] indexes (*fields)[f].values.
};

// Every combination of field values, the first field varying slowest.
void AppendSettings(const Alternative* alt, const std::vector<Field>& fields, const Origin& origin,
                    std::vector<Setting>& out) {
  Setting setting{alt, &fields, origin, std::vector<size_t>(fields.size(), 0)};
  while (true) {
    out.push_back(setting);
    size_t f = fields.size();
    while (f > 0) {
      --f;
      if (++setting.choice[f] < fields[f].values.size()) break;
      setting.choice[f] = 0;
      if (f == 0) return;
    }
    if (fields.empty()) return;
  }
}

std::vector<Setting> ExpandAlternatives(const std::vector<Alternative>& alts) {
  std::vector<Setting> out;
  for (const Alternative& alt : alts) AppendSettings(&alt, alt.fields, alt.origin, out);
  return out;
}

// The values a setting chose, by field.
spec::ParamMap ToParams(const Setting& s) {
  spec::ParamMap params;
  for (size_t f = 0; f < s.fields->size(); ++f) {
    const Field& field = (*s.fields)[f];
    params[field.key] = field.values[s.choice[f]].value;
  }
  return params;
}

spec::ComponentChoice ToChoice(const Setting& s) { return {s.alt->spec->name, ToParams(s)}; }

// Where the field `key` ("lr", "name", "steps") of setting `s` is written; the setting's own
// mapping when the file leaves the field to its default.
Origin FindOrigin(const Setting& s, absl::string_view key) {
  if (s.alt != nullptr && key == "name") return s.alt->name_origin;
  for (size_t f = 0; f < s.fields->size(); ++f) {
    const Field& field = (*s.fields)[f];
    if (field.key == key) return field.values[s.choice[f]].origin;
  }
  return {Child(s.origin.path, key), s.origin.line};
}

// The nodes that make two settings of one dimension differ: the later one's first.
std::pair<Origin, Origin> Difference(const Setting& later, const Setting& earlier) {
  if (later.alt != earlier.alt) return {later.origin, earlier.origin};
  for (size_t f = 0; f < later.choice.size(); ++f) {
    if (later.choice[f] != earlier.choice[f]) {
      const Field& field = (*later.fields)[f];
      return {field.values[later.choice[f]].origin, field.values[earlier.choice[f]].origin};
    }
  }
  return {later.origin, earlier.origin};
}

// One dimension of the grid: a component slot's settings, or the task's settings.
struct Dimension {
  std::string key;  // The slot name or the settings key: the root of field paths.
  std::vector<Setting> settings;
};

// Positions of one job in the settings of each dimension, and its seed.
struct Coordinates {
  std::vector<size_t> setting;
  size_t seed = 0;
};

// A spec::Catalog::Validate error for the job at `c`, naming the node in the file that gave the
// offending value. The catalog names fields "<slot or settings key>.<field>" ("optimizer.beta1").
absl::Status LocateJobError(const Reporter& reporter, const std::vector<Dimension>& dims,
                            const Coordinates& c, const absl::Status& error, int root_line) {
  const absl::string_view message = error.message();
  const absl::string_view field = message.substr(0, message.find(": "));
  const size_t dot = field.find('.');
  const absl::string_view part = field.substr(0, dot);
  if (dot != absl::string_view::npos && field.size() != message.size()) {
    for (size_t k = 0; k < dims.size(); ++k) {
      if (dims[k].key == part) {
        return reporter.Relocate(error,
                                 FindOrigin(dims[k].settings[c.setting[k]], field.substr(dot + 1)));
      }
    }
  }
  return reporter.Error(root_line, "", message);
}

// The job at `later` equals the one at `earlier`: names the first node (in expansion order) where
// their grid positions part.
absl::Status DuplicateJobError(const Reporter& reporter, const std::vector<Dimension>& dims,
                               const std::vector<Value>& seeds, const Coordinates& later,
                               const Coordinates& earlier) {
  size_t k = 0;
  while (k < dims.size() && later.setting[k] == earlier.setting[k]) ++k;
  const std::pair<Origin, Origin> where =
      k < dims.size()
          ? Difference(dims[k].settings[later.setting[k]], dims[k].settings[earlier.setting[k]])
          : std::make_pair(seeds[later.seed].origin, seeds[earlier.seed].origin);
  return reporter.Error(where.first,
                        absl::StrCat("gives the same job as ", where.second.path, " (line ",
                                     where.second.line, "); every job of a sweep must differ"));
}

// A validated spec, ordered, for finding duplicate jobs.
using JobKey =
    std::tuple<std::string, std::map<std::string, std::pair<std::string, spec::ParamMap>>,
               spec::ParamMap, uint64_t>;

JobKey KeyOf(const spec::JobSpec& s) {
  std::map<std::string, std::pair<std::string, spec::ParamMap>> components;
  for (const auto& [slot, c] : s.components)
    components.emplace(slot, std::make_pair(c.name, c.params));
  return {s.task, std::move(components), s.settings, s.seed};
}

// Counts the documents of a YAML stream, ignoring their content. yaml-cpp 0.7's LoadAll never
// returns on a stray ',' after a document ("{},"): it keeps adding null documents until memory
// runs out (jbeder/yaml-cpp#1040, fixed upstream by #1319). So documents are counted here with a
// bound and only the first is loaded.
class DocumentCounter : public YAML::EventHandler {
 public:
  // 1-based line where the second document starts (1 if there is none).
  int second_line() const { return second_line_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2 && !mark.is_null()) second_line_ = mark.line + 1;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  int documents_ = 0;
  int second_line_ = 1;
};

std::string DefaultName(absl::string_view source) {
  const size_t slash = source.find_last_of('/');
  if (slash != absl::string_view::npos) source.remove_prefix(slash + 1);
  const size_t dot = source.find_last_of('.');
  if (dot != absl::string_view::npos && dot > 0) source = source.substr(0, dot);
  return source.empty() ? "sweep" : std::string(source);
}

// "dataset, model and optimizer": the required slots of `task`, for messages.
std::string RequiredSlots(const spec::TaskSpec& task) {
  std::vector<std::string> names;
  for (const spec::SlotSpec& slot : task.slots) {
    if (slot.required) names.push_back(slot.name);
  }
  if (names.size() <= 1) return absl::StrJoin(names, "");
  return absl::StrCat(absl::StrJoin(names.begin(), names.end() - 1, ", "), " and ", names.back());
}

// "quantize": the tasks that take a `source:`, for messages.
std::string TasksTakingSources(const spec::Catalog& catalog) {
  std::vector<std::string> names;
  for (const spec::TaskSpec* task : catalog.tasks()) {
    if (!task->source_slots.empty()) names.push_back(task->name);
  }
  return names.empty() ? std::string("none is registered") : absl::StrJoin(names, ", ");
}

absl::StatusOr<std::vector<spec::JobSpec>> ExpandBody(const Reporter& reporter,
                                                      const spec::Catalog& catalog,
                                                      const std::vector<Entry>& entries,
                                                      int root_line, int64_t max_jobs,
                                                      std::string* name);

// `tags:` as a list of tags or one tag.
absl::StatusOr<std::vector<std::string>> ReadTags(const Reporter& reporter, const Entry& entry) {
  std::vector<YAML::Node> nodes;
  if (entry.value.IsSequence()) {
    for (const YAML::Node& node : entry.value) nodes.push_back(node);
  } else {
    nodes.push_back(entry.value);
  }
  if (static_cast<int>(nodes.size()) > kMaxSweepTags) {
    return reporter.Error(entry.line, "tags",
                          absl::StrCat(nodes.size(), " tags; at most ", kMaxSweepTags));
  }
  std::vector<std::string> tags;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string field = entry.value.IsSequence() ? Index("tags", i) : "tags";
    const int line = LineOf(nodes[i], entry.line);
    if (!nodes[i].IsScalar()) {
      return reporter.Error(line, field,
                            absl::StrCat("expected a tag (a word), got ", Describe(nodes[i])));
    }
    if (absl::Status s = CheckSweepTag(nodes[i].Scalar()); !s.ok()) {
      return reporter.Error(line, field, s.message());
    }
    tags.push_back(nodes[i].Scalar());
  }
  return tags;
}

absl::StatusOr<SweepFile> ParseYaml(const Reporter& reporter, const spec::Catalog& catalog,
                                    absl::string_view text, absl::string_view source_name,
                                    const ParseOptions& options) {
  const std::string yaml(text);
  {
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    DocumentCounter counter;
    int documents = 0;
    while (documents < 2 && parser.HandleNextDocument(counter)) ++documents;
    if (documents > 1) {
      return reporter.Error(counter.second_line(), "",
                            "a second YAML document (or stray text after the first); a sweep "
                            "file holds exactly one");
    }
  }
  const YAML::Node root = YAML::Load(yaml);
  const std::string default_slots = RequiredSlots(*catalog.tasks().front());
  if (!root.IsDefined() || root.IsNull()) {
    return reporter.Error(
        1, "", absl::StrCat("empty sweep file; expected a mapping with ", default_slots));
  }
  const int root_line = LineOf(root, 1);
  if (!root.IsMap()) {
    return reporter.Error(root_line, "",
                          absl::StrCat("expected a mapping with ", default_slots,
                                       " at the top level, got ", Describe(root)));
  }
  OPTBENCH_ASSIGN_OR_RETURN(std::vector<Entry> entries, ReadMapping(reporter, root, ""));
  SweepFile sweep;
  sweep.name = DefaultName(source_name);
  // The sweep's tags and note describe the sweep, not a job: read here and taken out of the
  // body (and of a sweep with parts, where they sit beside name and parts). Entries are copied,
  // never assigned: assigning a YAML::Node writes through to the node it refers to.
  {
    std::vector<Entry> body;
    for (const Entry& entry : entries) {
      if (entry.key == "tags") {
        OPTBENCH_ASSIGN_OR_RETURN(sweep.tags, ReadTags(reporter, entry));
      } else if (entry.key == "note") {
        if (!entry.value.IsScalar()) {
          return reporter.Error(entry.line, "note",
                                absl::StrCat("expected a string, got ", Describe(entry.value)));
        }
        sweep.note = entry.value.Scalar();
        if (absl::Status s = CheckSweepNote(sweep.note); !s.ok()) {
          return reporter.Error(entry.line, "note", s.message());
        }
      } else {
        body.push_back(entry);
      }
    }
    entries.swap(body);
  }
  const auto parts =
      std::find_if(entries.begin(), entries.end(), [](const Entry& e) { return e.key == "parts"; });
  std::vector<spec::JobSpec> specs;
  if (parts == entries.end()) {
    OPTBENCH_ASSIGN_OR_RETURN(
        specs, ExpandBody(reporter, catalog, entries, root_line, options.max_jobs, &sweep.name));
  } else {
    // Several tasks in one sweep: each part is a sweep body of its own (its task, slots,
    // settings and seeds); the sweep's jobs are theirs, in order.
    for (const Entry& entry : entries) {
      if (entry.key == "name") {
        if (!entry.value.IsScalar() || entry.value.Scalar().empty()) {
          return reporter.Error(
              entry.line, "name",
              absl::StrCat("expected a non-empty string, got ", Describe(entry.value)));
        }
        sweep.name = entry.value.Scalar();
      } else if (entry.key != "parts") {
        return reporter.Error(entry.line, entry.key,
                              "a sweep with parts takes only name, tags, note and parts at the "
                              "top level; write this key inside each part");
      }
    }
    if (!parts->value.IsSequence() || parts->value.size() == 0) {
      return reporter.Error(parts->line, "parts",
                            absl::StrCat("expected a list of sweep bodies (mappings with a "
                                         "task's keys), got ",
                                         Describe(parts->value)));
    }
    std::map<JobKey, size_t> part_of;
    for (size_t i = 0; i < parts->value.size(); ++i) {
      const YAML::Node part = parts->value[i];
      const int line = LineOf(part, parts->line);
      if (!part.IsMap()) {
        return reporter.Error(line, Index("parts", i),
                              absl::StrCat("expected a mapping, got ", Describe(part)));
      }
      OPTBENCH_ASSIGN_OR_RETURN(std::vector<Entry> part_entries,
                                ReadMapping(reporter, part, Index("parts", i)));
      for (const Entry& entry : part_entries) {
        if (entry.key == "name" || entry.key == "parts" || entry.key == "tags" ||
            entry.key == "note") {
          return reporter.Error(entry.line, Child(Index("parts", i), entry.key),
                                "belongs at the top level of the sweep, not in a part");
        }
      }
      const int64_t left = options.max_jobs - static_cast<int64_t>(specs.size());
      if (left < 1) {
        return reporter.TooManyJobs(line, "the parts before this one fill the sweep",
                                    options.max_jobs);
      }
      std::string unused;
      OPTBENCH_ASSIGN_OR_RETURN(std::vector<spec::JobSpec> part_specs,
                                ExpandBody(reporter, catalog, part_entries, line, left, &unused));
      for (spec::JobSpec& spec : part_specs) {
        auto [first, inserted] = part_of.emplace(KeyOf(spec), i);
        if (!inserted) {
          return reporter.Error(line, Index("parts", i),
                                absl::StrCat("repeats a job of parts[", first->second, "] (",
                                             spec.task, ", seed ", spec.seed, ")"));
        }
        specs.push_back(std::move(spec));
      }
    }
  }

  std::vector<JobLabels> labels = LabelJobs(catalog, specs);
  sweep.jobs.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    sweep.jobs.push_back({std::move(specs[i]), std::move(labels[i])});
  }
  return sweep;
}

// One sweep body (a task's keys) expanded and validated: every job of its grid. `max_jobs`
// bounds the grid; `name` receives the body's "name" when it has one.
absl::StatusOr<std::vector<spec::JobSpec>> ExpandBody(const Reporter& reporter,
                                                      const spec::Catalog& catalog,
                                                      const std::vector<Entry>& entries,
                                                      int root_line, int64_t max_jobs,
                                                      std::string* name) {
  // The task first: it says which keys the rest of the file may have.
  const spec::TaskSpec* task = catalog.tasks().front();
  for (const Entry& entry : entries) {
    if (entry.key != "task") continue;
    if (!entry.value.IsScalar() || entry.value.Scalar().empty()) {
      return reporter.Error(entry.line, "task",
                            absl::StrCat("expected a task name, got ", Describe(entry.value)));
    }
    auto found = catalog.FindTask(entry.value.Scalar());
    if (!found.ok()) return reporter.Relocate(found.status(), {"task", entry.line});
    task = *found;
  }

  const int64_t max_axis = max_jobs;
  // Components by slot: the alternatives as read (Dimension settings point into them).
  std::map<std::string, std::vector<Alternative>> alternatives;
  std::vector<Field> settings;
  Origin settings_origin{task->settings_key, root_line};
  std::vector<Value> seeds = {{ParamValue(int64_t{0}), {"seed", root_line}}};
  std::vector<std::string> known_keys = {"name", "task"};
  for (const spec::SlotSpec& slot : task->slots) known_keys.push_back(slot.name);
  known_keys.push_back(task->settings_key);
  known_keys.push_back("seed");
  const bool takes_source = !task->source_slots.empty();
  if (takes_source) known_keys.push_back(kSourceKey);
  std::optional<Field> source;
  for (const Entry& entry : entries) {
    const auto slot = std::find_if(task->slots.begin(), task->slots.end(),
                                   [&](const spec::SlotSpec& s) { return s.name == entry.key; });
    if (entry.key == "name") {
      if (!entry.value.IsScalar() || entry.value.Scalar().empty()) {
        return reporter.Error(
            entry.line, "name",
            absl::StrCat("expected a non-empty string, got ", Describe(entry.value)));
      }
      *name = entry.value.Scalar();
    } else if (entry.key == "task") {
      continue;  // Read above.
    } else if (slot != task->slots.end()) {
      OPTBENCH_ASSIGN_OR_RETURN(std::vector<Alternative> alts,
                                ReadAlternatives(reporter, catalog, slot->kind, entry.value,
                                                 entry.line, max_axis, slot->name));
      if (!slot->grid && CountSettings(alts) != 1) {
        return reporter.Error(entry.line, slot->name,
                              absl::StrCat("expected one setting (no alternatives or grid axes), "
                                           "got ",
                                           CountSettings(alts)));
      }
      alternatives[slot->name] = std::move(alts);
    } else if (entry.key == task->settings_key) {
      settings_origin.line = LineOf(entry.value, entry.line);
      if (!entry.value.IsDefined() || entry.value.IsNull()) {
        return reporter.Error(entry.line, task->settings_key, "missing value");
      }
      OPTBENCH_ASSIGN_OR_RETURN(
          settings, ReadSettings(reporter, *task, entry.value, settings_origin, max_axis));
    } else if (entry.key == "seed") {
      OPTBENCH_ASSIGN_OR_RETURN(seeds,
                                ReadSeeds(reporter, entry.value, {"seed", entry.line}, max_axis));
    } else if (entry.key == kSourceKey) {
      if (!takes_source) {
        return reporter.Error(entry.line, kSourceKey,
                              absl::StrCat("task '", task->name,
                                           "' takes no source; tasks that work on another job's "
                                           "kept model: ",
                                           TasksTakingSources(catalog)));
      }
      OPTBENCH_ASSIGN_OR_RETURN(
          std::vector<Value> values,
          ReadSources(reporter, entry.value, {kSourceKey, entry.line}, max_axis));
      source = Field{spec::kSourceSetting, std::move(values)};
    } else {
      return reporter.Error(
          entry.line, entry.key,
          absl::StrCat("unknown top-level key; known: ", absl::StrJoin(known_keys, ", ")));
    }
  }
  for (const spec::SlotSpec& slot : task->slots) {
    if (slot.required && alternatives.count(slot.name) == 0) {
      return reporter.Error(root_line, slot.name,
                            absl::StrCat("missing; a sweep needs ", RequiredSlots(*task)));
    }
  }
  if (source.has_value()) {
    // The top-level key is the setting written another way: one of the two.
    for (const Field& field : settings) {
      if (field.key == spec::kSourceSetting) {
        return reporter.Error(source->values.front().origin,
                              absl::StrCat("given twice: here and as ", task->settings_key, ".",
                                           spec::kSourceSetting));
      }
    }
    settings.push_back(*std::move(source));
  }

  // The size of the grid, before building any of it.
  std::vector<std::string> factors;
  int64_t total = 1;
  for (const spec::SlotSpec& slot : task->slots) {
    auto alts = alternatives.find(slot.name);
    if (alts == alternatives.end()) continue;
    const int64_t n = CountSettings(alts->second);
    total = SaturatingMul(total, n);
    factors.push_back(absl::StrCat(FormatCount(n), " ", slot.name));
  }
  const int64_t n_settings = CountSettings(settings);
  total = SaturatingMul(total, n_settings);
  total = SaturatingMul(total, static_cast<int64_t>(seeds.size()));
  factors.push_back(absl::StrCat(FormatCount(n_settings), " ", task->settings_key, " settings"));
  factors.push_back(absl::StrCat(seeds.size(), " seeds"));
  if (total > max_jobs) {
    return reporter.TooManyJobs(root_line,
                                absl::StrCat("the sweep expands to ", FormatCount(total), " jobs (",
                                             absl::StrJoin(factors, " x "), ")"),
                                max_jobs);
  }

  // The grid: the slots in the task's order (outermost first), then the settings; seeds inside.
  std::vector<Dimension> dims;
  for (const spec::SlotSpec& slot : task->slots) {
    auto alts = alternatives.find(slot.name);
    if (alts == alternatives.end()) continue;
    dims.push_back({slot.name, ExpandAlternatives(alts->second)});
  }
  const size_t settings_dim = dims.size();
  dims.push_back({task->settings_key, {}});
  AppendSettings(nullptr, settings, settings_origin, dims.back().settings);

  std::vector<spec::JobSpec> specs;
  std::vector<Coordinates> coordinates;
  std::map<JobKey, size_t> seen;
  specs.reserve(static_cast<size_t>(total));
  Coordinates c;
  c.setting.assign(dims.size(), 0);
  while (true) {
    for (c.seed = 0; c.seed < seeds.size(); ++c.seed) {
      spec::JobSpec spec;
      spec.task = task->name;
      for (size_t k = 0; k < settings_dim; ++k) {
        spec.components[dims[k].key] = ToChoice(dims[k].settings[c.setting[k]]);
      }
      spec.settings = ToParams(dims[settings_dim].settings[c.setting[settings_dim]]);
      spec.seed = static_cast<uint64_t>(std::get<int64_t>(seeds[c.seed].value));
      auto validated = catalog.Validate(spec);
      if (!validated.ok()) {
        return LocateJobError(reporter, dims, c, validated.status(), root_line);
      }
      auto [first, inserted] = seen.emplace(KeyOf(*validated), specs.size());
      if (!inserted) return DuplicateJobError(reporter, dims, seeds, c, coordinates[first->second]);
      specs.push_back(*std::move(validated));
      coordinates.push_back(c);
    }
    // The next grid position, the last dimension varying fastest.
    size_t k = dims.size();
    while (k > 0 && ++c.setting[k - 1] == dims[k - 1].settings.size()) c.setting[--k] = 0;
    if (k == 0) break;
  }
  return specs;
}

// Runs `parse`, turning whatever yaml-cpp throws into a status naming the line.
template <typename Fn>
auto CatchYaml(const Reporter& reporter, Fn parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const YAML::Exception& e) {
    const int line = e.mark.is_null() ? 1 : e.mark.line + 1;
    const std::string column =
        e.mark.is_null() ? std::string() : absl::StrCat(" (column ", e.mark.column + 1, ")");
    return reporter.Error(line, "", absl::StrCat("invalid YAML", column, ": ", e.msg));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat(reporter.source(), ": unexpected error reading YAML: ", e.what()));
  }
}

// Every labelable field of `s` as (label key, value text): its task, each component's name
// under its slot and each parameter as "<slot>.<param>" — bare ("lr") for the task's labelled
// slot unless that would clash with a slot name, "task", "seed" or "source" —, each setting as
// "<settings key>.<setting>", and the seed. A job that works on another job's kept model
// (TaskSpec::source_slots) is told by its source instead of what it copied from it: "source"
// (the source's job id) replaces the copied components and the source settings, and the
// source's own labels join as "source.<key>". With `aliases`, also the names a filter may use
// for the same values: "<slot>.name" for each component and "<slot>.<param>" for the labelled
// slot's bare parameters.
std::vector<std::pair<std::string, std::string>> LabelFields(const spec::Catalog& catalog,
                                                             const spec::JobSpec& s,
                                                             const JobLabels& source_labels,
                                                             bool aliases = false) {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back("task", s.task);
  const spec::TaskSpec* task = *catalog.FindTask(s.task);
  const bool from_source = !task->source_slots.empty();
  auto copied = [&](absl::string_view slot) {
    return from_source && std::find(task->source_slots.begin(), task->source_slots.end(), slot) !=
                              task->source_slots.end();
  };
  auto reserved = [&](absl::string_view key) {
    if (key == "seed" || key == "task" || key == kSourceKey) return true;
    for (const spec::SlotSpec& slot : task->slots) {
      if (slot.name == key) return true;
    }
    return false;
  };
  for (const spec::SlotSpec& slot : task->slots) {
    const spec::ComponentChoice* c = s.find_component(slot.name);
    if (c == nullptr || copied(slot.name)) continue;
    out.emplace_back(slot.name, c->name);
    if (aliases) out.emplace_back(absl::StrCat(slot.name, ".name"), c->name);
    for (const auto& [k, v] : c->params) {
      const bool bare = slot.name == task->labelled_slot && !reserved(k);
      out.emplace_back(bare ? k : absl::StrCat(slot.name, ".", k), spec::FormatParamValue(v));
      if (bare && aliases) {
        out.emplace_back(absl::StrCat(slot.name, ".", k), spec::FormatParamValue(v));
      }
    }
  }
  for (const auto& [k, v] : s.settings) {
    if (from_source && (k == spec::kSourceSetting || k == spec::kSourceSeedSetting)) continue;
    out.emplace_back(absl::StrCat(task->settings_key, ".", k), spec::FormatParamValue(v));
  }
  if (from_source) {
    auto source = s.settings.find(spec::kSourceSetting);
    out.emplace_back(kSourceKey,
                     source == s.settings.end() ? "" : spec::FormatParamValue(source->second));
    for (const auto& [k, v] : source_labels) out.emplace_back(absl::StrCat(kSourceKey, ".", k), v);
  }
  out.emplace_back("seed", absl::StrCat(s.seed));
  return out;
}

}  // namespace

spec::ParamValue TypePlainScalar(absl::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  absl::string_view body = text;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  const double sign = negative ? -1.0 : 1.0;
  for (absl::string_view inf : {".inf", ".Inf", ".INF", "inf", "Inf", "INF"}) {
    if (body == inf) return sign * std::numeric_limits<double>::infinity();
  }
  if (body == ".nan" || body == ".NaN" || body == ".NAN" || body == "nan" || body == "NaN" ||
      body == "NAN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  // [0-9]+ for an int; (.[0-9]+ | [0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)? for a double.
  size_t i = 0;
  auto digits = [&]() {
    const size_t start = i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i;
    return i - start;
  };
  const size_t int_digits = digits();
  bool is_double = false;
  if (i < body.size() && body[i] == '.') {
    ++i;
    const size_t frac_digits = digits();
    if (int_digits == 0 && frac_digits == 0) return std::string(text);
    is_double = true;
  } else if (int_digits == 0) {
    return std::string(text);
  }
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    if (digits() == 0) return std::string(text);
    is_double = true;
  }
  if (i != body.size()) return std::string(text);
  if (!is_double) {
    int64_t v;
    // SimpleAtoi takes the sign itself; an int64 overflow falls through to a double.
    if (absl::SimpleAtoi(text, &v)) return v;
  }
  double v = 0;
  const absl::from_chars_result r = absl::from_chars(body.data(), body.data() + body.size(), v);
  if (r.ec == std::errc::result_out_of_range) {
    // from_chars gives the largest finite value on overflow and 0 (or tiny) on underflow.
    v = std::fabs(v) > 1.0 ? std::numeric_limits<double>::infinity() : 0.0;
  }
  return sign * v;
}

absl::StatusOr<std::vector<spec::ParamValue>> ParseParamValues(absl::string_view yaml,
                                                               spec::ParamType type) {
  const Reporter reporter("<input>");
  return CatchYaml(reporter, [&]() -> absl::StatusOr<std::vector<spec::ParamValue>> {
    const YAML::Node node = YAML::Load(std::string(yaml));
    OPTBENCH_ASSIGN_OR_RETURN(
        std::vector<Value> values,
        ReadValues(reporter, node, type, {"value", 1}, std::numeric_limits<int64_t>::max()));
    std::vector<spec::ParamValue> out;
    for (Value& v : values) out.push_back(std::move(v.value));
    return out;
  });
}

absl::StatusOr<SweepFile> ParseSweep(absl::string_view text, absl::string_view source_name,
                                     const spec::Catalog& catalog, const ParseOptions& options) {
  const Reporter reporter(source_name);
  return CatchYaml(reporter,
                   [&]() { return ParseYaml(reporter, catalog, text, source_name, options); });
}

std::vector<JobLabels> LabelJobs(const spec::Catalog& catalog,
                                 const std::vector<spec::JobSpec>& specs,
                                 const std::vector<JobLabels>& source_labels) {
  std::vector<std::vector<std::pair<std::string, std::string>>> fields;
  fields.reserve(specs.size());
  std::map<std::string, std::set<std::string>> values;
  for (size_t i = 0; i < specs.size(); ++i) {
    fields.push_back(
        LabelFields(catalog, specs[i], i < source_labels.size() ? source_labels[i] : JobLabels()));
    for (const auto& [key, value] : fields.back()) values[key].insert(value);
  }
  std::vector<JobLabels> labels(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& always = (*catalog.FindTask(specs[i].task))->labelled_slot;
    for (const auto& [key, value] : fields[i]) {
      // A field that only some jobs have (beta1 of adam) varies only if it takes two values.
      if (key == always || key == "seed" || key == kSourceKey || values[key].size() > 1) {
        labels[i].emplace(key, value);
      }
    }
  }
  return labels;
}

JobLabels JobFields(const spec::Catalog& catalog, const spec::JobSpec& spec) {
  JobLabels out;
  for (auto& [key, value] : LabelFields(catalog, spec, {}, /*aliases=*/true)) {
    out.emplace(std::move(key), std::move(value));
  }
  return out;
}

std::string FormatLabels(const JobLabels& labels) {
  std::vector<std::string> parts;
  auto optimizer = labels.find("optimizer");
  if (optimizer != labels.end()) parts.push_back(absl::StrCat("optimizer=", optimizer->second));
  for (const auto& [key, value] : labels) {
    if (key != "optimizer" && key != "seed") parts.push_back(absl::StrCat(key, "=", value));
  }
  auto seed = labels.find("seed");
  if (seed != labels.end()) parts.push_back(absl::StrCat("seed=", seed->second));
  return absl::StrJoin(parts, " ");
}

absl::Status CheckSweepTag(absl::string_view tag) {
  constexpr size_t kMaxLength = 64;
  const bool allowed =
      !tag.empty() && tag.size() <= kMaxLength && std::all_of(tag.begin(), tag.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
               absl::string_view("_.:+=/-").find(c) != absl::string_view::npos;
      });
  if (allowed) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("tag '", absl::CEscape(tag), "' is not 1..", kMaxLength,
                   " characters of letters, digits and _ . : + = / -"));
}

absl::Status CheckSweepNote(absl::string_view note) {
  constexpr size_t kMaxBytes = 4096;
  if (note.size() <= kMaxBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("note has ", note.size(), " bytes; at most ", kMaxBytes));
}

}  // namespace optbench::sweep
