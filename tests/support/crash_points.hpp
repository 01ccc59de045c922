// Crash injection for hyvd's ports: every mutating call is a numbered "step" (once before its
// effect, once after); when the step number reaches CrashPlan::crash_at the process dies on the
// spot. Used by the unit crash test (forked children over fakes, _exit) and by the crash-point
// build of the real hyvd (real sqlite, sysfs and QEMU, SIGKILL).
#pragma once

#include "hyvd/core/ports.hpp"

#include <atomic>
#include <functional>
#include <string>

namespace hyv::test {

struct CrashPlan {
    static constexpr int crash_exit_code = 77;

    int crash_at = 0;  // 0: never
    // Or by name: the crash_at_occurrence-th step called crash_at_point ("hypervisor.hot_add", whose
    // 1st step is before the call's effect and 2nd after it). Empty: by number only.
    std::string crash_at_point;
    int crash_at_occurrence = 1;
    std::atomic<int> steps = 0;  // steps taken so far in this process (concurrent tests share it)
    std::atomic<int> point_hits = 0;
    std::atomic<bool> armed = true;
    // How to die; the default _exit()s with crash_exit_code (no destructors, no rollback).
    std::function<void(int step)> crash;
    // Where a step is. after_effect: the second step of a call, after its effect; nothing changes
    // between it and the next step, so a crash there leaves what a crash at the next step leaves.
    // in_transaction: inside a store transaction's body (this thread's), whose store writes a crash
    // rolls back.
    struct Where {
        bool after_effect = false;
        bool in_transaction = false;
    };
    // Called at every step while armed, before the crash decision (the crash-point hyvd logs them).
    std::function<void(int step, const char* what, Where where)> observe;

    void step(const char* what = "", bool after_effect = false);
};

// Wraps a store: each mutating call is a crash step (before it runs).
class CrashingStore final : public core::Store {
public:
    CrashingStore(core::Store& inner, CrashPlan& crash) : inner_(inner), crash_(crash) {}

    Result<void> transaction(const std::function<Result<void>()>& body) override;
    Result<void> upsert_device(const core::HostDevice& device, core::TimeMs now) override;
    Result<void> mark_device_vanished(const Guid& guid, core::TimeMs now) override;
    Result<std::optional<core::DeviceRecord>> device(const Guid& guid) override { return inner_.device(guid); }
    Result<std::vector<core::DeviceRecord>> devices() override { return inner_.devices(); }
    Result<void> insert_vm(const core::VmRecord& vm) override;
    Result<void> delete_vm(const VmId& vm) override;
    Result<std::optional<core::VmRecord>> vm(const VmId& vm) override { return inner_.vm(vm); }
    Result<std::vector<core::VmRecord>> vms() override { return inner_.vms(); }
    Result<void> set_vm_observed_state(const VmId& vm, bool running, core::TimeMs now) override;
    Result<void> insert_assignment(const core::Assignment& assignment) override;
    Result<void> update_assignment(const core::Assignment& assignment, AssignmentState expected) override;
    Result<void> delete_assignment(const VmId& vm, const Guid& guid) override;
    Result<std::optional<core::Assignment>> assignment(const VmId& vm, const Guid& guid) override
    {
        return inner_.assignment(vm, guid);
    }
    Result<std::vector<core::Assignment>> assignments() override { return inner_.assignments(); }
    Result<void> own_mdev(const MdevUuid& mdev, const Guid& guid, core::TimeMs now, const std::string& op_id) override;
    Result<void> disown_mdev(const MdevUuid& mdev) override;
    Result<std::vector<MdevUuid>> owned_mdevs() override { return inner_.owned_mdevs(); }
    Result<void> own_link(const std::string& name, const std::string& parent, const MdevUuid& mdev, core::TimeMs now,
                          const std::string& op_id) override;
    Result<void> disown_link(const std::string& name) override;
    Result<std::vector<std::string>> owned_links() override { return inner_.owned_links(); }
    Result<std::int64_t> append_event(const core::Event& event) override;
    Result<std::vector<core::Event>> events(std::int64_t since_id, std::size_t limit) override
    {
        return inner_.events(since_id, limit);
    }
    Result<std::int64_t> last_event_id() override { return inner_.last_event_id(); }

private:
    core::Store& inner_;
    CrashPlan& crash_;
};

// Wraps real mdev control: a step before and after each create/set_quota/set_identity/remove.
class CrashingMdevControl final : public core::MdevControl {
public:
    CrashingMdevControl(core::MdevControl& inner, CrashPlan& crash) : inner_(inner), crash_(crash) {}

    Result<void> create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid) override;
    Result<void> set_quota(const MdevUuid& uuid, const Quota& quota) override;
    Result<void> set_identity(const MdevUuid& uuid, const core::GidScope& scope) override;
    Result<void> remove(const MdevUuid& uuid) override;
    Result<bool> exists(const MdevUuid& uuid) override { return inner_.exists(uuid); }
    Result<std::vector<core::MdevInstance>> list() override { return inner_.list(); }

private:
    core::MdevControl& inner_;
    CrashPlan& crash_;
};

// Wraps real identity links: a step before and after each create/remove.
class CrashingNetIdentity final : public core::NetIdentity {
public:
    CrashingNetIdentity(core::NetIdentity& inner, CrashPlan& crash) : inner_(inner), crash_(crash) {}

    Result<void> create(const core::IdentityLink& link) override;
    Result<void> remove(const std::string& name) override;
    Result<bool> exists(const std::string& name) override { return inner_.exists(name); }
    Result<std::vector<std::string>> list_own() override { return inner_.list_own(); }

private:
    core::NetIdentity& inner_;
    CrashPlan& crash_;
};

// Wraps a real hypervisor adapter: a step before and after each hot_add/hot_remove/record/forget.
class CrashingHypervisor final : public core::Hypervisor {
public:
    CrashingHypervisor(core::Hypervisor& inner, CrashPlan& crash) : inner_(inner), crash_(crash) {}

    Result<bool> is_running(const core::VmRecord& vm) override { return inner_.is_running(vm); }
    Result<std::string> hot_add(const core::VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id) override;
    Result<void> hot_remove(const core::VmRecord& vm, const std::string& qdev_id,
                            std::chrono::milliseconds timeout) override;
    Result<std::vector<core::PresentDevice>> list_hyv_devices(const core::VmRecord& vm) override
    {
        return inner_.list_hyv_devices(vm);
    }
    std::unique_ptr<Hold> hold(const core::VmRecord& vm) override { return inner_.hold(vm); }
    Result<std::optional<core::PresentDevice>> find_hyv_device(const core::VmRecord& vm, const MdevUuid& mdev,
                                                               const std::string& qdev_id) override
    {
        return inner_.find_hyv_device(vm, mdev, qdev_id);
    }
    bool defines_devices() const override { return inner_.defines_devices(); }
    Result<void> record(const core::VmRecord& vm, const core::Assignment& a) override;
    Result<void> forget(const core::VmRecord& vm, const core::Assignment& a) override;
    Result<std::vector<core::DeclaredVm>> declared_vms() override { return inner_.declared_vms(); }

private:
    core::Hypervisor& inner_;
    CrashPlan& crash_;
};

}  // namespace hyv::test
