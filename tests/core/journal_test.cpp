#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "nncompress/core/files.hpp"
#include "nncompress/core/hash.hpp"
#include "nncompress/core/journal.hpp"

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const char* name) {
  auto dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST(Journal, RecordsSurviveReopening) {
  const auto path = fresh_dir("nnc_journal_reopen") / "sub" / "run.journal";
  {
    nnc::Journal j(path, "header v1");
    EXPECT_TRUE(j.records().empty());
    j.append(std::string_view("first"));
    j.append(std::string_view(""));
    j.append(std::string(1000, 'x'));
  }
  nnc::Journal j(path, "header v1");
  ASSERT_EQ(j.records().size(), 3u);
  EXPECT_EQ(j.records()[0], "first");
  EXPECT_EQ(j.records()[1], "");
  EXPECT_EQ(j.records()[2], std::string(1000, 'x'));
}

TEST(Journal, TornLastRecordIsIgnoredAndCutOff) {
  const auto path = fresh_dir("nnc_journal_torn") / "run.journal";
  {
    nnc::Journal j(path, "h");
    j.append(std::string_view("one"));
    j.append(std::string_view("two"));
  }
  const auto whole = fs::file_size(path);
  // A killed writer: every proper prefix of the last record's frame and payload.
  for (std::uintmax_t cut = 1; cut < 12 + 3; ++cut) {
    fs::resize_file(path, whole - cut);
    nnc::Journal j(path, "h");
    ASSERT_EQ(j.records().size(), 1u) << "cut " << cut;
    EXPECT_EQ(j.records()[0], "one");
    j.append(std::string_view("two"));  // appends continue after the last whole record
  }
  EXPECT_EQ(fs::file_size(path), whole);
  // A damaged byte inside a record ends the journal there.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(whole - 1));
    f.put('X');
  }
  nnc::Journal j(path, "h");
  ASSERT_EQ(j.records().size(), 1u);
  EXPECT_EQ(j.records()[0], "one");
}

TEST(Journal, AnotherHeaderStartsAfresh) {
  const auto path = fresh_dir("nnc_journal_header") / "run.journal";
  {
    nnc::Journal j(path, "run A");
    j.append(std::string_view("a"));
  }
  {
    nnc::Journal j(path, "run B");
    EXPECT_TRUE(j.records().empty());
    j.append(std::string_view("b"));
  }
  nnc::Journal j(path, "run B");
  ASSERT_EQ(j.records().size(), 1u);
  EXPECT_EQ(j.records()[0], "b");
}

TEST(Journal, TruncateDropsLaterRecordsOnDisk) {
  const auto path = fresh_dir("nnc_journal_truncate") / "run.journal";
  {
    nnc::Journal j(path, "h");
    for (const char* r : {"r0", "r1", "r2", "r3"}) j.append(std::string_view(r));
    j.truncate(2);
    EXPECT_EQ(j.records().size(), 2u);
    j.append(std::string_view("new"));
  }
  nnc::Journal j(path, "h");
  ASSERT_EQ(j.records().size(), 3u);
  EXPECT_EQ(j.records()[1], "r1");
  EXPECT_EQ(j.records()[2], "new");
}

TEST(Journal, RecordFieldsRoundTrip) {
  nnc::RecordWriter w;
  w.put(int32_t{-7}).put(0.1).put_bytes("abc");
  nnc::RecordReader r(w.bytes());
  int32_t i = 0;
  double d = 0;
  std::string s;
  EXPECT_TRUE(r.get(i) && r.get(d) && r.get_bytes(s));
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(i, -7);
  EXPECT_EQ(d, 0.1);
  EXPECT_EQ(s, "abc");
  double past_end = 0;
  EXPECT_FALSE(r.get(past_end));
  EXPECT_FALSE(r.ok());
}

TEST(Hash64, SameBytesSameKeyAndEveryByteCounts) {
  auto key = [](std::string_view s) {
    nnc::Hash64 h;
    h.str(s);
    return h.digest();
  };
  EXPECT_EQ(key("model bytes"), key("model bytes"));
  EXPECT_NE(key("model bytes"), key("model byteS"));
  EXPECT_NE(key("abcdefgh1"), key("abcdefgh2"));  // the tail after the 8-byte words
  nnc::Hash64 a, b;
  a.str("ab");
  a.str("c");
  b.str("a");
  b.str("bc");
  EXPECT_NE(a.digest(), b.digest());
  EXPECT_EQ(nnc::Hash64().hex().size(), 16u);
}
