// Save/restore streams: the checkpoint file format (see state.h) and its strict reader.
#include "core/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace hvsim {
namespace {

constexpr char kMagic[8] = {'H', 'V', 'S', 'I', 'M', 'C', 'K', 'P'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = sizeof kMagic + sizeof(uint32_t);
// Why: a corrupt header could declare any size; nothing real comes near this.
constexpr uint64_t kMaxPayload = uint64_t{64} << 30;
constexpr int kZstdLevel = 3;

enum FieldType : uint8_t { kU64 = 1, kU32 = 2, kU8 = 3, kBool = 4, kStr = 5, kBytes = 6 };

std::string type_name(uint8_t type) {
  switch (type) {
    case kU64: return "u64";
    case kU32: return "u32";
    case kU8: return "u8";
    case kBool: return "bool";
    case kStr: return "str";
    case kBytes: return "bytes";
  }
  return "unknown type " + std::to_string(type);
}

template <typename T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string errno_text() {
  return std::strerror(errno);
}

struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

// ---- writer ----

void StateWriter::put(const void* data, size_t size) {
  if (size == 0) return;
  const auto* p = static_cast<const uint8_t*>(data);
  buf_.insert(buf_.end(), p, p + size);
}

void StateWriter::begin_section(std::string_view name, uint32_t version) {
  if (open_section_ != SIZE_MAX)
    throw InternalError("StateWriter: begin_section('" + std::string(name) +
                        "') while a section is open");
  if (name.size() > UINT16_MAX) throw InternalError("StateWriter: section name too long");
  auto len = static_cast<uint16_t>(name.size());
  put(&len, sizeof len);
  put(name.data(), name.size());
  put(&version, sizeof version);
  open_section_ = buf_.size();
  uint64_t placeholder = 0;
  put(&placeholder, sizeof placeholder);
}

void StateWriter::end_section() {
  if (open_section_ == SIZE_MAX) throw InternalError("StateWriter: end_section without a section");
  uint64_t length = buf_.size() - open_section_ - sizeof(uint64_t);
  std::memcpy(buf_.data() + open_section_, &length, sizeof length);
  open_section_ = SIZE_MAX;
}

void StateWriter::begin_field(std::string_view field, uint8_t type) {
  if (open_section_ == SIZE_MAX)
    throw InternalError("StateWriter: field '" + std::string(field) + "' outside a section");
  if (field.size() > UINT16_MAX) throw InternalError("StateWriter: field name too long");
  auto len = static_cast<uint16_t>(field.size());
  put(&len, sizeof len);
  put(field.data(), field.size());
  put(&type, sizeof type);
}

void StateWriter::u64(std::string_view field, uint64_t v) {
  begin_field(field, kU64);
  put(&v, sizeof v);
}

void StateWriter::u32(std::string_view field, uint32_t v) {
  begin_field(field, kU32);
  put(&v, sizeof v);
}

void StateWriter::u8(std::string_view field, uint8_t v) {
  begin_field(field, kU8);
  put(&v, sizeof v);
}

void StateWriter::boolean(std::string_view field, bool v) {
  begin_field(field, kBool);
  uint8_t b = v ? 1 : 0;
  put(&b, sizeof b);
}

void StateWriter::str(std::string_view field, std::string_view v) {
  begin_field(field, kStr);
  uint64_t len = v.size();
  put(&len, sizeof len);
  put(v.data(), v.size());
}

void StateWriter::bytes(std::string_view field, const void* data, size_t size) {
  begin_field(field, kBytes);
  uint64_t len = size;
  put(&len, sizeof len);
  put(data, size);
}

std::vector<uint8_t> StateWriter::finish() const {
  if (open_section_ != SIZE_MAX) throw InternalError("StateWriter: finish with a section open");
  std::vector<uint8_t> out(kHeaderSize + ZSTD_compressBound(buf_.size()));
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  std::memcpy(out.data() + sizeof kMagic, &kFormatVersion, sizeof kFormatVersion);
  size_t n = ZSTD_compress(out.data() + kHeaderSize, out.size() - kHeaderSize, buf_.data(),
                           buf_.size(), kZstdLevel);
  if (ZSTD_isError(n))
    throw InternalError(std::string("checkpoint compression failed: ") + ZSTD_getErrorName(n));
  out.resize(kHeaderSize + n);
  return out;
}

void StateWriter::write_file(const std::string& path) const {
  std::vector<uint8_t> data = finish();
  // Why: the pid only names the temporary file, so concurrent writers do not collide.
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  auto fail = [&](const std::string& what) {
    std::string msg = "cannot write checkpoint '" + path + "': " + what;
    unlink(tmp.c_str());
    throw InputError(msg);
  };
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw InputError("cannot write checkpoint '" + path + "': " + errno_text());
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string what = n < 0 ? errno_text() : "short write";
      close(fd);
      fail(what);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    std::string what = errno_text();
    close(fd);
    fail(what);
  }
  if (close(fd) != 0) fail(errno_text());
  if (rename(tmp.c_str(), path.c_str()) != 0) fail(errno_text());
  // Make the rename itself durable; failure here leaves a complete file either way.
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

// ---- reader ----

StateReader::StateReader(std::vector<uint8_t> encoded, std::string source)
    : source_(std::move(source)) {
  size_t prefix = std::min(encoded.size(), sizeof kMagic);
  if (encoded.empty() || std::memcmp(encoded.data(), kMagic, prefix) != 0)
    throw InputError("'" + source_ + "' is not an hvsim checkpoint (bad magic)");
  if (encoded.size() < kHeaderSize)
    throw InputError("checkpoint '" + source_ + "' is truncated at offset " +
                     std::to_string(encoded.size()));
  auto version = get<uint32_t>(encoded.data() + sizeof kMagic);
  if (version != kFormatVersion)
    throw InputError("checkpoint '" + source_ + "' has format version " + std::to_string(version) +
                     "; this hvsim reads version " + std::to_string(kFormatVersion));
  decompress(encoded);
  index_sections();
}

void StateReader::decompress(const std::vector<uint8_t>& encoded) {
  const std::string where = "checkpoint '" + source_ + "'";
  const uint8_t* src = encoded.data() + kHeaderSize;
  size_t src_size = encoded.size() - kHeaderSize;
  if (src_size == 0)
    throw InputError(where + " is truncated at offset " + std::to_string(encoded.size()));
  unsigned long long declared = ZSTD_getFrameContentSize(src, src_size);
  if (declared == ZSTD_CONTENTSIZE_ERROR)
    throw InputError(where + " is corrupt: no valid zstd frame at offset " +
                     std::to_string(kHeaderSize));
  if (declared == ZSTD_CONTENTSIZE_UNKNOWN)
    throw InputError(where + " is corrupt: the zstd frame does not declare its size");
  if (declared > kMaxPayload)
    throw InputError(where + " is corrupt: it declares " + std::to_string(declared) +
                     " bytes of state, more than the 64 GiB limit");

  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) throw InternalError("ZSTD_createDCtx failed");
  // Why: grow the buffer as data really arrives, so a lying header cannot make us
  // allocate (and zero) gigabytes. One spare byte detects output beyond the declared size.
  const size_t limit = static_cast<size_t>(declared) + 1;
  std::vector<uint8_t> out(std::min<size_t>(limit, size_t{1} << 20));
  ZSTD_inBuffer in{src, src_size, 0};
  size_t produced = 0;
  for (;;) {
    if (produced == out.size()) out.resize(std::min(limit, out.size() * 2));
    ZSTD_outBuffer ob{out.data(), out.size(), produced};
    size_t r = ZSTD_decompressStream(dctx.get(), &ob, &in);
    produced = ob.pos;
    if (ZSTD_isError(r))
      throw InputError(where + " is corrupt: " + ZSTD_getErrorName(r) +
                       " (compressed data at offset " + std::to_string(kHeaderSize + in.pos) + ")");
    if (produced > declared)
      throw InputError(where + " is corrupt: more state than its header declares");
    if (r == 0) break;
    if (in.pos == in.size && ob.pos < ob.size)
      throw InputError(where + " is truncated at offset " + std::to_string(encoded.size()));
  }
  if (produced != declared)
    throw InputError(where + " is corrupt: " + std::to_string(produced) + " bytes of state, " +
                     std::to_string(declared) + " declared");
  if (in.pos != in.size)
    throw InputError(where + " is corrupt: " + std::to_string(in.size - in.pos) +
                     " unexpected bytes at offset " + std::to_string(kHeaderSize + in.pos));
  out.resize(produced);
  data_ = std::move(out);
}

void StateReader::index_sections() {
  size_t pos = 0;
  auto need = [&](size_t n) {
    if (data_.size() - pos < n)
      throw InputError("checkpoint '" + source_ + "' is truncated at offset " +
                       std::to_string(data_.size()) + " of its section stream");
  };
  while (pos < data_.size()) {
    need(2);
    auto len = get<uint16_t>(data_.data() + pos);
    pos += 2;
    need(len);
    std::string name(reinterpret_cast<const char*>(data_.data() + pos), len);
    pos += len;
    need(12);
    auto version = get<uint32_t>(data_.data() + pos);
    auto length = get<uint64_t>(data_.data() + pos + 4);
    pos += 12;
    need(length);
    if (sections_.count(name))
      throw InputError("checkpoint '" + source_ + "' holds section '" + name + "' twice");
    sections_.emplace(name, Section{version, pos, pos + static_cast<size_t>(length)});
    pos += length;
  }
}

StateReader StateReader::read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError("cannot read checkpoint '" + path + "': " + errno_text());
  std::vector<uint8_t> data;
  struct stat st {};
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) data.reserve(static_cast<size_t>(st.st_size));
  uint8_t chunk[1 << 16];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string what = errno_text();
      close(fd);
      throw InputError("cannot read checkpoint '" + path + "': " + what);
    }
    if (n == 0) break;
    data.insert(data.end(), chunk, chunk + n);
  }
  close(fd);
  return StateReader(std::move(data), path);
}

