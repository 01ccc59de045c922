// One operation's record keeping: every assignment state change is written together
// with its event (same transaction), after the transition table approved it.
#pragma once

#include "hyvd/core/ports.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace hyv::core {

// "op-" followed by 16 random hex digits; shows up in events, logs and API replies.
std::string new_op_id();

class SystemClock final : public Clock {
public:
    TimeMs now() override;
};

class Journal {
public:
    Journal(Store& store, Clock& clock, std::string op_id) : store_(store), clock_(clock), op_id_(std::move(op_id)) {}

    const std::string& op_id() const { return op_id_; }
    TimeMs now() { return clock_.now(); }

    // An event not tied to a state change.
    Result<void> note(std::string_view kind, const std::string& message, const std::string& vm = {},
                      const std::string& guid = {}, const std::string& mdev = {});
    Result<void> note(const Assignment& a, std::string_view kind, const std::string& message);

    // Writes a new assignment row (normally in attaching_intent) with its event, and records its
    // mdev UUID as hyvd's own (Store::own_mdev), and its identity link, made on `link_parent`, too.
    Result<void> insert(Assignment& a, std::string_view kind, const std::string& message,
                        const std::string& link_parent = {});

    // Moves `a` to `to` in the store (compare-and-set on its current state) and logs the
    // event, atomically; `edit` may change other fields of the new row. State `removed`
    // deletes the row. On success `a` holds what was written; on error it is unchanged.
    Result<void> transition(Assignment& a, AssignmentState to, std::string_view kind, const std::string& message,
                            const std::function<void(Assignment&)>& edit = {});

private:
    Store& store_;
    Clock& clock_;
    std::string op_id_;
};

}  // namespace hyv::core
