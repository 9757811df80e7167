#pragma once
// NPZ archives (numpy.savez / numpy.savez_compressed): a zip file with one NPY file per array, each
// member stored or deflated. The zip structure is read with zlib alone: the central directory
// (zip64 sizes and offsets included), each member's local header, its CRC-32. Encrypted members,
// other compression methods and multi-disk archives are refused.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace nnc::data {

class NpzFile {
 public:
  // Reads the file and its central directory; every declared size and offset is checked against the
  // bytes present.
  explicit NpzFile(const std::filesystem::path& path);

  // The arrays' names as numpy gives them (a member "train_x.npy" is the array "train_x").
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  // One array (an nnc::Error naming the archive and the member when it is missing or corrupt).
  at::Tensor read(const std::string& name) const;

 private:
  struct Member {
    std::string name;  // array name (".npy" removed)
    uint16_t method = 0;
    uint32_t crc = 0;
    uint64_t compressed = 0, size = 0, data_offset = 0;
  };
  std::string path_;
  std::vector<uint8_t> bytes_;
  std::vector<Member> members_;
};

}  // namespace nnc::data