bool StateReader::has_section(std::string_view name) const {
  return sections_.find(name) != sections_.end();
}

uint32_t StateReader::begin_section(std::string_view name) {
  if (!current_.empty())
    throw InternalError("StateReader: begin_section('" + std::string(name) + "') while section '" +
                        current_ + "' is open");
  auto it = sections_.find(name);
  if (it == sections_.end())
    throw InputError("checkpoint '" + source_ + "' has no section '" + std::string(name) + "'");
  current_ = it->first;
  pos_ = it->second.begin;
  end_ = it->second.end;
  return it->second.version;
}

void StateReader::end_section() {
  if (current_.empty()) throw InternalError("StateReader: end_section without a section");
  if (pos_ != end_) {
    std::string next;
    if (end_ - pos_ >= 2) {
      auto len = get<uint16_t>(data_.data() + pos_);
      if (end_ - pos_ - 2 >= len)
        next = " (next field '" +
               std::string(reinterpret_cast<const char*>(data_.data() + pos_ + 2), len) + "')";
    }
    throw InputError("checkpoint '" + source_ + "': section '" + current_ + "' has " +
                     std::to_string(end_ - pos_) + " unread bytes" + next);
  }
  current_.clear();
}

void StateReader::fail_field(std::string_view field, const std::string& what) const {
  throw InputError("checkpoint '" + source_ + "': section '" + current_ + "': field '" +
                   std::string(field) + "' " + what);
}

