// Error types shared by every layer (../shared/DESIGN.md, "Bad input").
#pragma once

#include <stdexcept>
#include <string>

namespace hvsim {

/// Host-side bad input: a missing or malformed file, a wrong parameter, a corrupt
/// checkpoint. The message names the file, offset or parameter. The CLI maps it to exit 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A broken invariant inside the simulator itself (never caused by a guest).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace hvsim
