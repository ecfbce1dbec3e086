// The inspect tree: every component publishes its counters and values under a named node.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hvsim {

/// A node of the inspect tree. Children and entries keep insertion order, so the JSON
/// rendering is deterministic. Components fill a node in `inspect(InspectNode&) const`.
class InspectNode {
 public:
  /// The child named `name`, created on first use.
  InspectNode& child(std::string_view name);
  /// Sets (or replaces) an unsigned counter.
  void counter(std::string_view name, uint64_t value);
  /// Sets (or replaces) a text value.
  void value(std::string_view name, std::string_view text);
  /// Sets (or replaces) a floating-point value (host-side figures such as MIPS only).
  void real(std::string_view name, double value);

  /// JSON object: entries first, then children, each in insertion order. `indent` spaces
  /// per level; 0 gives one compact line. Counters are integers; reals that are NaN or
  /// infinite are written as null.
  std::string to_json(int indent = 2) const;
  /// The child named `name`, or else the node at the path "a/b/c"; nullptr if absent.
  const InspectNode* find(std::string_view name) const;

  struct Entry {
    std::string name;
    enum class Kind { kCounter, kText, kReal } kind;
    uint64_t counter = 0;
    double real = 0;
    std::string text;
  };
  const std::vector<Entry>& entries() const { return entries_; }
  const std::vector<std::pair<std::string, std::unique_ptr<InspectNode>>>& children() const {
    return children_;
  }

 private:
  Entry& entry(std::string_view name);
  void write_json(std::string& out, int indent, int depth) const;
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, std::unique_ptr<InspectNode>>> children_;
};

}  // namespace hvsim
