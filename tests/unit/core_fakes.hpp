// Test doubles for the core's ports, backed by files in a temp directory so that the
// "reality" they model (mdevs in sysfs, devices inside VMs) survives a simulated crash
// of a forked child, exactly like real sysfs and a real QEMU would.
//
// Crash injection: every mutating call is a "step" (once before its effect, once after);
// when CrashPlan::crash_at equals the step number the process _exit()s on the spot.
#pragma once

#include "hyvd/core/ports.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace hyv::test {

namespace fs = std::filesystem;

struct CrashPlan {
    int crash_at = 0;  // 0: never
    std::atomic<int> steps = 0;  // steps taken so far in this process (concurrent tests share it)
    static constexpr int crash_exit_code = 77;

    void step();
};

// Fake /sys/bus/mdev: root/mdevs/<uuid> holds "parent type", root/quota/<uuid> the quota.
// Removing an mdev that a fake VM still holds is recorded in root/violations.
class FakeMdevControl final : public core::MdevControl {
public:
    FakeMdevControl(fs::path root, CrashPlan& crash);

    Result<void> create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid) override;
    Result<void> set_quota(const MdevUuid& uuid, const Quota& quota) override;
    Result<void> remove(const MdevUuid& uuid) override;
    Result<bool> exists(const MdevUuid& uuid) override;
    Result<std::vector<core::MdevInstance>> list() override;

    std::vector<std::string> violations() const;
    bool fail_create = false;
    bool fail_remove = false;

private:
    fs::path root_;
    CrashPlan& crash_;
};

class FakeInventory final : public core::Inventory {
public:
    Result<std::vector<core::HostDevice>> scan() override { return devices; }
    std::vector<core::HostDevice> devices;
};

// Fake QEMUs: root/vms/<name>/running exists while it runs; root/vms/<name>/devices/<qdev_id>
// holds "mdev-uuid pci-address". hot_add refuses an mdev that does not exist.
class FakeHypervisor final : public core::Hypervisor {
public:
    FakeHypervisor(fs::path root, CrashPlan& crash);

    void set_running(const std::string& vm, bool running);
    // The guest ignores device_del (hot_remove times out) while set.
    void set_guest_refuses_unplug(const std::string& vm, bool refuses);

    Result<bool> is_running(const core::VmRecord& vm) override;
    Result<std::string> hot_add(const core::VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id) override;
    Result<void> hot_remove(const core::VmRecord& vm, const std::string& qdev_id,
                            std::chrono::milliseconds timeout) override;
    Result<std::vector<core::PresentDevice>> list_hyv_devices(const core::VmRecord& vm) override;

    bool fail_hot_add = false;
    std::atomic<int> hot_add_calls = 0;

private:
    fs::path vm_dir(const std::string& vm) const { return root_ / "vms" / vm; }
    fs::path root_;
    fs::path mdev_root_;
    CrashPlan& crash_;
};

// Wraps the real store: each mutating call is a crash step (before it runs).
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

// A fresh directory under TMPDIR, removed on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

}  // namespace hyv::test
