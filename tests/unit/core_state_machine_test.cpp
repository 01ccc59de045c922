#include "hyvd/core/state_machine.hpp"

#include <gtest/gtest.h>

#include <set>
#include <utility>

namespace hyv::core {
namespace {

using S = AssignmentState;

constexpr S all_states[] = {S::attaching_intent,      S::mdev_created, S::hotplugged, S::attached, S::detaching,
                            S::detached_mdev_present, S::inactive,     S::failed,     S::removed};

TEST(StateMachine, AttachPathIsValidStepByStep)
{
    EXPECT_TRUE(is_valid_transition(S::attaching_intent, S::mdev_created));
    EXPECT_TRUE(is_valid_transition(S::mdev_created, S::hotplugged));
    EXPECT_TRUE(is_valid_transition(S::hotplugged, S::attached));
}

TEST(StateMachine, DetachPathIsValidStepByStep)
{
    EXPECT_TRUE(is_valid_transition(S::attached, S::detaching));
    EXPECT_TRUE(is_valid_transition(S::detaching, S::detaching));  // retry after a timeout
    EXPECT_TRUE(is_valid_transition(S::detaching, S::detached_mdev_present));
    EXPECT_TRUE(is_valid_transition(S::detached_mdev_present, S::removed));
}

TEST(StateMachine, SkippingAStepIsRejected)
{
    // Each of these would take an action without having persisted the intent first.
    const std::pair<S, S> skips[] = {
        {S::attaching_intent, S::hotplugged},  // hot-add before mdev_created was recorded
        {S::attaching_intent, S::attached},
        {S::mdev_created, S::attached},  // attached without a recorded hot-add
        {S::attached, S::removed},       // delete without detaching
        {S::detaching, S::removed},      // remove mdev without recording the release
        {S::attached, S::hotplugged},
        {S::detached_mdev_present, S::attached},
        {S::detaching, S::attached},
    };
    for (const auto& [from, to] : skips) {
        EXPECT_FALSE(is_valid_transition(from, to)) << to_string(from) << " -> " << to_string(to);
        auto checked = check_transition(from, to);
        ASSERT_FALSE(checked.ok());
        EXPECT_EQ(checked.error().code, "invalid-transition");
        EXPECT_NE(checked.error().message.find(std::string(to_string(from))), std::string::npos);
    }
}

TEST(StateMachine, RemovedIsTerminal)
{
    for (S to : all_states) {
        EXPECT_FALSE(is_valid_transition(S::removed, to)) << "removed -> " << to_string(to);
    }
}

TEST(StateMachine, EveryStateCanReachRemoved)
{
    // Whatever a crash leaves behind, cleanup has a path to the end.
    for (S start : all_states) {
        std::set<S> reached{start};
        bool grew = true;
        while (grew) {
            grew = false;
            for (const auto& t : transition_table()) {
                if (reached.count(t.from) && !reached.count(t.to)) {
                    reached.insert(t.to);
                    grew = true;
                }
            }
        }
        EXPECT_TRUE(reached.count(S::removed)) << to_string(start) << " cannot reach removed";
    }
}

TEST(StateMachine, TableHasNoDuplicatesAndEveryEntryHasAReason)
{
    std::set<std::pair<S, S>> seen;
    for (const auto& t : transition_table()) {
        EXPECT_TRUE(seen.insert({t.from, t.to}).second) << to_string(t.from) << " -> " << to_string(t.to);
        EXPECT_FALSE(t.reason.empty());
    }
}

TEST(StateMachine, InBetweenStatesAreTheOnesReconcileMustFinish)
{
    EXPECT_FALSE(is_in_between(S::attached));
    EXPECT_FALSE(is_in_between(S::inactive));
    for (S s :
         {S::attaching_intent, S::mdev_created, S::hotplugged, S::detaching, S::detached_mdev_present, S::failed}) {
        EXPECT_TRUE(is_in_between(s)) << to_string(s);
    }
}

}  // namespace
}  // namespace hyv::core
