#pragma once
// Merging adjacent codebook entries after the search.
//   iterative_merge: the published walk: try each entry with its right and left neighbour, keep
//     a merge if the rule holds, repeat until a pass merges nothing (one evaluation per trial).
//   rd_merge: merges ordered by a rate-distortion proxy: each adjacent pair costs the increase
//     in squared weight error it causes and saves index bits (entropy); the cheapest pairs per
//     bit are merged in batches whose size is halved when a batch breaks the rule, so a few
//     dozen evaluations do what the walk needs hundreds for.
#include "nncompress/compress/share/search.hpp"

namespace nnc::share {

enum class MergeRule {
  kPaper,    // keep a merge if f1 is not worse than the current solution's
  kMaxDrop,  // keep a merge if validation top-1 stays >= min_top1
};

struct MergeResult {
  Codebook codebook;
  Candidate before, after;
  int tried = 0, accepted = 0, passes = 0;
  bool interrupted = false;
};

MergeResult iterative_merge(ShareContext& ctx, const Codebook& start, MergeRule rule, double min_top1,
                            int max_evaluations);

MergeResult rd_merge(ShareContext& ctx, const Codebook& start, MergeRule rule, double min_top1, int max_evaluations);

}  // namespace nnc::share
