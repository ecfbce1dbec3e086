// Unit tests of ports and connections (TLFS "Ports and Connections"; dossier §4.7): id and
// range rules, connections per sender partition, a deleted port leaves a useless connection.
#include "hv/ports.h"

#include <gtest/gtest.h>

namespace hvsim::hv {
namespace {

Port message_port(uint32_t id, PartitionId part, unsigned sint) {
  Port p;
  p.id = id;
  p.partition = part;
  p.sint = sint;
  return p;
}

Port event_port(uint32_t id, unsigned sint, uint16_t base, uint16_t count) {
  Port p = message_port(id, 1, sint);
  p.type = PortType::kEvent;
  p.base_flag = base;
  p.flag_count = count;
  return p;
}

TEST(PortTable, PortRules) {
  PortTable t;
  EXPECT_EQ(t.create_port(message_port(0, 1, 2)), PortError::kBadId);
  EXPECT_EQ(t.create_port(message_port(0x1000000, 1, 2)), PortError::kBadId);
  EXPECT_EQ(t.create_port(message_port(5, 1, 16)), PortError::kBadSint);
  EXPECT_EQ(t.create_port(message_port(5, 1, 2)), PortError::kOk);
  EXPECT_EQ(t.create_port(message_port(5, 1, 3)), PortError::kIdInUse);
  EXPECT_EQ(t.create_port(message_port(0xFFFFFF, 1, 15)), PortError::kOk);
  EXPECT_EQ(t.create_port(event_port(6, 2, 0, 0)), PortError::kBadFlagRange);
  EXPECT_EQ(t.create_port(event_port(6, 2, 2000, 49)), PortError::kBadFlagRange);
  EXPECT_EQ(t.create_port(event_port(6, 2, 2000, 48)), PortError::kOk);
  ASSERT_NE(t.port(6), nullptr);
  EXPECT_EQ(t.port(6)->type, PortType::kEvent);
  EXPECT_EQ(t.port(6)->base_flag, 2000);
  EXPECT_EQ(t.port(7), nullptr);
  EXPECT_EQ(t.ports(), 3u);
}

TEST(PortTable, ConnectionsBelongToTheirSender) {
  PortTable t;
  ASSERT_EQ(t.create_port(message_port(10, 1, 2)), PortError::kOk);
  EXPECT_EQ(t.connect(1, 4, 11), PortError::kNoSuchPort);
  EXPECT_EQ(t.connect(1, 0, 10), PortError::kBadId);
  EXPECT_EQ(t.connect(1, 4, 10), PortError::kOk);
  EXPECT_EQ(t.connect(1, 4, 10), PortError::kIdInUse);
  EXPECT_EQ(t.connect(2, 4, 10), PortError::kOk);  // the same id in another partition
  ASSERT_NE(t.connection(1, 4), nullptr);
  EXPECT_EQ(*t.connection(1, 4), 10u);
  EXPECT_EQ(t.connection(3, 4), nullptr);
  EXPECT_EQ(t.connection(1, 5), nullptr);
  EXPECT_EQ(t.disconnect(2, 4), PortError::kOk);
  EXPECT_EQ(t.connection(2, 4), nullptr);
  EXPECT_EQ(t.disconnect(2, 4), PortError::kNoSuchConnection);
  // A deleted port leaves its connection, which now leads nowhere.
  EXPECT_EQ(t.delete_port(10), PortError::kOk);
  ASSERT_NE(t.connection(1, 4), nullptr);
  EXPECT_EQ(t.port(*t.connection(1, 4)), nullptr);
  EXPECT_EQ(t.delete_port(10), PortError::kNoSuchPort);
}

}  // namespace
}  // namespace hvsim::hv
