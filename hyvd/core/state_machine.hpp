// The assignment state machine: which state may follow which, and why.
// Every state change in the core goes through check_transition(), so an
// invalid change is an error value, never a silently written row.
#pragma once

#include "hyv/result.hpp"
#include "hyv/types.hpp"

#include <span>
#include <string_view>

namespace hyv::core {

struct Transition {
    AssignmentState from;
    AssignmentState to;
    std::string_view reason;  // the step this transition records
};

// The complete table; anything not listed is invalid.
std::span<const Transition> transition_table();

bool is_valid_transition(AssignmentState from, AssignmentState to);
// Error "invalid-transition" naming both states.
Result<void> check_transition(AssignmentState from, AssignmentState to);

// States reconcile() must act on: an operation was interrupted in them.
bool is_in_between(AssignmentState state);

}  // namespace hyv::core
