#include "hyvd/core/state_machine.hpp"

#include "hyv/error_codes.hpp"

#include <algorithm>
#include <string>

namespace hyv::core {
namespace {

using S = AssignmentState;

constexpr Transition transitions[] = {
    // attach
    {S::attaching_intent, S::mdev_created, "mdev created and quota set"},
    {S::attaching_intent, S::detached_mdev_present, "attach rolled back; the mdev may exist"},
    {S::attaching_intent, S::removed, "attach rolled back before any mdev existed"},
    {S::mdev_created, S::hotplugged, "device_add succeeded"},
    {S::mdev_created, S::detached_mdev_present, "hot-add failed or VM gone; roll back the mdev"},
    {S::mdev_created, S::inactive, "persistent assignment's VM stopped before hot-add"},
    {S::mdev_created, S::detaching, "interrupted attach left the device in the VM; take it out"},
    {S::hotplugged, S::attached, "guest PCI function verified"},
    {S::hotplugged, S::detaching, "verification failed; take the device back out"},
    {S::hotplugged, S::detached_mdev_present, "VM stopped right after hot-add"},
    {S::hotplugged, S::inactive, "persistent assignment's VM stopped right after hot-add"},
    // detach
    {S::attached, S::detaching, "detach requested"},
    {S::detaching, S::detaching, "device_del retried"},
    {S::detaching, S::detached_mdev_present, "QEMU released the device"},
    {S::detaching, S::inactive, "persistent assignment's VM stopped during detach"},
    {S::detached_mdev_present, S::removed, "mdev removed"},
    {S::detached_mdev_present, S::failed, "mdev removal failed"},
    // VM lifecycle
    {S::attached, S::inactive, "persistent assignment's VM stopped; mdev kept"},
    {S::attached, S::detached_mdev_present, "VM stopped or lost the device; release the mdev"},
    {S::attached, S::mdev_created, "device vanished from a running VM; re-plug (persistent)"},
    {S::inactive, S::mdev_created, "VM running again; mdev (re)created, re-plug"},
    {S::inactive, S::detached_mdev_present, "detach of a stopped VM's persistent assignment"},
    {S::inactive, S::detaching, "detach while the VM holds the device again"},
    {S::inactive, S::attached, "VM started with the device already in it"},
    // trouble
    {S::attaching_intent, S::failed, "mdev creation failed and could not be undone"},
    {S::mdev_created, S::failed, "hot-add failed and rollback failed"},
    {S::hotplugged, S::failed, "verification failed and rollback failed"},
    {S::detaching, S::failed, "device_del failed"},
    {S::inactive, S::failed, "mdev of a stopped VM could not be kept"},
    {S::failed, S::detaching, "retry cleanup: the VM still holds the device"},
    {S::failed, S::detached_mdev_present, "retry cleanup: no QEMU holds the mdev"},
};

}  // namespace

std::span<const Transition> transition_table()
{
    return transitions;
}

bool is_valid_transition(AssignmentState from, AssignmentState to)
{
    return std::any_of(std::begin(transitions), std::end(transitions),
                       [&](const Transition& t) { return t.from == from && t.to == to; });
}

Result<void> check_transition(AssignmentState from, AssignmentState to)
{
    if (is_valid_transition(from, to)) {
        return {};
    }
    return make_error(errc::invalid_transition, "assignment cannot go from " + std::string(to_string(from)) + " to " +
                                                    std::string(to_string(to)) + " (bug in hyvd: please report)");
}

bool is_in_between(AssignmentState state)
{
    switch (state) {
    case S::attaching_intent:
    case S::mdev_created:
    case S::hotplugged:
    case S::detaching:
    case S::detached_mdev_present:
    case S::failed: return true;
    case S::attached:
    case S::inactive:
    case S::removed: return false;
    }
    return true;
}

}  // namespace hyv::core
