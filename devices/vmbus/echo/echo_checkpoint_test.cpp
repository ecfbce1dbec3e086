// Checkpoints of the echo VSP (echo_checkpoint.cpp; docs/vmbus.md "Checkpoints"): in every
// state (closed, open and idle, open with a packet waiting for room, failed) a restored
// server and echo save the same bytes and show the same inspect tree, and answer the rest of
// a request stream exactly as the original (same ring bytes, signals and counters). A
// checkpoint that does not fit the server is refused with InputError naming the field.
#include "core/error.h"
#include "devices/vmbus/echo/echo_world_test.h"

namespace hvsim::vmbus {
namespace {

using namespace echo_testing;

/// The guest's side of a stream of `n` requests of `size` bytes: sent and answered so far.
struct Stream {
  uint32_t n, size;
  uint32_t sent = 0, got = 0;
};

/// The guest sends what fits, signals, takes the completions and signals when its reads made
/// room the host waits for; `rounds` times at most, or until every request is answered.
void pump(EchoWorld& w, Stream& st, unsigned rounds) {
  for (unsigned k = 0; st.got < st.n && k < rounds; ++k) {
    while (st.sent < st.n && w.request(st.sent, st.size) == 0) ++st.sent;
    vmbus_ring_commit_write(&w.out);
    w.signal_host();
    while (w.completion(st.got, st.size)) ++st.got;
    if (vmbus_ring_commit_read(&w.in)) w.signal_host();
  }
}

/// What a run leaves: guest memory (both rings), host signals, inspect trees.
struct Outcome {
  std::vector<uint8_t> mem;
  uint64_t signals;
  std::string tree;
  uint32_t got;
};

/// Checks that `w` restored from its own checkpoint saves the same bytes and shows the same
/// tree, and that `more` (the rest of the guest's run) leaves the same outcome on the
/// restored objects as on the originals.
template <typename More>
void check(EchoWorld& w, Stream st, More more) {
  std::vector<uint8_t> bytes = w.save();
  const std::string tree = w.inspect_json();
  const std::vector<uint8_t> mem = w.t.mem;
  const vmbus_ring out = w.out, in = w.in;
  const uint64_t signals = w.t.signals;
  const EchoChannel::State state = w.echo->state();
  const bool waiting = w.echo->waiting();
  auto finish = [&](Stream s) {
    more(w, s);
    return Outcome{w.t.mem, w.t.signals, w.inspect_json(), s.got};
  };
  Outcome a = finish(st);
  w.t.mem = mem;
  w.out = out;
  w.in = in;
  w.t.signals = signals;
  w.restore(bytes);
  EXPECT_EQ(w.save(), bytes);
  EXPECT_EQ(w.inspect_json(), tree);
  EXPECT_EQ(w.echo->state(), state);
  EXPECT_EQ(w.echo->waiting(), waiting);
  Outcome b = finish(st);
  EXPECT_TRUE(a.mem == b.mem) << "guest memory differs after the restored run";
  EXPECT_EQ(a.signals, b.signals);
  EXPECT_EQ(a.tree, b.tree);
  EXPECT_EQ(a.got, b.got);
}

class EchoCheckpointTest : public ::testing::Test, public EchoWorld {};

TEST_F(EchoCheckpointTest, ClosedNeverOpened) {
  gpadl(4, 4);
  check(*this, Stream{8, 100}, [](EchoWorld& w, Stream& s) {
    w.open(4, 4);
    pump(w, s, 10);
  });
  EXPECT_EQ(echo->replies(), 8u);
}

TEST_F(EchoCheckpointTest, ClosedAfterUse) {
  gpadl(4, 4);
  open(4, 4);
  Stream st{5, 64};
  pump(*this, st, 10);
  close();
  ASSERT_EQ(echo->state(), EchoChannel::State::kClosed);
  check(*this, Stream{5, 64}, [](EchoWorld& w, Stream& s) {
    w.open(4, 4);
    pump(w, s, 10);
  });
  EXPECT_EQ(echo->replies(), 10u);
  EXPECT_EQ(echo->state(), EchoChannel::State::kOpen);
}

TEST_F(EchoCheckpointTest, OpenIdle) {
  gpadl(4, 4);
  open(4, 4);
  Stream st{60, 600};  // 624 ring bytes each: 19 fit in a 4-page ring
  pump(*this, st, 2);
  ASSERT_GT(st.got, 0u);
  ASSERT_LT(st.got, st.n);
  ASSERT_FALSE(echo->waiting());
  check(*this, st, [](EchoWorld& w, Stream& s) { pump(w, s, 100); });
  EXPECT_EQ(echo->replies(), 60u);
}

TEST_F(EchoCheckpointTest, OpenWithAPacketWaitingForRoom) {
  gpadl(8, 2);
  open(8, 2);  // inbound: 4 KiB of data, three 1024-byte completions
  Stream st{20, 1000};
  while (st.sent < st.n && request(st.sent, st.size) == 0) ++st.sent;
  vmbus_ring_commit_write(&out);
  signal_host();
  ASSERT_TRUE(echo->waiting());
  ASSERT_EQ(echo->replies(), 3u);
  check(*this, st, [](EchoWorld& w, Stream& s) {
    // The guest reads what is there: its signal lets the waiting packet in first.
    pump(w, s, 100);
  });
  EXPECT_EQ(echo->replies(), 20u);
  EXPECT_FALSE(echo->waiting());
}

TEST_F(EchoCheckpointTest, Failed) {
  gpadl(4, 4);
  open(4, 4);
  ASSERT_EQ(request(0, 32), 0);
  vmbus_ring_commit_write(&out);
  uint32_t bad = 12;  // unaligned write_index
  std::memcpy(ring_base() + spec::kWriteIndexOffset, &bad, 4);
  signal_host();
  ASSERT_EQ(echo->state(), EchoChannel::State::kFailed);
  check(*this, Stream{6, 48}, [](EchoWorld& w, Stream& s) {
    w.signal_host();  // still failed: nothing
    w.close();
    w.open(4, 4);
    pump(w, s, 10);
  });
  EXPECT_EQ(echo->replies(), 6u);
  EXPECT_EQ(echo->failures(), 1u);
}

/// Restores `bytes` into a new world's server and echo; the InputError's text, or "".
std::string refused(const std::vector<uint8_t>& bytes) {
  EchoWorld w;
  try {
    w.restore(bytes);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

/// An echo waiting for room on an open channel, saved after a server whose channel the guest
/// closed: its ring ends and its waiting packet do not fit that server.
TEST(EchoCheckpoint, AnEchoThatDoesNotFitTheServerIsRefused) {
  auto waiting = [](EchoWorld& w) {
    w.gpadl(8, 2);
    w.open(8, 2);
    for (uint32_t k = 0; k < 20; ++k) ASSERT_EQ(w.request(k, 1000), 0);
    vmbus_ring_commit_write(&w.out);
    w.signal_host();
    ASSERT_TRUE(w.echo->waiting());
  };
  EchoWorld a, b;
  waiting(a);
  waiting(b);
  b.close();
  EXPECT_EQ(refused(a.save()), "");
  StateWriter w;
  b.live->save(w, "vmbus.server");
  a.echo->save(w, "vmbus.echo");
  std::string what = refused(w.finish());
  EXPECT_NE(what.find("checkpoint section vmbus.echo: attached"), std::string::npos) << what;
  // The other way round: a closed echo on an open channel.
  StateWriter v;
  a.live->save(v, "vmbus.server");
  b.echo->save(v, "vmbus.echo");
  what = refused(v.finish());
  EXPECT_NE(what.find("checkpoint section vmbus.echo: attached"), std::string::npos) << what;
}

TEST(EchoCheckpoint, ASavedPacketIsParsedAsTheReaderParsesIt) {
  EchoWorld w;
  w.gpadl(4, 4);
  w.open(4, 4);
  ASSERT_EQ(w.request(3, 40), 0);
  RingReader reader(*w.s.channels().at(1).outbound);
  ASSERT_EQ(reader.attach(), RingError::kOk);
  vmbus_ring_commit_write(&w.out);
  Packet read, parsed;
  ASSERT_EQ(reader.read(read), RingError::kOk);
  ASSERT_EQ(RingReader::parse(read.bytes, parsed), RingError::kOk);
  EXPECT_EQ(parsed.type, read.type);
  EXPECT_EQ(parsed.flags, read.flags);
  EXPECT_EQ(parsed.transaction_id, 4u);
  EXPECT_EQ(parsed.payload_offset, read.payload_offset);
  EXPECT_TRUE(parsed.bytes == read.bytes);
  std::vector<uint8_t> cut(read.bytes.begin(), read.bytes.end() - 8);
  EXPECT_EQ(RingReader::parse(cut, parsed), RingError::kPacketLargerThanAvailable);
  std::vector<uint8_t> typed = read.bytes;
  typed[0] = 0x42;
  EXPECT_EQ(RingReader::parse(typed, parsed), RingError::kUnknownPacketType);
  EXPECT_EQ(RingReader::parse(std::span<const uint8_t>(read.bytes.data(), 12), parsed),
            RingError::kTruncatedPacket);
}

}  // namespace
}  // namespace hvsim::vmbus
