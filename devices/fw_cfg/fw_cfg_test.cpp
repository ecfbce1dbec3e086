#include "devices/fw_cfg/fw_cfg.h"

#include <gtest/gtest.h>

#include "core/state.h"
#include "devices/fw_cfg/spec/keys.h"

namespace hvsim {
namespace {

uint64_t read_item(FwCfg& f, fw_cfg::Key key, int bytes) {
  f.io_write(fw_cfg::kSelectorPort, 2, static_cast<uint16_t>(key));
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{f.io_read(fw_cfg::kDataPort, 1)} << (8 * i);
  return v;
}

TEST(FwCfg, ReportsPlatformKeys) {
  FwCfg f({uint64_t{256} << 20, 3, 3, 0});
  EXPECT_EQ(read_item(f, fw_cfg::Key::kSignature, 4), 0x554D4551u);  // "QEMU"
  EXPECT_EQ(read_item(f, fw_cfg::Key::kRamSize, 8), uint64_t{256} << 20);
  EXPECT_EQ(read_item(f, fw_cfg::Key::kNbCpus, 2), 3u);
  EXPECT_EQ(read_item(f, fw_cfg::Key::kMaxCpus, 2), 3u);
  EXPECT_EQ(read_item(f, fw_cfg::Key::kMaxRam, 8), 0u);
}

TEST(FwCfg, ReadsPastEndAndUnknownKeysAreZero) {
  FwCfg f({4096, 1, 1, 0});
  EXPECT_EQ(read_item(f, fw_cfg::Key::kNbCpus, 4), 1u);  // 2 bytes of item, then zeroes
  f.io_write(fw_cfg::kSelectorPort, 2, 0x1234);
  EXPECT_EQ(f.io_read(fw_cfg::kDataPort, 1), 0u);
}

TEST(FwCfg, SelectorWriteResetsOffsetAndSurvivesRestore) {
  FwCfg f({uint64_t{1} << 30, 1, 1, 0});
  f.io_write(fw_cfg::kSelectorPort, 2, static_cast<uint16_t>(fw_cfg::Key::kRamSize));
  f.io_read(fw_cfg::kDataPort, 1);
  f.io_read(fw_cfg::kDataPort, 1);
  f.io_read(fw_cfg::kDataPort, 1);
  StateWriter w;
  f.save(w);
  FwCfg g({uint64_t{1} << 30, 1, 1, 0});
  StateReader r(w.finish(), "test");
  g.restore(r);
  EXPECT_EQ(g.io_read(fw_cfg::kDataPort, 1), 0x40u);  // byte 3 of 0x40000000
}

}  // namespace
}  // namespace hvsim
