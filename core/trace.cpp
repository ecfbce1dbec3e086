// Structured trace: JSON lines or Chrome trace-event JSON, from simulated time only.
#include "core/trace.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/json.h"

namespace hvsim {
namespace {

// Largest integer a double (and so a JavaScript JSON reader) holds exactly.
constexpr uint64_t kMaxExactInJson = uint64_t{1} << 53;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void append_hex(std::string& out, uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  int n = 0;
  do {
    buf[n++] = kHex[v & 15];
    v >>= 4;
  } while (v);
  out += "\"0x";
  while (n) out += buf[--n];
  out += '"';
}

void append_args(std::string& out, std::span<const TraceArg> args) {
  out += '{';
  bool first = true;
  for (const TraceArg& a : args) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, a.key);
    out += ':';
    if (auto* u = std::get_if<uint64_t>(&a.value)) {
      if (*u > kMaxExactInJson) {
        append_hex(out, *u);
      } else {
        append_json_u64(out, *u);
      }
    } else if (auto* i = std::get_if<int64_t>(&a.value)) {
      bool exact = *i <= static_cast<int64_t>(kMaxExactInJson) &&
                   *i >= -static_cast<int64_t>(kMaxExactInJson);
      if (!exact) out += '"';
      append_json_i64(out, *i);
      if (!exact) out += '"';
    } else if (auto* s = std::get_if<std::string_view>(&a.value)) {
      append_json_string(out, *s);
    } else {
      out += std::get<bool>(a.value) ? "true" : "false";
    }
  }
  out += '}';
}

}  // namespace

Tracer::~Tracer() {
  try {
    close();
  } catch (const InputError&) {
    // A destructor cannot report; callers who care call close() themselves.
  }
}

void Tracer::open(const std::string& path) {
  open(path, ends_with(path, ".json") ? TraceFormat::kChrome : TraceFormat::kJsonLines);
}

void Tracer::open(const std::string& path, TraceFormat format) {
  close();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw InputError("cannot create trace '" + path + "': " + std::strerror(errno));
  file_ = f;
  path_ = path;
  format_ = format;
  records_ = 0;
  tids_.clear();
  first_event_ = true;
  write_failed_ = false;
  if (format_ == TraceFormat::kChrome) {
    emit("{\"traceEvents\":[\n", false);
    emit(R"({"name":"process_name","ph":"M","pid":1,"args":{"name":"hvsim"}})", true);
  }
}

void Tracer::close() {
  if (!file_) return;
  if (format_ == TraceFormat::kChrome) emit("\n],\"displayTimeUnit\":\"ns\"}\n", false);
  bool failed = write_failed_ || std::ferror(file_);
  if (std::fclose(file_) != 0) failed = true;
  file_ = nullptr;
  tids_.clear();
  if (failed) throw InputError("error writing trace '" + path_ + "'");
}

// Writes `text`; an `event` of the Chrome format is an element of the one "traceEvents"
// array, so events after the first are preceded by a comma.
void Tracer::emit(std::string_view text, bool event) {
  if (event && format_ == TraceFormat::kChrome) {
    // Chrome events are elements of one array: separate them with commas.
    if (!first_event_ && std::fputs(",\n", file_) < 0) write_failed_ = true;
    first_event_ = false;
  }
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size()) write_failed_ = true;
}

uint64_t Tracer::tid_of(std::string_view track) {
  auto it = tids_.find(track);
  if (it != tids_.end()) return it->second;
  uint64_t tid = tids_.size() + 1;
  tids_.emplace(std::string(track), tid);
  std::string meta = R"({"name":"thread_name","ph":"M","pid":1,"tid":)";
  append_json_u64(meta, tid);
  meta += R"(,"args":{"name":)";
  append_json_string(meta, track);
  meta += "}}";
  emit(meta, true);
  return tid;
}

void Tracer::instant(SimTime t, std::string_view track, std::string_view category,
                     std::string_view name, std::initializer_list<TraceArg> args) {
  if (file_) record('i', t, 0, track, category, name, {args.begin(), args.size()});
}

void Tracer::instant(SimTime t, std::string_view track, std::string_view category,
                     std::string_view name, std::span<const TraceArg> args) {
  if (file_) record('i', t, 0, track, category, name, args);
}

void Tracer::complete(SimTime start, SimTime duration, std::string_view track,
                      std::string_view category, std::string_view name,
                      std::initializer_list<TraceArg> args) {
  if (file_) record('X', start, duration, track, category, name, {args.begin(), args.size()});
}

void Tracer::record(char phase, SimTime t, SimTime dur, std::string_view track,
                    std::string_view category, std::string_view name,
                    std::span<const TraceArg> args) {
  std::string& s = line_;
  s.clear();
  if (format_ == TraceFormat::kJsonLines) {
    s += "{\"t_ps\":";
    append_json_u64(s, t);
    if (phase == 'X') {
      s += ",\"dur_ps\":";
      append_json_u64(s, dur);
    }
    s += ",\"track\":";
    append_json_string(s, track);
    s += ",\"cat\":";
    append_json_string(s, category);
    s += ",\"name\":";
    append_json_string(s, name);
    s += ",\"args\":";
    append_args(s, args);
    s += "}\n";
    emit(s, false);
  } else {
    uint64_t tid = tid_of(track);
    s += "{\"name\":";
    append_json_string(s, name);
    s += ",\"cat\":";
    append_json_string(s, category);
    s += ",\"ph\":\"";
    s += phase;
    s += "\",\"ts\":";
    append_micros_from_ps(s, t);
    if (phase == 'X') {
      s += ",\"dur\":";
      append_micros_from_ps(s, dur);
    }
    s += ",\"pid\":1,\"tid\":";
    append_json_u64(s, tid);
    if (phase == 'i') s += ",\"s\":\"t\"";
    s += ",\"args\":";
    append_args(s, args);
    s += '}';
    emit(s, true);
  }
  ++records_;
}

}  // namespace hvsim
