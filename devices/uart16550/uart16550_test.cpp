#include "devices/uart16550/uart16550.h"

#include <gtest/gtest.h>

#include "core/inspect.h"
#include "core/state.h"
#include "devices/uart16550/spec/regs.h"

namespace hvsim {
namespace {

constexpr uint16_t kBase = 0x3F8;

TEST(Uart16550, TransmitGoesToSinkAndLsrAlwaysReady) {
  Uart16550 u;
  std::string out;
  u.set_sink([&](uint8_t b) { out.push_back(static_cast<char>(b)); });
  EXPECT_EQ(u.io_read(kBase + 5, 1) & uart16550::kLsrThrEmpty, uart16550::kLsrThrEmpty);
  for (char c : std::string("hi\n")) u.io_write(kBase, 1, static_cast<uint8_t>(c));
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(u.io_read(kBase + 5, 1) & 0x61, 0x60);  // THRE|TEMT, no data ready
}

TEST(Uart16550, ReceiveQueueAndDataReady) {
  Uart16550 u;
  u.receive("ab");
  EXPECT_EQ(u.io_read(kBase + 5, 1) & 1, 1);
  EXPECT_EQ(u.io_read(kBase, 1), 'a');
  EXPECT_EQ(u.io_read(kBase, 1), 'b');
  EXPECT_EQ(u.io_read(kBase + 5, 1) & 1, 0);
  EXPECT_EQ(u.io_read(kBase, 1), 0u);  // empty: reads 0, no crash
}

TEST(Uart16550, DivisorLatchAndScratch) {
  Uart16550 u;
  u.io_write(kBase + 3, 1, 0x80);  // DLAB
  u.io_write(kBase + 0, 1, 0x01);
  u.io_write(kBase + 1, 1, 0x02);
  EXPECT_EQ(u.io_read(kBase + 0, 1), 0x01u);
  EXPECT_EQ(u.io_read(kBase + 1, 1), 0x02u);
  u.io_write(kBase + 3, 1, 0x03);  // 8N1, DLAB off
  u.io_write(kBase + 7, 1, 0x5A);
  EXPECT_EQ(u.io_read(kBase + 7, 1), 0x5Au);
  EXPECT_EQ(u.io_read(kBase + 3, 1), 0x03u);
}

TEST(Uart16550, LoopbackReturnsTransmittedBytes) {
  Uart16550 u;
  std::string out;
  u.set_sink([&](uint8_t b) { out.push_back(static_cast<char>(b)); });
  u.io_write(kBase + 4, 1, uart16550::kMcrLoop);
  u.io_write(kBase, 1, 'x');
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(u.io_read(kBase, 1), 'x');
}

TEST(Uart16550, ThrEmptyInterruptIdentification) {
  Uart16550 u;
  EXPECT_EQ(u.io_read(kBase + 2, 1) & 0x0F, uart16550::kIirNoInterrupt);
  u.io_write(kBase + 1, 1, uart16550::kIerThrEmpty);
  EXPECT_EQ(u.io_read(kBase + 2, 1) & 0x0F, uart16550::kIirThrEmpty);
  EXPECT_EQ(u.io_read(kBase + 2, 1) & 0x0F, uart16550::kIirNoInterrupt);  // acknowledged
}

TEST(Uart16550, SaveRestoreRoundTrip) {
  Uart16550 a;
  a.io_write(kBase + 7, 1, 0x42);
  a.io_write(kBase + 3, 1, 0x03);
  a.receive("zz");
  StateWriter w;
  a.save(w);
  StateReader r(w.finish(), "test");
  Uart16550 b;
  b.restore(r);
  EXPECT_EQ(b.io_read(kBase + 7, 1), 0x42u);
  EXPECT_EQ(b.io_read(kBase + 3, 1), 0x03u);
  EXPECT_EQ(b.io_read(kBase, 1), 'z');
  InspectNode n;
  b.inspect(n);
  EXPECT_NE(n.to_json().find("\"rx_bytes\""), std::string::npos);
}

}  // namespace
}  // namespace hvsim
