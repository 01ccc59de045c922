// Test doubles for the core's ports, backed by files in a temp directory so that the
// "reality" they model (mdevs in sysfs, devices inside VMs) survives a simulated crash
// of a forked child, exactly like real sysfs and a real QEMU would.
//
// Crash injection: every mutating call is a "step" (once before its effect, once after);
// when CrashPlan::crash_at equals the step number the process _exit()s on the spot.
#pragma once

#include "hyvd/core/ports.hpp"
#include "crash_points.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace hyv::test {

namespace fs = std::filesystem;

// Fake /sys/bus/mdev: root/mdevs/<uuid> holds "parent type", root/quota/<uuid> the quota.
// Removing an mdev that a fake VM still holds is recorded in root/violations.
class FakeMdevControl final : public core::MdevControl {
public:
    FakeMdevControl(fs::path root, CrashPlan& crash);

    Result<void> create(const std::string& parent_path, const std::string& type, const MdevUuid& uuid) override;
    Result<void> set_quota(const MdevUuid& uuid, const Quota& quota) override;
    // root/identity/<uuid>: "netdev NAME" or "unisolated".
    Result<void> set_identity(const MdevUuid& uuid, const core::GidScope& scope) override;
    Result<void> remove(const MdevUuid& uuid) override;
    Result<bool> exists(const MdevUuid& uuid) override;
    Result<std::vector<core::MdevInstance>> list() override;

    std::vector<std::string> violations() const;
    std::string identity_of(const MdevUuid& uuid) const;
    bool fail_create = false;
    bool fail_remove = false;
    bool fail_identity = false;  // as a hyv_mdev without identity attributes
    std::string gone_parent;     // create fails on this parent path, as on a parent that has vanished

private:
    fs::path root_;
    CrashPlan& crash_;
};

// Fake host links: root/links/<name> holds "parent mac vlan addr,addr" ("-" for none). Removing
// a link whose mdev still exists (root/identity names it) is recorded in root/violations.
class FakeNetIdentity final : public core::NetIdentity {
public:
    FakeNetIdentity(fs::path root, CrashPlan& crash);

    Result<void> create(const core::IdentityLink& link) override;
    Result<void> remove(const std::string& name) override;
    Result<bool> exists(const std::string& name) override;
    Result<std::vector<std::string>> list_own() override;

    // The file's text, "" when there is no such link.
    std::string describe(const std::string& name) const;
    // A link someone else made (an operator's, another tool's) that happens to look like hyvd's.
    void add_foreign(const std::string& name);
    bool fail_create = false;
    std::atomic<int> create_calls = 0;

private:
    fs::path root_;
    CrashPlan& crash_;
};

class FakeInventory final : public core::Inventory {
public:
    Result<std::vector<core::HostDevice>> scan() override
    {
        ++scans;
        return devices;
    }
    std::vector<core::HostDevice> devices;
    std::atomic<int> scans = 0;
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
