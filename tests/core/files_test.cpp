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

// A write removes the temporary files that earlier writes to the same path left when their
// process died mid-write (its id names no running process), and keeps those of running ones.
TEST(Files, AtomicWriteRemovesTemporariesOfDeadWriters) {
  fs::path dir = fs::temp_directory_path() / "nnc_files_stale_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Process ids stay below 2^22 on Linux: 999999999 runs nowhere.
  for (const char* name : {".a.bin.tmp999999999-12", ".a.bin.tmp1-5", ".b.bin.tmp999999999-7", ".a.bin.tmpx-1"})
    nnc::write_file_atomic(dir / "seed", std::string_view("x")), fs::copy_file(dir / "seed", dir / name);
  nnc::write_file_atomic(dir / "a.bin", std::string_view("hello"));
  EXPECT_FALSE(fs::exists(dir / ".a.bin.tmp999999999-12")) << "a dead writer's temporary file";
  EXPECT_TRUE(fs::exists(dir / ".a.bin.tmp1-5")) << "process 1 (init) runs";
  EXPECT_TRUE(fs::exists(dir / ".b.bin.tmp999999999-7")) << "another path's";
  EXPECT_TRUE(fs::exists(dir / ".a.bin.tmpx-1")) << "not a name this writer makes";
  EXPECT_EQ(nnc::read_file_text(dir / "a.bin"), "hello");
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
