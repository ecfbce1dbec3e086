// Save/restore streams: named sections with versions, named fields, one file format.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace hvsim {

/// Writes a checkpoint. Each stateful object writes one section:
///   w.begin_section("cpu0", 1); w.u64("rip", rip); ... w.end_section();
/// Field names are stored and checked on read, so a mismatch is reported by name.
///
/// File format (little-endian): the magic "HVSIMCKP", u32 format version (1), then one
/// zstd frame holding the section stream. Section: name (u16 length + bytes), u32
/// version, u64 payload length, payload. Field in a payload: name (u16 length + bytes),
/// u8 type tag (1 u64, 2 u32, 3 u8, 4 bool, 5 str, 6 bytes), value (fixed width, or a
/// u64 length and the bytes for str and bytes). Misuse (a field outside a section, a
/// section left open, a name longer than 65535 bytes) throws InternalError.
class StateWriter {
 public:
  void begin_section(std::string_view name, uint32_t version);
  void end_section();
  void u64(std::string_view field, uint64_t v);
  void u32(std::string_view field, uint32_t v);
  void u8(std::string_view field, uint8_t v);
  void boolean(std::string_view field, bool v);
  void str(std::string_view field, std::string_view v);
  void bytes(std::string_view field, const void* data, size_t size);
  /// The encoded checkpoint (magic, format version, zstd-compressed sections).
  std::vector<uint8_t> finish() const;
  /// Writes finish() to `path` atomically (temporary file, fsync, rename): an existing
  /// file is either kept whole or replaced whole. Throws InputError naming the path.
  void write_file(const std::string& path) const;

 private:
  void begin_field(std::string_view field, uint8_t type);
  void put(const void* data, size_t size);
  std::vector<uint8_t> buf_;  // uncompressed section stream
  size_t open_section_ = SIZE_MAX;
};

/// Reads a checkpoint written by StateWriter. Every inconsistency (bad magic, truncation,
/// unknown format version, missing section, field name or type mismatch, a section not
/// fully consumed) throws InputError naming the source, the section and the field.
class StateReader {
 public:
  StateReader(std::vector<uint8_t> encoded, std::string source);
  static StateReader read_file(const std::string& path);
  bool has_section(std::string_view name) const;
  /// Opens a section; returns its version. Throws if absent.
  uint32_t begin_section(std::string_view name);
  /// Closes the open section; throws InputError if it holds unread fields.
  void end_section();
  uint64_t u64(std::string_view field);
  uint32_t u32(std::string_view field);
  uint8_t u8(std::string_view field);
  bool boolean(std::string_view field);
  std::string str(std::string_view field);
  std::vector<uint8_t> bytes(std::string_view field);
  /// Reads a byte field of exactly `size` bytes into `out`.
  void bytes_into(std::string_view field, void* out, size_t size);

 private:
  struct Section {
    uint32_t version;
    size_t begin, end;
  };
  void decompress(const std::vector<uint8_t>& encoded);
  void index_sections();
  void begin_field(std::string_view field, uint8_t type);
  const uint8_t* take(std::string_view field, size_t size);
  uint64_t take_length(std::string_view field);
  [[noreturn]] void fail_field(std::string_view field, const std::string& what) const;
  std::string source_;
  std::vector<uint8_t> data_;  // decompressed section stream
  std::map<std::string, Section, std::less<>> sections_;
  std::string current_;
  size_t pos_ = 0, end_ = 0;
};

}  // namespace hvsim
