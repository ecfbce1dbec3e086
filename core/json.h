// Small JSON writing helpers shared by the inspect tree and the tracer (RFC 8259).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hvsim {

/// Appends `s` as a JSON string literal (with quotes). Control characters, quotes and
/// backslashes are escaped; valid UTF-8 passes through; each byte that is not part of a
/// valid UTF-8 sequence is written as \u00XX (read as Latin-1), so the output is always
/// valid JSON whatever bytes a guest produced.
void append_json_string(std::string& out, std::string_view s);

/// Appends an unsigned decimal integer.
void append_json_u64(std::string& out, uint64_t v);

/// Appends a signed decimal integer.
void append_json_i64(std::string& out, int64_t v);

/// Appends a real with up to 9 significant digits, locale-independent; NaN and infinities
/// (which JSON cannot express) are written as null.
void append_json_real(std::string& out, double v);

/// Appends `ps` picoseconds as microseconds: the integer part, then a point and up to six
/// fractional digits without trailing zeros. Exact (integer arithmetic only).
void append_micros_from_ps(std::string& out, uint64_t ps);

}  // namespace hvsim
