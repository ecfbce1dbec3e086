// Tests of the checkpoint format: round trip and every error path.
#include "core/state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/test_support.h"

namespace hvsim {
namespace {

using testing::expect_input_error;

std::vector<uint8_t> sample() {
  StateWriter w;
  w.begin_section("cpu0", 3);
  w.u64("rip", 0xFFFFFFFF81000000ull);
  w.u32("eflags", 0x202);
  w.u8("cpl", 3);
  w.boolean("halted", true);
  w.str("name", "boot cpu");
  const uint8_t blob[5] = {1, 2, 3, 4, 5};
  w.bytes("fpu", blob, sizeof blob);
  w.end_section();
  w.begin_section("uart", 1);
  w.str("empty", "");
  w.bytes("none", nullptr, 0);
  w.end_section();
  return w.finish();
}

// The bytes of a checkpoint whose compressed payload is `stream` (a raw section stream).
std::vector<uint8_t> with_stream(const std::vector<uint8_t>& stream) {
  std::vector<uint8_t> out = {'H', 'V', 'S', 'I', 'M', 'C', 'K', 'P', 1, 0, 0, 0};
  std::vector<uint8_t> z(ZSTD_compressBound(stream.size()));
  size_t n = ZSTD_compress(z.data(), z.size(), stream.data(), stream.size(), 3);
  out.insert(out.end(), z.begin(), z.begin() + n);
  return out;
}

TEST(State, RoundTrip) {
  StateReader r(sample(), "x.ckpt");
  EXPECT_TRUE(r.has_section("cpu0"));
  EXPECT_FALSE(r.has_section("cpu1"));
  // Sections may be read in any order.
  EXPECT_EQ(r.begin_section("uart"), 1u);
  EXPECT_EQ(r.str("empty"), "");
  EXPECT_TRUE(r.bytes("none").empty());
  r.end_section();
  EXPECT_EQ(r.begin_section("cpu0"), 3u);
  EXPECT_EQ(r.u64("rip"), 0xFFFFFFFF81000000ull);
  EXPECT_EQ(r.u32("eflags"), 0x202u);
  EXPECT_EQ(r.u8("cpl"), 3);
  EXPECT_TRUE(r.boolean("halted"));
  EXPECT_EQ(r.str("name"), "boot cpu");
  uint8_t blob[5];
  r.bytes_into("fpu", blob, sizeof blob);
  EXPECT_EQ(blob[4], 5);
  r.end_section();
  // A section can be read again.
  EXPECT_EQ(r.begin_section("cpu0"), 3u);
  EXPECT_EQ(r.u64("rip"), 0xFFFFFFFF81000000ull);
}

TEST(State, EncodingIsDeterministicAndStartsWithMagic) {
  std::vector<uint8_t> a = sample(), b = sample();
  EXPECT_EQ(a, b);
  ASSERT_GE(a.size(), 12u);
  EXPECT_EQ(std::memcmp(a.data(), "HVSIMCKP\x01\x00\x00\x00", 12), 0);
}

TEST(State, BadMagic) {
  expect_input_error([] { StateReader({}, "x.ckpt"); },
                     "'x.ckpt' is not an hvsim checkpoint (bad magic)");
  expect_input_error(
      [] {
        StateReader({'P', 'K', '\x03', '\x04', 0, 0, 0, 0, 0, 0, 0, 0}, "x.ckpt");
      },
      "'x.ckpt' is not an hvsim checkpoint (bad magic)");
}

TEST(State, TruncatedHeader) {
  std::vector<uint8_t> d = sample();
  d.resize(10);
  expect_input_error([&] { StateReader(d, "x.ckpt"); },
                     "checkpoint 'x.ckpt' is truncated at offset 10");
  d.resize(12);
  expect_input_error([&] { StateReader(d, "x.ckpt"); },
                     "checkpoint 'x.ckpt' is truncated at offset 12");
}

TEST(State, TruncatedCompressedData) {
  std::vector<uint8_t> d = sample();
  for (size_t cut = 1; cut < d.size() - 12; ++cut) {
    std::vector<uint8_t> t(d.begin(), d.end() - static_cast<long>(cut));
    EXPECT_THROW(StateReader(t, "x.ckpt"), InputError) << "cut " << cut;
  }
  d.pop_back();
  expect_input_error([&] { StateReader(d, "x.ckpt"); },
                     "checkpoint 'x.ckpt' is truncated at offset");
}

TEST(State, UnknownFormatVersion) {
  std::vector<uint8_t> d = sample();
  d[8] = 2;
  expect_input_error([&] { StateReader(d, "x.ckpt"); }, "has format version 2");
}

TEST(State, GarbageCompressedData) {
  std::vector<uint8_t> d = {'H', 'V', 'S', 'I', 'M', 'C', 'K', 'P', 1, 0, 0, 0};
  for (int i = 0; i < 100; ++i) d.push_back(static_cast<uint8_t>(i * 37 + 11));
  expect_input_error([&] { StateReader(d, "x.ckpt"); }, "checkpoint 'x.ckpt' is corrupt");
  // Frame headers (magic, single-segment descriptor, 8-byte content size) that declare
  // huge sizes: over the limit, or under it but followed by one 4-byte raw block. Both
  // are rejected without allocating the declared size.
  auto frame = [](uint64_t declared) {
    std::vector<uint8_t> v = {'H', 'V', 'S', 'I',  'M',  'C',  'K',  'P', 1,
                              0,   0,   0,   0x28, 0xB5, 0x2F, 0xFD, 0xE0};
    for (int i = 0; i < 8; ++i) v.push_back(static_cast<uint8_t>(declared >> (8 * i)));
    return v;
  };
  expect_input_error([&] { StateReader(frame(uint64_t{1} << 40), "x.ckpt"); },
                     "more than the 64 GiB limit");
  std::vector<uint8_t> e = frame(uint64_t{1} << 35);
  e.insert(e.end(), {0x21, 0x00, 0x00, 'a', 'b', 'c', 'd'});
  EXPECT_THROW(StateReader(e, "x.ckpt"), InputError);
  std::vector<uint8_t> big(1 << 16, 7);
  std::vector<uint8_t> cut = with_stream(big);
  cut.resize(12 + 6);
  EXPECT_THROW(StateReader(cut, "x.ckpt"), InputError);
  // Bytes after the frame.
  std::vector<uint8_t> f = sample();
  f.push_back(0);
  expect_input_error([&] { StateReader(f, "x.ckpt"); }, "unexpected bytes at offset");
}

TEST(State, CorruptSectionStream) {
  // A section header that claims more payload than there is.
  std::vector<uint8_t> s = {3, 0, 'c', 'p', 'u', 1, 0, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 1, 2};
  expect_input_error([&] { StateReader(with_stream(s), "x.ckpt"); },
                     "checkpoint 'x.ckpt' is truncated at offset 19");
  // Duplicate sections.
  std::vector<uint8_t> dup = {1, 0, 'a', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> twice = dup;
  twice.insert(twice.end(), dup.begin(), dup.end());
  expect_input_error([&] { StateReader(with_stream(twice), "x.ckpt"); }, "section 'a' twice");
  // A field whose length runs past its section.
  StateWriter w;
  w.begin_section("s", 1);
  w.str("text", "hello");
  w.end_section();
  StateReader ok(w.finish(), "x.ckpt");  // sanity
  std::vector<uint8_t> f = {1, 0,   's', 1, 0, 0, 0, 16, 0, 0, 0, 0,   0,   0,   0,  1,
                            0, 't', 5,   9, 0, 0, 0, 0,  0, 0, 0, 'a', 'b', 'c', 'd'};
  StateReader r(with_stream(f), "x.ckpt");
  r.begin_section("s");
  expect_input_error(
      [&] { r.str("t"); },
      "checkpoint 'x.ckpt': section 's': field 't' declares 9 bytes but only 4 remain");
}

TEST(State, WrongFieldName) {
  StateReader r(sample(), "x.ckpt");
  r.begin_section("cpu0");
  expect_input_error([&] { r.u64("rsp"); },
                     "checkpoint 'x.ckpt': section 'cpu0': expected field 'rsp' but found 'rip'");
}

TEST(State, WrongFieldType) {
  StateReader r(sample(), "x.ckpt");
  r.begin_section("cpu0");
  expect_input_error([&] { r.u32("rip"); },
                     "checkpoint 'x.ckpt': section 'cpu0': field 'rip' has type u64, expected u32");
  StateReader r2(sample(), "x.ckpt");
  r2.begin_section("cpu0");
  r2.u64("rip");
  r2.u32("eflags");
  r2.u8("cpl");
  expect_input_error([&] { r2.u8("halted"); }, "field 'halted' has type bool, expected u8");
}

TEST(State, ReadingPastTheSectionEnd) {
  StateReader r(sample(), "x.ckpt");
  r.begin_section("uart");
  r.str("empty");
  r.bytes("none");
  expect_input_error([&] { r.u64("more"); },
                     "section 'uart': expected field 'more' but the section ends");
}

TEST(State, MissingSection) {
  StateReader r(sample(), "x.ckpt");
  expect_input_error([&] { r.begin_section("pic"); }, "checkpoint 'x.ckpt' has no section 'pic'");
}

TEST(State, UnreadBytes) {
  StateReader r(sample(), "x.ckpt");
  r.begin_section("cpu0");
  r.u64("rip");
  expect_input_error(
      [&] { r.end_section(); },
      "checkpoint 'x.ckpt': section 'cpu0' has 72 unread bytes (next field 'eflags')");
}

TEST(State, BytesIntoWrongSize) {
  StateReader r(sample(), "x.ckpt");
  r.begin_section("cpu0");
  r.u64("rip");
  r.u32("eflags");
  r.u8("cpl");
  r.boolean("halted");
  r.str("name");
  uint8_t buf[4];
  expect_input_error([&] { r.bytes_into("fpu", buf, sizeof buf); },
                     "field 'fpu' has 5 bytes, expected 4");
}

TEST(State, InvalidBoolean) {
  std::vector<uint8_t> s = {1, 0, 's', 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 'b', 4, 7};
  StateReader r(with_stream(s), "x.ckpt");
  r.begin_section("s");
  expect_input_error([&] { r.boolean("b"); }, "field 'b' holds 7, not a boolean");
}

TEST(State, WriterMisuseIsInternalError) {
  StateWriter w;
  EXPECT_THROW(w.u64("x", 1), InternalError);
  EXPECT_THROW(w.end_section(), InternalError);
  w.begin_section("a", 1);
  EXPECT_THROW(w.begin_section("b", 1), InternalError);
  EXPECT_THROW(w.finish(), InternalError);
  EXPECT_THROW(w.u64(std::string(70000, 'n'), 1), InternalError);
}

TEST(State, ReaderMisuseIsInternalError) {
  StateReader r(sample(), "x.ckpt");
  EXPECT_THROW(r.u64("rip"), InternalError);
  EXPECT_THROW(r.end_section(), InternalError);
  r.begin_section("cpu0");
  EXPECT_THROW(r.begin_section("uart"), InternalError);
}

TEST(State, EmptyCheckpoint) {
  StateReader r(StateWriter().finish(), "e.ckpt");
  EXPECT_FALSE(r.has_section("anything"));
}

TEST(State, FileRoundTrip) {
  testing::TempDir dir;
  std::string path = dir.file("m.ckpt");
  StateWriter w;
  w.begin_section("mem", 1);
  std::vector<uint8_t> big(1 << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * i >> 7);
  w.bytes("ram", big.data(), big.size());
  w.end_section();
  w.write_file(path);
  StateReader r = StateReader::read_file(path);
  r.begin_section("mem");
  EXPECT_EQ(r.bytes("ram"), big);
  r.end_section();
  // No temporary file is left behind.
  int files = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(State, ReadFileErrorsNameThePath) {
  testing::TempDir dir;
  std::string missing = dir.file("missing.ckpt");
  expect_input_error([&] { StateReader::read_file(missing); },
                     "cannot read checkpoint '" + missing + "'");
  expect_input_error([&] { StateReader::read_file(dir.path()); },
                     "cannot read checkpoint '" + dir.path() + "'");
  std::string junk = dir.file("junk.ckpt");
  testing::write_bytes(junk, {'n', 'o', 'p', 'e'});
  expect_input_error([&] { StateReader::read_file(junk); },
                     "'" + junk + "' is not an hvsim checkpoint (bad magic)");
}

TEST(State, FailedWriteKeepsTheOriginal) {
  testing::TempDir dir;
  std::string path = dir.file("keep.ckpt");
  std::vector<uint8_t> original = sample();
  StateWriter().write_file(path);  // replaced whole below
  testing::write_bytes(path, original);

  StateWriter w;
  w.begin_section("other", 1);
  w.end_section();
  // The temporary file cannot be created (its name is taken by a directory).
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::filesystem::create_directory(tmp);
  expect_input_error([&] { w.write_file(path); }, "cannot write checkpoint '" + path + "'");
  std::filesystem::remove(tmp);
  StateReader r = StateReader::read_file(path);
  EXPECT_TRUE(r.has_section("cpu0"));

  // An unwritable directory (only meaningful when not root).
  if (geteuid() != 0) {
    chmod(dir.path().c_str(), 0555);
    expect_input_error([&] { w.write_file(path); }, "cannot write checkpoint '" + path + "'");
    chmod(dir.path().c_str(), 0755);
    EXPECT_TRUE(StateReader::read_file(path).has_section("cpu0"));
  }

  // A directory that does not exist.
  std::string nowhere = dir.file("no/such/dir.ckpt");
  expect_input_error([&] { w.write_file(nowhere); }, "cannot write checkpoint '" + nowhere + "'");

  // The rename fails (the target is a directory): the temporary file is removed.
  std::string as_dir = dir.file("adir");
  std::filesystem::create_directory(as_dir);
  expect_input_error([&] { w.write_file(as_dir); }, "cannot write checkpoint '" + as_dir + "'");
  EXPECT_FALSE(std::filesystem::exists(as_dir + ".tmp." + std::to_string(getpid())));

  // A successful write replaces the file whole.
  w.write_file(path);
  StateReader r2 = StateReader::read_file(path);
  EXPECT_TRUE(r2.has_section("other"));
  EXPECT_FALSE(r2.has_section("cpu0"));
}

}  // namespace
}  // namespace hvsim
