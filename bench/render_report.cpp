// Renders compress's report.html again from its summary.json (after a change to the report's
// layout; the figures steps wrote under DIR/steps/ are inlined as before).
// Usage: render_report DIR   (reads DIR/summary.json, writes DIR/report.html)
#include <cstdio>
#include <exception>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "nncompress/core/files.hpp"
#include "nncompress/report/compress_report.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: render_report DIR\n");
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    const auto summary = nlohmann::json::parse(nnc::read_file_text(dir / "summary.json"));
    nnc::write_file_atomic(dir / "report.html", nnc::report::compress_report_html(summary, dir));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "render_report: %s\n", e.what());
    return 1;
  }
  return 0;
}
