// Tests of the inspect tree and its JSON rendering.
#include "core/inspect.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/test_support.h"

namespace hvsim {
namespace {

TEST(Inspect, CompactJsonInInsertionOrder) {
  InspectNode root;
  root.counter("b", 2);
  root.counter("a", 1);
  root.child("uart").counter("tx", 5);
  root.value("name", "m\"1");
  root.child("cpu0").real("mips", 1.25);
  EXPECT_EQ(root.to_json(0), R"({"b":2,"a":1,"name":"m\"1","uart":{"tx":5},"cpu0":{"mips":1.25}})");
}

TEST(Inspect, PrettyJson) {
  InspectNode root;
  root.counter("x", 1);
  root.child("c").counter("y", 2);
  root.child("e");
  EXPECT_EQ(root.to_json(), "{\n  \"x\": 1,\n  \"c\": {\n    \"y\": 2\n  },\n  \"e\": {}\n}");
  EXPECT_EQ(InspectNode().to_json(), "{}");
}

TEST(Inspect, ReplacingKeepsPositionAndChangesKind) {
  InspectNode n;
  n.counter("a", 1);
  n.counter("b", 2);
  n.value("a", "text");
  n.counter("b", 3);
  ASSERT_EQ(n.entries().size(), 2u);
  EXPECT_EQ(n.to_json(0), R"({"a":"text","b":3})");
  EXPECT_EQ(n.entries()[0].kind, InspectNode::Entry::Kind::kText);
}

TEST(Inspect, NonFiniteRealsAreNull) {
  InspectNode n;
  n.real("nan", std::nan(""));
  n.real("inf", INFINITY);
  n.real("big", 18446744073709551615.0);
  EXPECT_EQ(n.to_json(0), R"({"nan":null,"inf":null,"big":1.84467441e+19})");
}

TEST(Inspect, CountersAreExactIntegers) {
  InspectNode n;
  n.counter("max", ~uint64_t{0});
  EXPECT_EQ(n.to_json(0), R"({"max":18446744073709551615})");
}

TEST(Inspect, ChildIsCreatedOnceAndFound) {
  InspectNode root;
  InspectNode& a = root.child("a");
  a.child("b").counter("n", 1);
  EXPECT_EQ(&root.child("a"), &a);
  EXPECT_EQ(root.children().size(), 1u);
  EXPECT_EQ(root.find("a"), &a);
  ASSERT_NE(root.find("a/b"), nullptr);
  EXPECT_EQ(root.find("a/b")->entries()[0].counter, 1u);
  EXPECT_EQ(root.find("missing"), nullptr);
  EXPECT_EQ(root.find("a/missing"), nullptr);
}

TEST(Inspect, OutputParsesAsJson) {
  ASSERT_TRUE(testing::have_python()) << "/usr/bin/python3 is required (./hvsim installs it)";
  InspectNode root;
  root.value("weird", std::string_view("\x01\xFF\"\\\n\xC3\xA9", 7));
  root.real("nan", std::nan(""));
  root.child("k\"ey").counter("c", 7);
  testing::TempDir dir;
  for (int indent : {0, 2, 4}) {
    std::string path = dir.file("inspect.json");
    std::ofstream(path) << root.to_json(indent);
    EXPECT_TRUE(testing::python_parses_json(path)) << root.to_json(indent);
  }
}

}  // namespace
}  // namespace hvsim
