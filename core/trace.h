// Structured trace: records with simulated timestamps, written as JSON lines or as Chrome
// trace-event JSON (opens in Perfetto / chrome://tracing). No host time ever appears.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "core/time.h"

namespace hvsim {

/// One key/value argument of a trace record.
struct TraceArg {
  std::string_view key;
  std::variant<uint64_t, int64_t, std::string_view, bool> value;
  TraceArg(std::string_view k, uint64_t v) : key(k), value(v) {}
  TraceArg(std::string_view k, uint32_t v) : key(k), value(uint64_t{v}) {}
  TraceArg(std::string_view k, int v) : key(k), value(int64_t{v}) {}
  TraceArg(std::string_view k, int64_t v) : key(k), value(v) {}
  TraceArg(std::string_view k, std::string_view v) : key(k), value(v) {}
  TraceArg(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  TraceArg(std::string_view k, bool v) : key(k), value(v) {}
};

/// kJsonLines: one object per line,
///   {"t_ps":123,"dur_ps":4,"track":"cpu0","cat":"cpu","name":"exception","args":{...}}
/// ("dur_ps" only for complete events). kChrome: {"traceEvents":[...],"displayTimeUnit":"ns"}
/// with "ts"/"dur" in microseconds (exact decimals of the picoseconds), pid 1, one tid per
/// track in order of first appearance, named by "thread_name" metadata events.
/// In both, an unsigned argument above 2^53 is written as a hex string "0x..." and a
/// signed one beyond +-2^53 as a decimal string, since JSON readers in JavaScript would
/// round such numbers.
enum class TraceFormat { kJsonLines, kChrome };

/// A trace sink. Disabled until open() is called; `enabled()` is a cheap check for callers
/// to skip argument formatting. Records are written in call order, so two runs of the
/// same simulation produce byte-identical files. The file is complete, valid JSON after
/// close() (also called by the destructor, which swallows errors; close() throws
/// InputError naming the path if writing failed).
class Tracer {
 public:
  ~Tracer();
  /// Opens `path` for writing; format from the name (".json" = Chrome, else JSON lines)
  /// unless given. Throws InputError naming the path if it cannot be created.
  void open(const std::string& path);
  void open(const std::string& path, TraceFormat format);
  void close();
  bool enabled() const { return file_ != nullptr; }

  /// An instantaneous event. `track` groups records (e.g. "cpu0", "uart"); Chrome "tid".
  void instant(SimTime t, std::string_view track, std::string_view category, std::string_view name,
               std::initializer_list<TraceArg> args = {});
  /// The same with arguments built at run time (e.g. a decoded message's fields).
  void instant(SimTime t, std::string_view track, std::string_view category, std::string_view name,
               std::span<const TraceArg> args);
  /// An event with a duration (Chrome "X" phase).
  void complete(SimTime start, SimTime duration, std::string_view track, std::string_view category,
                std::string_view name, std::initializer_list<TraceArg> args = {});
  uint64_t records() const { return records_; }

 private:
  void record(char phase, SimTime t, SimTime dur, std::string_view track, std::string_view category,
              std::string_view name, std::span<const TraceArg> args);
  uint64_t tid_of(std::string_view track);
  void emit(std::string_view text, bool event);
  FILE* file_ = nullptr;
  std::map<std::string, uint64_t, std::less<>> tids_;  // Chrome: track -> tid
  bool first_event_ = true;
  bool write_failed_ = false;
  std::string line_;  // reused formatting buffer
  TraceFormat format_ = TraceFormat::kJsonLines;
  uint64_t records_ = 0;
  std::string path_;
};

}  // namespace hvsim
