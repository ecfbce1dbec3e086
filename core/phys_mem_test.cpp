// Tests of physical memory: first touch, dirty bits, code-page notification, hashing.
#include "core/phys_mem.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "core/hash.h"

namespace hvsim {
namespace {

constexpr uint64_t kPage = PhysicalMemory::kPageSize;

uint64_t hash_of(const PhysicalMemory& m) {
  Hasher h;
  m.hash_into(h);
  return h.digest();
}

TEST(PhysMem, SizeMustBeAPageMultiple) {
  EXPECT_THROW(PhysicalMemory(0), InputError);
  EXPECT_THROW(PhysicalMemory(4097), InputError);
  PhysicalMemory m(1 << 20);
  EXPECT_EQ(m.size(), 1u << 20);
  EXPECT_EQ(m.page_count(), 256u);
}

TEST(PhysMem, StartsZeroAndUntouched) {
  PhysicalMemory m(64 * kPage);
  EXPECT_EQ(m.load<uint64_t>(5 * kPage + 8), 0u);
  EXPECT_EQ(m.touched_pages(), 0u);
  EXPECT_FALSE(m.touched(5));
  EXPECT_FALSE(m.dirty(5));
}

TEST(PhysMem, FirstTouchAndDirty) {
  PhysicalMemory m(200 * kPage);
  m.store<uint32_t>(3 * kPage + 4, 0xDEADBEEF);
  EXPECT_EQ(m.load<uint32_t>(3 * kPage + 4), 0xDEADBEEFu);
  EXPECT_TRUE(m.touched(3));
  EXPECT_TRUE(m.dirty(3));
  EXPECT_FALSE(m.touched(2));
  EXPECT_FALSE(m.touched(4));
  // A write straddling a page boundary marks both pages.
  m.store<uint64_t>(10 * kPage - 4, ~uint64_t{0});
  EXPECT_TRUE(m.touched(9));
  EXPECT_TRUE(m.touched(10));
  m.clear_dirty();
  EXPECT_FALSE(m.dirty(3));
  EXPECT_TRUE(m.touched(3));  // touched survives clear_dirty
  m.write_ptr(150 * kPage, 1)[0] = 7;
  EXPECT_TRUE(m.dirty(150));
  EXPECT_EQ(m.read_ptr(150 * kPage)[0], 7);
  EXPECT_EQ(m.touched_pages(), 4u);
  // Reads do not touch.
  uint8_t buf[16];
  m.read(100 * kPage, buf, sizeof buf);
  EXPECT_FALSE(m.touched(100));
  // Zero-length accesses touch nothing.
  m.write(0, buf, 0);
  m.note_write(0, 0);
  EXPECT_FALSE(m.touched(0));
}

TEST(PhysMem, OutOfRangeAccessIsInternalError) {
  PhysicalMemory m(4 * kPage);
  uint8_t buf[8] = {};
  EXPECT_THROW(m.read(4 * kPage - 4, buf, 8), InternalError);
  EXPECT_THROW(m.write(4 * kPage, buf, 1), InternalError);
  EXPECT_THROW(m.write(~uint64_t{0}, buf, 2), InternalError);
  EXPECT_TRUE(m.contains(0, 4 * kPage));
  EXPECT_FALSE(m.contains(1, 4 * kPage));
  EXPECT_FALSE(m.contains(4 * kPage, 0));
}

TEST(PhysMem, TouchedListIsAscending) {
  PhysicalMemory m(256 * kPage);
  for (uint64_t pfn : {130, 2, 64, 63, 255, 0, 129}) m.store<uint8_t>(pfn * kPage, 1);
  EXPECT_EQ(m.touched_list(), (std::vector<uint64_t>{0, 2, 63, 64, 129, 130, 255}));
  EXPECT_EQ(m.touched_pages(), 7u);
}

TEST(PhysMem, CodePageListenerFiresOncePerMark) {
  PhysicalMemory m(16 * kPage);
  std::vector<uint64_t> calls;
  m.add_code_write_listener([&](uint64_t pfn) { calls.push_back(pfn); });
  m.mark_code_page(3);
  EXPECT_TRUE(m.is_code_page(3));
  m.store<uint8_t>(3 * kPage, 1);
  m.store<uint8_t>(3 * kPage + 1, 2);
  EXPECT_EQ(calls, (std::vector<uint64_t>{3}));
  EXPECT_FALSE(m.is_code_page(3));
  m.mark_code_page(3);
  m.store<uint8_t>(3 * kPage + 2, 3);
  EXPECT_EQ(calls, (std::vector<uint64_t>{3, 3}));
  // A write spanning two code pages notifies both, in order; other pages never.
  m.mark_code_page(5);
  m.mark_code_page(6);
  m.store<uint32_t>(6 * kPage - 2, 0);
  m.store<uint8_t>(7 * kPage, 0);
  EXPECT_EQ(calls, (std::vector<uint64_t>{3, 3, 5, 6}));
  // The listener runs before the write lands (so it can still see the old bytes).
  m.mark_code_page(8);
  m.store<uint8_t>(8 * kPage, 0x11);
  uint8_t seen = 0;
  m.add_code_write_listener([&](uint64_t pfn) { seen = m.load<uint8_t>(pfn * kPage); });
  m.mark_code_page(8);
  m.store<uint8_t>(8 * kPage, 0x22);
  EXPECT_EQ(seen, 0x11);
}

TEST(PhysMem, ClearZeroesAndNotifiesCodePages) {
  PhysicalMemory m(128 * kPage);
  std::vector<uint64_t> calls;
  m.add_code_write_listener([&](uint64_t pfn) { calls.push_back(pfn); });
  m.store<uint64_t>(70 * kPage, 1234);
  m.mark_code_page(70);
  m.mark_code_page(2);
  m.clear();
  EXPECT_EQ(calls, (std::vector<uint64_t>{2, 70}));
  EXPECT_EQ(m.load<uint64_t>(70 * kPage), 0u);
  EXPECT_EQ(m.touched_pages(), 0u);
  EXPECT_FALSE(m.dirty(70));
  EXPECT_FALSE(m.is_code_page(70));
  // Usable again after clear.
  m.store<uint64_t>(70 * kPage, 5);
  EXPECT_EQ(m.load<uint64_t>(70 * kPage), 5u);
}

TEST(PhysMem, HashDependsOnlyOnContent) {
  PhysicalMemory a(64 * kPage), b(64 * kPage), empty(64 * kPage);
  const char text[] = "hello, hvsim";
  // a: written directly; plus a page touched but left zero.
  a.write(5 * kPage + 100, text, sizeof text);
  a.store<uint64_t>(9 * kPage, 0);
  // b: garbage first, then overwritten to the same content in a different order.
  b.store<uint64_t>(40 * kPage, 77);
  b.write(5 * kPage + 100, "XXXXXXXXXXXX", 12);
  b.store<uint64_t>(40 * kPage, 0);
  b.write(5 * kPage + 100, text, sizeof text);
  EXPECT_EQ(hash_of(a), hash_of(b));
  EXPECT_NE(hash_of(a), hash_of(empty));
  // Moving the same bytes to another page changes the hash.
  PhysicalMemory c(64 * kPage);
  c.write(6 * kPage + 100, text, sizeof text);
  EXPECT_NE(hash_of(a), hash_of(c));
  // Cleared memory hashes like fresh memory.
  a.clear();
  EXPECT_EQ(hash_of(a), hash_of(empty));
}

}  // namespace
}  // namespace hvsim
