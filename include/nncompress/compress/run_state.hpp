#pragma once
// Run state: what a long step saves while it runs so that the same command, rerun after a crash
// or `kill -9`, resumes where it was and ends with the same result as an uninterrupted run
// (docs/robustness.md, "Crash safety and resume"). Share keeps a journal of its evaluations,
// fine-tuning a checkpoint at each epoch end. The files are named by a hash of everything the
// step's result depends on, so another model, data set, option or seed never resumes from them.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nnc::compress {

class CompressedModel;
class Context;

// $NNC_RUN_STATE_DIR when set ("off": none), else <cache folder>/runs with the cache folder of
// Context::cache_dir or the default ($NNC_CACHE_DIR, $XDG_CACHE_HOME/nncompress,
// ~/.cache/nncompress); none when context.use_cache is false.
std::optional<std::filesystem::path> run_state_dir(const Context& context);

// Hash of the step's name and options (`report_dir` left out: where reports go does not change
// the result), the model (graph, weights, masks, codebooks, assignments; with `with_original`
// the original too, e.g. a distillation teacher), every data split, the batch and the seed.
std::string run_key(std::string_view step, nlohmann::json options, const CompressedModel& model,
                    const Context& context, bool with_original = false);

// `<run_state_dir>/<step>-<key><extension>`, registered in the context so that the caller
// removes it once the outputs are written (Context::run_state); none when run state is off.
std::optional<std::filesystem::path> run_state_file(Context& context, std::string_view step,
                                                    const std::string& key, std::string_view extension);

// Removes the registered run state (after the outputs are written).
void remove_run_state(Context& context);

}  // namespace nnc::compress
