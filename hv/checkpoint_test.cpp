// Unit tests of the per-module checkpoint sections of the hypervisor (docs/hv.md
// "Checkpoints"): the SynIC (MSRs, queued messages, timer buffers), the synthetic timers and
// the port table survive a save/restore round trip and then behave as the originals do;
// inconsistent sections are refused with InputError naming the section and the problem.
// The whole hypervisor is tested end to end in tests/test_hyperv_checkpoint.py.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/hash.h"
#include "core/phys_mem.h"
#include "core/state.h"
#include "hv/ports.h"
#include "hv/spec/tlfs.h"
#include "hv/synic.h"
#include "hv/synthetic_timers.h"

namespace hvsim::hv {
namespace {

constexpr uint64_t kSim = 0x1000, kSief = 0x2000;
constexpr uint32_t kScontrol = 0x40000080, kSimp = 0x40000083, kEom = 0x40000084;

/// A SynIC with its timers on a memory of their own, recording what they raise.
struct Vp {
  Vp()
      : synic(mem, kSim, kSief,
              SynicHooks{[this](uint8_t v, bool) { raised.push_back(v); }, [] { return 0; }}, true),
        timers(
            synic, [this](uint8_t v) { raised.push_back(v); }, true) {}
  uint64_t hash() const {
    Hasher h;
    synic.hash_into(h);
    timers.hash_into(h);
    return h.digest();
  }
  PhysicalMemory mem{0x10000};
  std::vector<uint8_t> raised;
  Synic synic;
  SyntheticTimers timers;
};

StateReader round_trip(const StateWriter& w) {
  return StateReader(w.finish(), "test");
}

spec::HvMessage message(uint8_t tag) {
  spec::HvMessage m{};
  m.header.message_type = 0x100;
  m.header.payload_size = 8;
  m.payload[0] = tag;
  return m;
}

TEST(HvCheckpoint, SynicAndTimersContinueAsTheOriginals) {
  Vp a;
  ASSERT_TRUE(a.synic.write_msr(kSimp, 0x5000 | 1));
  ASSERT_TRUE(a.synic.write_msr(kScontrol, 1));
  ASSERT_TRUE(a.synic.write_msr(spec::sint_msr(2), 0x42));
  // Three messages to SINT2: one in the slot, two queued behind it.
  for (uint8_t t = 1; t <= 3; ++t)
    ASSERT_EQ(a.synic.post_message(2, message(t), 0), spec::HvStatus::HV_STATUS_SUCCESS);
  ASSERT_EQ(a.synic.pending(2), 2u);
  // A periodic message-mode timer to SINT2 and a one-shot direct one (vector 0x77).
  namespace sc = spec::stimer_config;
  ASSERT_TRUE(a.timers.write_msr(spec::stimer_count_msr(0), 500, 0));
  ASSERT_TRUE(a.timers.write_msr(spec::stimer_config_msr(0),
                                 sc::kEnable | sc::kPeriodic | (2ull << sc::kSintxShift), 0));
  ASSERT_TRUE(a.timers.write_msr(spec::stimer_count_msr(1), 1200, 0));
  ASSERT_TRUE(a.timers.write_msr(spec::stimer_config_msr(1),
                                 sc::kEnable | sc::kDirectMode | (0x77ull << sc::kApicVectorShift),
                                 0));

  StateWriter w;
  a.synic.save(w, "vp.synic");
  a.timers.save(w, "vp.stimers");
  // The pages are RAM: the machine saves them; here the copy is by hand.
  Vp b;
  std::vector<uint8_t> page(0x1000);
  a.mem.read(kSim, page.data(), page.size());
  b.mem.write(kSim, page.data(), page.size());
  StateReader r = round_trip(w);
  b.synic.restore(r, "vp.synic");
  b.timers.restore(r, "vp.stimers");
  EXPECT_EQ(b.hash(), a.hash());
  EXPECT_NE(Vp().hash(), a.hash());  // the hash sees the difference
  EXPECT_EQ(b.synic.pending(2), 2u);
  EXPECT_EQ(b.timers.next_expiry(), 500u);

  // The same future on both: timers fire, the guest frees the slot and writes EOM.
  for (Vp* v : {&a, &b}) {
    v->raised.clear();
    v->timers.poll(1300);
    v->mem.store<uint32_t>(kSim + 2 * 256, 0);
    ASSERT_TRUE(v->synic.write_msr(kEom, 0));
  }
  EXPECT_EQ(b.raised, a.raised);
  EXPECT_FALSE(a.raised.empty());
  EXPECT_EQ(b.hash(), a.hash());
  std::vector<uint8_t> sa(0x1000), sb(0x1000);
  a.mem.read(kSim, sa.data(), sa.size());
  b.mem.read(kSim, sb.data(), sb.size());
  EXPECT_EQ(sa, sb);
}

/// A SynIC section as Synic::save writes it, with `sint0` for SINT0 and `queues` as given.
StateWriter synic_section(uint64_t sint0, const std::vector<uint8_t>& queues) {
  StateWriter w;
  w.begin_section("s", 1);
  w.u64("scontrol", 0);
  w.u64("simp", 0);
  w.u64("siefp", 0);
  uint64_t sint[spec::kSintCount];
  for (uint64_t& s : sint) s = spec::sint::kResetValue;
  sint[0] = sint0;
  w.bytes("sint", sint, sizeof sint);
  w.bytes("queues", queues.data(), queues.size());
  for (unsigned t = 0; t < spec::kStimerCount; ++t) {
    std::string k = "timer_msg" + std::to_string(t);
    w.boolean(k + ".busy", false);
    w.u32(k + ".sint", 0);
    w.u64(k + ".expiration", 0);
  }
  for (const char* c : {"delivered", "raised", "events", "eoms"}) w.u64(c, 0);
  w.end_section();
  return w;
}

void expect_refused(const StateWriter& w, const std::function<void(StateReader&)>& restore,
                    const std::string& what) {
  StateReader r = round_trip(w);
  try {
    restore(r);
    ADD_FAILURE() << "restored: " << what;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(HvCheckpoint, BadSynicSectionsAreRefused) {
  std::vector<uint8_t> empty(4 * spec::kSintCount, 0);
  {
    Vp v;  // the well-formed section restores
    StateReader r = round_trip(synic_section(0x10042, empty));
    v.synic.restore(r, "s");
    EXPECT_EQ(v.synic.sint(0), 0x10042u);
  }
  auto restore = [](StateReader& r) {
    Vp v;
    v.synic.restore(r, "s");
  };
  expect_refused(synic_section(1ull << 40, empty), restore,
                 "checkpoint section s: SINT0 has reserved bits set");
  std::vector<uint8_t> short_queue(empty.begin(), empty.end() - 1);
  expect_refused(synic_section(0, short_queue), restore, "truncated message queues");
  std::vector<uint8_t> one(empty);
  one[0] = 1;  // SINT0 claims a queued message that is not there
  expect_refused(synic_section(0, one), restore, "truncated message queues");
  std::vector<uint8_t> trailing(empty);
  trailing.push_back(0);
  expect_refused(synic_section(0, trailing), restore, "trailing bytes");
}

TEST(HvCheckpoint, ArmedDisabledTimerIsRefused) {
  StateWriter w;
  w.begin_section("t", 1);
  for (unsigned n = 0; n < spec::kStimerCount; ++n) {
    std::string k = "stimer" + std::to_string(n);
    w.u64(k + ".config", 0);
    w.u64(k + ".count", 100);
    w.boolean(k + ".armed", n == 3);
    w.u64(k + ".deadline", 100);
    w.u64(k + ".fired", 0);
    w.u64(k + ".missed", 0);
  }
  w.end_section();
  expect_refused(
      w, [](StateReader& r) { Vp().timers.restore(r, "t"); },
      "checkpoint section t: stimer3 armed while disabled");
}

TEST(HvCheckpoint, PortTableRoundTripAndBadPorts) {
  PortTable t;
  Port p;
  p.id = 0x100;
  p.partition = 1;
  p.sint = 2;
  ASSERT_EQ(t.create_port(p), PortError::kOk);
  p.id = 0x101;
  p.type = PortType::kEvent;
  p.base_flag = 16;
  p.flag_count = 8;
  ASSERT_EQ(t.create_port(p), PortError::kOk);
  ASSERT_EQ(t.connect(1, 5, 0x100), PortError::kOk);
  ASSERT_EQ(t.connect(2, 5, 0x101), PortError::kOk);
  ASSERT_EQ(t.delete_port(0x100), PortError::kOk);  // the connection stays, useless
  StateWriter w;
  t.save(w, "ports");
  PortTable u;
  StateReader r = round_trip(w);
  u.restore(r, "ports");
  EXPECT_EQ(u.ports(), 1u);
  EXPECT_EQ(u.connections(), 2u);
  ASSERT_NE(u.port(0x101), nullptr);
  EXPECT_EQ(u.port(0x101)->base_flag, 16);
  EXPECT_EQ(u.port(0x101)->flag_count, 8);
  ASSERT_NE(u.connection(1, 5), nullptr);
  EXPECT_EQ(*u.connection(1, 5), 0x100u);
  EXPECT_EQ(*u.connection(2, 5), 0x101u);

  auto section = [](uint32_t sint, uint32_t conn_id) {
    StateWriter s;
    s.begin_section("ports", 1);
    s.u32("ports", 1);
    s.u32("port0.id", 7);
    s.u8("port0.type", 0);
    s.u32("port0.partition", 1);
    s.u32("port0.vp", 0);
    s.u32("port0.sint", sint);
    s.u32("port0.base_flag", 0);
    s.u32("port0.flag_count", 0);
    s.u32("connections", 1);
    s.u32("connection0.sender", 1);
    s.u32("connection0.id", conn_id);
    s.u32("connection0.port", 7);
    s.end_section();
    return s;
  };
  auto restore = [](StateReader& rd) { PortTable().restore(rd, "ports"); };
  {
    PortTable ok;
    StateReader rd = round_trip(section(3, 9));
    ok.restore(rd, "ports");
    EXPECT_EQ(ok.ports(), 1u);
  }
  expect_refused(section(16, 9), restore, "checkpoint section ports: port0: SINT must be 0 to 15");
  expect_refused(section(3, 0), restore, "checkpoint section ports: connection0: bad id");
  // A section missing altogether.
  expect_refused(StateWriter(), restore, "ports");
}

}  // namespace
}  // namespace hvsim::hv
