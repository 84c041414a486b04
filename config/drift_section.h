#pragma once

#include "config/sections.h"
#include "config/yaml_field.h"
#include "core/model_spec.h"

// The drift parts of a config: a model's `drift:` section (reference, min_samples, detectors)
// and the top-level `state_dir:`. docs/drift.md describes every field. Config time only; not
// thread-safe (a Diagnostics is per parse).

namespace modelwatch::config {

// Reads a model's `drift:` into spec.drift. Runs after the model's classes, score_bins and
// features are read, because a reference file is checked against them and supplies the edges of
// features that have none. A relative reference file path is taken from the directory of the
// config file (diagnostics.source()). Errors: unknown keys, no or several reference kinds, a
// reference file that cannot be read or parsed, a reference signal the model does not have or
// whose bins differ from the model's, a feature left without edges, bad detector options.
void ReadDriftSection(const Field& field, core::ModelSpec& spec, Diagnostics& diagnostics);

// `state_dir:` the directory captured drift references are saved in and reloaded from; applies
// to every model (declared or learned). Relative to the config file's directory. Runs after
// `models`.
void ParseStateDirSection(const Field& section, ConfigDraft& draft, Diagnostics& diagnostics);

}  // namespace modelwatch::config