void StateReader::begin_field(std::string_view field, uint8_t type) {
  if (current_.empty())
    throw InternalError("StateReader: field '" + std::string(field) + "' outside a section");
  const std::string where = "checkpoint '" + source_ + "': section '" + current_ + "': ";
  if (pos_ == end_)
    throw InputError(where + "expected field '" + std::string(field) + "' but the section ends");
  if (end_ - pos_ < 2) fail_field(field, "is truncated at offset " + std::to_string(pos_));
  auto len = get<uint16_t>(data_.data() + pos_);
  if (end_ - pos_ - 2 < size_t{len} + 1)
    fail_field(field, "is truncated at offset " + std::to_string(pos_));
  std::string_view found(reinterpret_cast<const char*>(data_.data() + pos_ + 2), len);
  if (found != field)
    throw InputError(where + "expected field '" + std::string(field) + "' but found '" +
                     std::string(found) + "'");
  uint8_t found_type = data_[pos_ + 2 + len];
  if (found_type != type)
    fail_field(field, "has type " + type_name(found_type) + ", expected " + type_name(type));
  pos_ += 2 + len + 1;
}

const uint8_t* StateReader::take(std::string_view field, size_t size) {
  if (end_ - pos_ < size) fail_field(field, "is truncated at offset " + std::to_string(pos_));
  const uint8_t* p = data_.data() + pos_;
  pos_ += size;
  return p;
}

uint64_t StateReader::take_length(std::string_view field) {
  auto len = get<uint64_t>(take(field, sizeof(uint64_t)));
  if (len > end_ - pos_)
    fail_field(field, "declares " + std::to_string(len) + " bytes but only " +
                          std::to_string(end_ - pos_) + " remain in the section");
  return len;
}

uint64_t StateReader::u64(std::string_view field) {
  begin_field(field, kU64);
  return get<uint64_t>(take(field, 8));
}

uint32_t StateReader::u32(std::string_view field) {
  begin_field(field, kU32);
  return get<uint32_t>(take(field, 4));
}

uint8_t StateReader::u8(std::string_view field) {
  begin_field(field, kU8);
  return *take(field, 1);
}

bool StateReader::boolean(std::string_view field) {
  begin_field(field, kBool);
  uint8_t b = *take(field, 1);
  if (b > 1) fail_field(field, "holds " + std::to_string(b) + ", not a boolean");
  return b != 0;
}

std::string StateReader::str(std::string_view field) {
  begin_field(field, kStr);
  uint64_t len = take_length(field);
  const uint8_t* p = take(field, len);
  return std::string(reinterpret_cast<const char*>(p), len);
}

std::vector<uint8_t> StateReader::bytes(std::string_view field) {
  begin_field(field, kBytes);
  uint64_t len = take_length(field);
  const uint8_t* p = take(field, len);
  return std::vector<uint8_t>(p, p + len);
}

void StateReader::bytes_into(std::string_view field, void* out, size_t size) {
  begin_field(field, kBytes);
  uint64_t len = take_length(field);
  if (len != size)
    fail_field(field, "has " + std::to_string(len) + " bytes, expected " + std::to_string(size));
  const uint8_t* p = take(field, len);
  if (size) std::memcpy(out, p, size);
}

}  // namespace hvsim
