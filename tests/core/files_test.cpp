#include <gtest/gtest.h>

#include <filesystem>

#include "nncompress/core/error.hpp"
#include "nncompress/core/files.hpp"

namespace fs = std::filesystem;

TEST(Files, AtomicWriteRoundTripsAndLeavesNoTemporaries) {
  fs::path dir = fs::temp_directory_path() / "nnc_files_test";
  fs::remove_all(dir);
  nnc::write_file_atomic(dir / "a.bin", std::string_view("hello"));
  EXPECT_EQ(nnc::read_file_text(dir / "a.bin"), "hello");
  nnc::write_file_atomic(dir / "a.bin", std::string_view("bye"));
  EXPECT_EQ(nnc::read_file_text(dir / "a.bin"), "bye");
  int files = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(Files, MissingFileNamesThePath) {
  try {
    nnc::read_file_bytes("/nonexistent/x.onnx");
    FAIL();
  } catch (const nnc::Error& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/x.onnx: no such file");
  }
}

TEST(Files, RefusesToOverwriteProtectedInput) {
  fs::path p = fs::temp_directory_path() / "nnc_protect.bin";
  nnc::write_file_atomic(p, std::string_view("model"));
  EXPECT_THROW(nnc::write_file_atomic(p, std::string_view("x"), p), nnc::Error);
  EXPECT_EQ(nnc::read_file_text(p), "model");
  fs::remove(p);
}
