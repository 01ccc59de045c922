// A Service over a real sqlite file and file-backed fakes of sysfs-mdev and QEMU.
#pragma once

#include "core_fakes.hpp"
#include "hyvd/adapters/sqlite_store.hpp"
#include "hyvd/core/service.hpp"
#include "store_test_support.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <set>

namespace hyv::test {

// Everything one hyvd process has; a test may build several over the same directory
// (one after the other: the store lock allows one at a time), as a restart would.
struct Daemon {
    // `tweak` changes the service's config after the test defaults (short timeouts) are set.
    Daemon(const fs::path& root, int crash_at = 0, bool crash_store = false,
           const std::function<void(core::ServiceConfig&)>& tweak = {})
        : mdev(root, crash), identity(root, crash), hypervisor(root, crash)
    {
        crash.crash_at = crash_at;
        auto opened = adapters::SqliteStore::open((root / "hyvd.db").string());
        if (!opened) {
            ADD_FAILURE() << opened.error().message;
            std::abort();
        }
        sqlite = std::move(*opened);
        crashing_store = std::make_unique<CrashingStore>(*sqlite, crash);
        inventory.devices = {sample_device(0x0002c90300a1b2c3ull, "rxe0"),
                             sample_device(0x0002c90300a1b2c4ull, "rxe1")};
        core::Ports ports;
        ports.store = crash_store ? static_cast<core::Store*>(crashing_store.get()) : sqlite.get();
        ports.mdev = &mdev;
        ports.inventory = &inventory;
        ports.identity = &identity;
        ports.hypervisors = {{VmKind::qemu, &hypervisor}, {VmKind::libvirt, &hypervisor}};
        core::ServiceConfig config;
        config.default_detach_timeout = std::chrono::milliseconds(50);
        config.reconcile_detach_timeout = std::chrono::milliseconds(50);
        if (tweak) {
            tweak(config);
        }
        service = std::make_unique<core::Service>(ports, config);
    }

    CrashPlan crash;
    std::unique_ptr<adapters::SqliteStore> sqlite;
    std::unique_ptr<CrashingStore> crashing_store;
    FakeMdevControl mdev;
    FakeNetIdentity identity;
    FakeHypervisor hypervisor;
    FakeInventory inventory;
    std::unique_ptr<core::Service> service;
};

inline const Guid guid_a{0x0002c90300a1b2c3ull};
inline const Guid guid_b{0x0002c90300a1b2c4ull};

// The identity of tests that are not about identities: the host's GIDs, as before identities existed.
inline const NetworkIdentity unisolated_identity{.unisolated = true};
inline core::AttachOptions unisolated(bool persistent = false)
{
    return core::AttachOptions{.quota = {}, .persistent = persistent, .identity = unisolated_identity};
}

inline VmId vm_id(const std::string& name)
{
    return VmId::parse(name).value();
}

inline void add_running_vm(Daemon& d, const std::string& name)
{
    auto added = d.service->vm_add(core::VmAddRequest{name, VmKind::qemu, "/run/hyv/" + name + ".qmp", ""});
    ASSERT_TRUE(added.ok()) << added.error().message;
    d.hypervisor.set_running(name, true);
}

// The invariant every crash, failure and reconcile must leave behind: each row is in a
// resting state that matches reality, and reality holds nothing without a row.
inline void expect_consistent(Daemon& d)
{
    EXPECT_TRUE(d.mdev.violations().empty()) << d.mdev.violations().front();
    auto rows = d.sqlite->assignments();
    ASSERT_TRUE(rows.ok()) << rows.error().message;
    auto mdevs = d.mdev.list();
    ASSERT_TRUE(mdevs.ok());
    std::set<MdevUuid> existing;
    for (const auto& m : *mdevs) {
        existing.insert(m.uuid);
    }
    std::set<MdevUuid> owned;
    for (const auto& a : *rows) {
        owned.insert(a.mdev);
        const std::string who = a.vm.str() + "/" + a.guid.to_string() + " (" + std::string(to_string(a.state)) + ")";
        EXPECT_TRUE(a.state == AssignmentState::attached || a.state == AssignmentState::inactive) << who;
        EXPECT_TRUE(existing.count(a.mdev)) << who << ": its mdev is missing";
        auto vm = d.sqlite->vm(a.vm);
        ASSERT_TRUE(vm.ok() && vm->has_value());
        auto present = d.hypervisor.list_hyv_devices(**vm);
        ASSERT_TRUE(present.ok());
        const bool in_vm = std::any_of(present->begin(), present->end(), [&](const core::PresentDevice& p) {
            return p.mdev == a.mdev && p.qdev_id == a.qdev_id && p.guest_pci_address == a.guest_pci_address;
        });
        EXPECT_EQ(in_vm, a.state == AssignmentState::attached) << who;
    }
    for (const auto& uuid : existing) {
        EXPECT_TRUE(owned.count(uuid)) << "orphan mdev " << uuid.to_string();
    }
    // hyvd counts as its own exactly the mdevs of its rows: none it would leave behind, none stale.
    auto recorded = d.sqlite->owned_mdevs();
    ASSERT_TRUE(recorded.ok()) << recorded.error().message;
    EXPECT_EQ(std::set<MdevUuid>(recorded->begin(), recorded->end()), owned);
    // Identity links: every row's link exists and its mdev uses it; every hyv link has a row (a
    // test's foreign links aside); hyvd counts as its own exactly the links of its rows.
    std::set<std::string> row_links;
    for (const auto& a : *rows) {
        if (!a.link.empty()) {
            row_links.insert(a.link);
            EXPECT_NE(d.identity.describe(a.link), "") << a.vm.str() << ": link " << a.link << " is missing";
            EXPECT_EQ(d.mdev.identity_of(a.mdev), "netdev " + a.link);
        } else if (a.state == AssignmentState::attached) {
            EXPECT_EQ(d.mdev.identity_of(a.mdev), "unisolated");
        }
    }
    auto links = d.identity.list_own();
    ASSERT_TRUE(links.ok());
    for (const auto& name : *links) {
        EXPECT_TRUE(row_links.count(name) || d.identity.describe(name).starts_with("eth0 - - 192.0.2.1"))
            << "orphan link " << name;
    }
    auto owned_links = d.sqlite->owned_links();
    ASSERT_TRUE(owned_links.ok()) << owned_links.error().message;
    EXPECT_EQ(std::set<std::string>(owned_links->begin(), owned_links->end()), row_links);
    auto vms = d.sqlite->vms();
    ASSERT_TRUE(vms.ok());
    for (const auto& vm : *vms) {
        auto present = d.hypervisor.list_hyv_devices(vm);
        ASSERT_TRUE(present.ok());
        for (const auto& p : *present) {
            EXPECT_TRUE(owned.count(p.mdev)) << "VM " << vm.name.str() << " holds " << p.qdev_id << " without a row";
        }
    }
}

}  // namespace hyv::test
