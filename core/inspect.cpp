// The inspect tree: insertion-ordered nodes rendered as deterministic JSON.
#include "core/inspect.h"

#include "core/json.h"

namespace hvsim {

InspectNode& InspectNode::child(std::string_view name) {
  for (auto& [n, node] : children_)
    if (n == name) return *node;
  children_.emplace_back(std::string(name), std::make_unique<InspectNode>());
  return *children_.back().second;
}

InspectNode::Entry& InspectNode::entry(std::string_view name) {
  for (Entry& e : entries_)
    if (e.name == name) return e;
  Entry& e = entries_.emplace_back();
  e.name = name;
  e.kind = Entry::Kind::kCounter;
  return e;
}

void InspectNode::counter(std::string_view name, uint64_t value) {
  Entry& e = entry(name);
  e.kind = Entry::Kind::kCounter;
  e.counter = value;
  e.real = 0;
  e.text.clear();
}

void InspectNode::value(std::string_view name, std::string_view text) {
  Entry& e = entry(name);
  e.kind = Entry::Kind::kText;
  e.counter = 0;
  e.real = 0;
  e.text = text;
}

void InspectNode::real(std::string_view name, double value) {
  Entry& e = entry(name);
  e.kind = Entry::Kind::kReal;
  e.counter = 0;
  e.real = value;
  e.text.clear();
}

const InspectNode* InspectNode::find(std::string_view name) const {
  for (const auto& [n, node] : children_)
    if (n == name) return node.get();
  // A path "a/b/c" walks down the tree (tried after an exact match of the whole name).
  size_t slash = name.find('/');
  if (slash == std::string_view::npos) return nullptr;
  const InspectNode* first = find(name.substr(0, slash));
  return first ? first->find(name.substr(slash + 1)) : nullptr;
}

std::string InspectNode::to_json(int indent) const {
  std::string out;
  write_json(out, indent < 0 ? 0 : indent, 0);
  return out;
}

void InspectNode::write_json(std::string& out, int indent, int depth) const {
  if (entries_.empty() && children_.empty()) {
    out += "{}";
    return;
  }
  const char* colon = indent ? ": " : ":";
  bool first = true;
  auto begin_member = [&](const std::string& name) {
    if (!first) out += ',';
    first = false;
    if (indent) {
      out += '\n';
      out.append(static_cast<size_t>(indent) * (depth + 1), ' ');
    }
    append_json_string(out, name);
    out += colon;
  };
  out += '{';
  for (const Entry& e : entries_) {
    begin_member(e.name);
    switch (e.kind) {
      case Entry::Kind::kCounter: append_json_u64(out, e.counter); break;
      case Entry::Kind::kText: append_json_string(out, e.text); break;
      case Entry::Kind::kReal: append_json_real(out, e.real); break;
    }
  }
  for (const auto& [name, node] : children_) {
    begin_member(name);
    node->write_json(out, indent, depth + 1);
  }
  if (indent) {
    out += '\n';
    out.append(static_cast<size_t>(indent) * depth, ' ');
  }
  out += '}';
}

}  // namespace hvsim
