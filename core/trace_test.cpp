// Tests of the tracer: both formats, exact timestamps, escaping and determinism.
#include "core/trace.h"

#include <gtest/gtest.h>

#include <limits>

#include "core/error.h"
#include "core/test_support.h"

namespace hvsim {
namespace {

void write_sample(Tracer& t) {
  t.instant(1'500'000, "cpu0", "cpu", "exception", {{"vector", 14}, {"rip", uint64_t{0x1000}}});
  t.complete(2'000'001, 3'000'000, "uart", "io", "tx", {{"byte", "A"}, {"ok", true}});
  t.instant(7, "cpu1", "cpu", "hlt");
  t.instant(8, "cpu0", "cpu", "big",
            {{"addr", uint64_t{0xFFFFFFFF81000000ull}},
             {"exact", uint64_t{1} << 53},
             {"neg", int64_t{-5}},
             {"huge_neg", std::numeric_limits<int64_t>::min()}});
}

TEST(Trace, JsonLinesFormat) {
  testing::TempDir dir;
  std::string path = dir.file("t.jsonl");
  {
    Tracer t;
    EXPECT_FALSE(t.enabled());
    t.open(path);
    EXPECT_TRUE(t.enabled());
    write_sample(t);
    EXPECT_EQ(t.records(), 4u);
  }
  EXPECT_EQ(
      testing::read_text(path),
      R"({"t_ps":1500000,"track":"cpu0","cat":"cpu","name":"exception","args":{"vector":14,"rip":4096}}
{"t_ps":2000001,"dur_ps":3000000,"track":"uart","cat":"io","name":"tx","args":{"byte":"A","ok":true}}
{"t_ps":7,"track":"cpu1","cat":"cpu","name":"hlt","args":{}}
{"t_ps":8,"track":"cpu0","cat":"cpu","name":"big","args":{"addr":"0xffffffff81000000","exact":9007199254740992,"neg":-5,"huge_neg":"-9223372036854775808"}}
)");
  if (testing::have_python()) {
    EXPECT_TRUE(testing::python_parses_json(path, /*lines=*/true));
  }
}

TEST(Trace, ChromeFormat) {
  testing::TempDir dir;
  std::string path = dir.file("t.json");
  Tracer t;
  t.open(path);
  write_sample(t);
  t.close();
  EXPECT_FALSE(t.enabled());
  EXPECT_EQ(testing::read_text(path),
            R"({"traceEvents":[
{"name":"process_name","ph":"M","pid":1,"args":{"name":"hvsim"}},
{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"cpu0"}},
{"name":"exception","cat":"cpu","ph":"i","ts":1.5,"pid":1,"tid":1,"s":"t","args":{"vector":14,"rip":4096}},
{"name":"thread_name","ph":"M","pid":1,"tid":2,"args":{"name":"uart"}},
{"name":"tx","cat":"io","ph":"X","ts":2.000001,"dur":3,"pid":1,"tid":2,"args":{"byte":"A","ok":true}},
{"name":"thread_name","ph":"M","pid":1,"tid":3,"args":{"name":"cpu1"}},
{"name":"hlt","cat":"cpu","ph":"i","ts":0.000007,"pid":1,"tid":3,"s":"t","args":{}},
{"name":"big","cat":"cpu","ph":"i","ts":0.000008,"pid":1,"tid":1,"s":"t","args":{"addr":"0xffffffff81000000","exact":9007199254740992,"neg":-5,"huge_neg":"-9223372036854775808"}}
],"displayTimeUnit":"ns"}
)");
  if (testing::have_python()) {
    EXPECT_TRUE(testing::python_parses_json(path));
  }
}

TEST(Trace, ExplicitFormatOverridesTheName) {
  testing::TempDir dir;
  std::string path = dir.file("t.json");
  {
    Tracer t;
    t.open(path, TraceFormat::kJsonLines);
    t.instant(1, "a", "b", "c");
  }
  EXPECT_EQ(testing::read_text(path),
            "{\"t_ps\":1,\"track\":\"a\",\"cat\":\"b\",\"name\":\"c\",\"args\":{}}\n");
}

TEST(Trace, EmptyChromeTraceIsValidJson) {
  testing::TempDir dir;
  std::string path = dir.file("empty.json");
  {
    Tracer t;
    t.open(path);
  }
  if (testing::have_python()) {
    EXPECT_TRUE(testing::python_parses_json(path));
  }
}

TEST(Trace, WeirdStringsStayValidJson) {
  ASSERT_TRUE(testing::have_python()) << "/usr/bin/python3 is required (./hvsim installs it)";
  testing::TempDir dir;
  for (const char* name : {"w.json", "w.jsonl"}) {
    std::string path = dir.file(name);
    {
      Tracer t;
      t.open(path);
      std::string_view nasty("q\"b\\\n\x01\xFF\xC3\xA9\x7F", 10);
      t.instant(1, nasty, nasty, nasty, {{nasty, nasty}});
      t.complete(1, 2, "track\ttab", "c", "n", {{"k", nasty}});
    }
    EXPECT_TRUE(testing::python_parses_json(path, std::string(name) == "w.jsonl")) << name;
  }
}

TEST(Trace, SameCallsGiveIdenticalFiles) {
  testing::TempDir dir;
  for (const char* ext : {".json", ".jsonl"}) {
    std::string a = dir.file(std::string("a") + ext), b = dir.file(std::string("b") + ext);
    for (const std::string& path : {a, b}) {
      Tracer t;
      t.open(path);
      for (uint64_t i = 0; i < 1000; ++i)
        t.instant(i * 333'333, "cpu" + std::to_string(i % 3), "cpu", "step", {{"i", i}});
    }
    EXPECT_EQ(testing::read_text(a), testing::read_text(b));
    EXPECT_FALSE(testing::read_text(a).empty());
  }
}

TEST(Trace, ReopenStartsAFreshFile) {
  testing::TempDir dir;
  Tracer t;
  t.open(dir.file("one.json"));
  t.instant(1, "x", "c", "n");
  t.open(dir.file("two.json"));  // closes one.json
  t.instant(2, "y", "c", "n");
  t.close();
  t.close();  // harmless
  EXPECT_EQ(t.records(), 1u);
  std::string two = testing::read_text(dir.file("two.json"));
  EXPECT_NE(two.find(R"("tid":1,"args":{"name":"y"})"), std::string::npos) << two;
  if (testing::have_python()) {
    EXPECT_TRUE(testing::python_parses_json(dir.file("one.json")));
    EXPECT_TRUE(testing::python_parses_json(dir.file("two.json")));
  }
}

TEST(Trace, DisabledTracerIgnoresRecords) {
  Tracer t;
  t.instant(1, "a", "b", "c");
  t.complete(1, 1, "a", "b", "c");
  EXPECT_EQ(t.records(), 0u);
}

TEST(Trace, OpenFailureNamesThePath) {
  testing::TempDir dir;
  std::string path = dir.file("no/such/dir/t.json");
  Tracer t;
  testing::expect_input_error([&] { t.open(path); }, "cannot create trace '" + path + "'");
  EXPECT_FALSE(t.enabled());
}

}  // namespace
}  // namespace hvsim
