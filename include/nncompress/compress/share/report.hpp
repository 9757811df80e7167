#pragma once
// Weight-sharing reports: the Pareto front as JSON/CSV and an SVG plot of the front before
// and after the merge.
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "nncompress/compress/share/search.hpp"

namespace nnc::share {

nlohmann::json candidate_json(const Candidate& c);
void write_front_files(const std::filesystem::path& dir, const std::vector<Candidate>& front,
                       const std::vector<Candidate>& evaluated, const Candidate& chosen, const Candidate& merged,
                       double original_val_top1);

}  // namespace nnc::share
