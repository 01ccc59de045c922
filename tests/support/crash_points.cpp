#include "crash_points.hpp"

#include <unistd.h>

namespace hyv::test {
namespace {

// Store transactions this thread is inside of (CrashingStore::transaction).
thread_local int transaction_depth = 0;

}  // namespace

void CrashPlan::step(const char* what, bool after_effect)
{
    if (!armed) {
        return;
    }
    const int now = ++steps;
    if (observe) {
        observe(now, what, Where{after_effect, transaction_depth > 0});
    }
    const bool at_point = !crash_at_point.empty() && crash_at_point == what && ++point_hits == crash_at_occurrence;
    if (now != crash_at && !at_point) {
        return;
    }
    if (crash) {
        crash(now);
    }
    _exit(crash_exit_code);
}

namespace {

// Runs `call` between two crash steps: one before its effect, one after it.
template <typename Call>
auto around(CrashPlan& crash, const char* what, Call&& call)
{
    crash.step(what);
    auto result = call();
    crash.step(what, true);
    return result;
}

}  // namespace

Result<void> CrashingStore::transaction(const std::function<Result<void>()>& body)
{
    crash_.step("store.transaction");
    ++transaction_depth;
    auto result = inner_.transaction(body);
    --transaction_depth;
    return result;
}

Result<void> CrashingStore::upsert_device(const core::HostDevice& device, core::TimeMs now)
{
    crash_.step("store.upsert_device");
    return inner_.upsert_device(device, now);
}

Result<void> CrashingStore::mark_device_vanished(const Guid& guid, core::TimeMs now)
{
    crash_.step("store.mark_device_vanished");
    return inner_.mark_device_vanished(guid, now);
}

Result<void> CrashingStore::insert_vm(const core::VmRecord& vm)
{
    crash_.step("store.insert_vm");
    return inner_.insert_vm(vm);
}

Result<void> CrashingStore::delete_vm(const VmId& vm)
{
    crash_.step("store.delete_vm");
    return inner_.delete_vm(vm);
}

Result<void> CrashingStore::set_vm_observed_state(const VmId& vm, bool running, core::TimeMs now)
{
    crash_.step("store.set_vm_observed_state");
    return inner_.set_vm_observed_state(vm, running, now);
}

Result<void> CrashingStore::insert_assignment(const core::Assignment& assignment)
{
    crash_.step("store.insert_assignment");
    return inner_.insert_assignment(assignment);
}

Result<void> CrashingStore::update_assignment(const core::Assignment& assignment, AssignmentState expected)
{
    crash_.step("store.update_assignment");
    return inner_.update_assignment(assignment, expected);
}

Result<void> CrashingStore::delete_assignment(const VmId& vm, const Guid& guid)
{
    crash_.step("store.delete_assignment");
    return inner_.delete_assignment(vm, guid);
}

Result<void> CrashingStore::own_mdev(const MdevUuid& mdev, const Guid& guid, core::TimeMs now, const std::string& op_id)
{
    crash_.step("store.own_mdev");
    return inner_.own_mdev(mdev, guid, now, op_id);
}

Result<void> CrashingStore::disown_mdev(const MdevUuid& mdev)
{
    crash_.step("store.disown_mdev");
    return inner_.disown_mdev(mdev);
}

Result<void> CrashingStore::own_link(const std::string& name, const std::string& parent, const MdevUuid& mdev,
                                     core::TimeMs now, const std::string& op_id)
{
    crash_.step("store.own_link");
    return inner_.own_link(name, parent, mdev, now, op_id);
}

Result<void> CrashingStore::disown_link(const std::string& name)
{
    crash_.step("store.disown_link");
    return inner_.disown_link(name);
}

Result<std::int64_t> CrashingStore::append_event(const core::Event& event)
{
    crash_.step("store.append_event");
    return inner_.append_event(event);
}

Result<void> CrashingMdevControl::create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid)
{
    return around(crash_, "mdev.create", [&] { return inner_.create(parent_path, type, uuid); });
}

Result<void> CrashingMdevControl::set_quota(const MdevUuid& uuid, const Quota& quota)
{
    return around(crash_, "mdev.set_quota", [&] { return inner_.set_quota(uuid, quota); });
}

Result<void> CrashingMdevControl::set_identity(const MdevUuid& uuid, const core::GidScope& scope)
{
    return around(crash_, "mdev.set_identity", [&] { return inner_.set_identity(uuid, scope); });
}

Result<void> CrashingNetIdentity::create(const core::IdentityLink& link)
{
    return around(crash_, "identity.create", [&] { return inner_.create(link); });
}

Result<void> CrashingNetIdentity::remove(const std::string& name)
{
    return around(crash_, "identity.remove", [&] { return inner_.remove(name); });
}

Result<void> CrashingMdevControl::remove(const MdevUuid& uuid)
{
    return around(crash_, "mdev.remove", [&] { return inner_.remove(uuid); });
}

Result<std::string> CrashingHypervisor::hot_add(const core::VmRecord& vm, const MdevUuid& mdev,
                                                const std::string& qdev_id)
{
    return around(crash_, "hypervisor.hot_add", [&] { return inner_.hot_add(vm, mdev, qdev_id); });
}

Result<void> CrashingHypervisor::hot_remove(const core::VmRecord& vm, const std::string& qdev_id,
                                            std::chrono::milliseconds timeout)
{
    return around(crash_, "hypervisor.hot_remove", [&] { return inner_.hot_remove(vm, qdev_id, timeout); });
}

Result<void> CrashingHypervisor::record(const core::VmRecord& vm, const core::Assignment& a)
{
    return around(crash_, "hypervisor.record", [&] { return inner_.record(vm, a); });
}

Result<void> CrashingHypervisor::forget(const core::VmRecord& vm, const core::Assignment& a)
{
    return around(crash_, "hypervisor.forget", [&] { return inner_.forget(vm, a); });
}

}  // namespace hyv::test
