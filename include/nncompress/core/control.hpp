#pragma once
// What every long piece of library work is handed: when to stop and where to report.
#include <string_view>

#include "nncompress/core/reporter.hpp"
#include "nncompress/core/stop_token.hpp"

namespace nnc {

struct Control {
  StopToken stop;
  Reporter* reporter = nullptr;  // null: silent

  bool stop_requested() const { return stop.stop_requested(); }
  void note(std::string_view line) const {
    if (reporter) reporter->note(line);
  }
  Progress progress(std::string what, long total) const { return Progress(reporter, std::move(what), total); }
};

}  // namespace nnc
