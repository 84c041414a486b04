#include "core/writer_slot.h"

#include <latch>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace modelwatch::core {
namespace {

// Runs `threads` threads that each take a slot and hold it until all have one; returns the slots.
std::vector<int> SlotsHeldTogether(int threads) {
  std::vector<int> slots(threads);
  std::latch all_hold(threads);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      slots[i] = WriterSlot::Current();
      all_hold.arrive_and_wait();
    });
  }
  for (std::thread& t : pool) t.join();
  return slots;
}

class WriterSlotTest : public ::testing::Test {
 protected:
  // The test thread itself never takes a slot, so every slot is free when a test starts.
  void TearDown() override { WriterSlot::SetCapacity(WriterSlot::kDefaultCapacity); }
};

TEST_F(WriterSlotTest, DefaultCapacityIsSixteen) { EXPECT_EQ(WriterSlot::Capacity(), 16); }

TEST_F(WriterSlotTest, ThreadKeepsItsSlot) {
  int first = -2, second = -2;
  std::thread([&] {
    first = WriterSlot::Current();
    second = WriterSlot::Current();
  }).join();
  EXPECT_GE(first, 0);
  EXPECT_LT(first, WriterSlot::Capacity());
  EXPECT_EQ(first, second);
}

TEST_F(WriterSlotTest, ConcurrentThreadsGetDistinctSlots) {
  std::vector<int> slots = SlotsHeldTogether(8);
  std::set<int> distinct(slots.begin(), slots.end());
  EXPECT_EQ(distinct.size(), 8u);
  for (int slot : slots) {
    EXPECT_GE(slot, 0);
    EXPECT_LT(slot, 16);
  }
}

TEST_F(WriterSlotTest, ExitedThreadReturnsItsSlot) {
  WriterSlot::SetCapacity(1);
  for (int i = 0; i < 3; ++i) {
    int slot = -2;
    std::thread([&] { slot = WriterSlot::Current(); }).join();
    EXPECT_EQ(slot, 0) << "thread " << i;
  }
}

TEST_F(WriterSlotTest, ThreadsBeyondCapacityOverflowAndAreCounted) {
  WriterSlot::SetCapacity(3);
  const long overflows_before = WriterSlot::OverflowAcquisitions();

  std::vector<int> slots = SlotsHeldTogether(5);

  std::multiset<int> got(slots.begin(), slots.end());
  EXPECT_EQ(got, (std::multiset<int>{WriterSlot::kOverflow, WriterSlot::kOverflow, 0, 1, 2}));
  EXPECT_EQ(WriterSlot::OverflowAcquisitions() - overflows_before, 2);
}

TEST_F(WriterSlotTest, CapacityIsClamped) {
  WriterSlot::SetCapacity(0);
  EXPECT_EQ(WriterSlot::Capacity(), 1);
  WriterSlot::SetCapacity(1 << 30);
  EXPECT_EQ(WriterSlot::Capacity(), WriterSlot::kMaxCapacity);
}

}  // namespace
}  // namespace modelwatch::core
