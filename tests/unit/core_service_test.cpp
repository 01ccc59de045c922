#include "core_service_fixture.hpp"

#include <atomic>
#include <thread>

namespace hyv::test {
namespace {

using S = AssignmentState;

class ServiceTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        daemon = std::make_unique<Daemon>(dir.path());
        add_running_vm(*daemon, "vm1");
    }
    core::Service& service() { return *daemon->service; }

    std::vector<std::string> event_kinds(const std::string& op_id)
    {
        std::vector<std::string> kinds;
        auto events = service().events(0, 1000);
        for (const auto& e : *events) {
            if (e.op_id == op_id) {
                kinds.push_back(e.kind);
            }
        }
        return kinds;
    }

    TempDir dir;
    std::unique_ptr<Daemon> daemon;
};

TEST_F(ServiceTest, AttachCreatesMdevHotAddsAndRecordsEveryStep)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    const auto& a = attached->assignment;
    EXPECT_EQ(a.state, S::attached);
    EXPECT_EQ(a.guest_pci_address, "0000:01:00.0");
    EXPECT_EQ(a.qdev_id, "hyv-" + a.mdev.to_string());
    EXPECT_EQ(a.quota, core::ServiceConfig{}.default_quota);
    EXPECT_TRUE(*daemon->mdev.exists(a.mdev));
    EXPECT_EQ(event_kinds(attached->op_id),
              (std::vector<std::string>{"attach.intent", "attach.mdev-created", "attach.hotplugged", "attach.done"}));
    auto listed = service().list();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].mdev, a.mdev);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, OneGuidIsSharedByManyVms)
{
    add_running_vm(*daemon, "vm2");
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    ASSERT_TRUE(service().attach(vm_id("vm2"), guid_a, unisolated()).ok());
    auto devices = service().devices();
    ASSERT_TRUE(devices.ok());
    const auto& rxe0 = *std::find_if(devices->begin(), devices->end(),
                                     [](const core::DeviceView& v) { return v.record.device.guid == guid_a; });
    EXPECT_EQ(rxe0.assigned_to.size(), 2u);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, AttachValidatesBeforeTouchingAnything)
{
    struct Case {
        std::string vm;
        Guid guid;
        core::AttachOptions options;
        std::string code;
    };
    add_running_vm(*daemon, "stopped");
    daemon->hypervisor.set_running("stopped", false);
    core::AttachOptions greedy = unisolated();
    greedy.quota.max_qps = 1u << 30;
    core::AttachOptions both = unisolated();
    both.identity.addresses.push_back(IpPrefix::parse("10.0.0.5/24").value());
    const Case cases[] = {
        {"nosuchvm", guid_a, unisolated(), "unknown-vm"},
        {"vm1", Guid(0x1234), unisolated(), "unknown-guid"},
        {"vm1", Guid(0), unisolated(), "bad-guid"},
        {"stopped", guid_a, unisolated(), "vm-not-running"},
        {"vm1", guid_a, greedy, "bad-quota"},
        {"vm1", guid_a, core::AttachOptions{}, "identity-required"},
        {"nosuchvm", guid_a, core::AttachOptions{}, "identity-required"},
        {"vm1", guid_a, both, "bad-identity"},
    };
    for (const auto& c : cases) {
        auto r = service().attach(vm_id(c.vm), c.guid, c.options);
        ASSERT_FALSE(r.ok()) << c.code;
        EXPECT_EQ(r.error().code, c.code) << r.error().message;
    }
    EXPECT_TRUE(service().list()->empty());
    EXPECT_TRUE(daemon->mdev.list()->empty());
    EXPECT_EQ(daemon->hypervisor.hot_add_calls, 0);

    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    auto again = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, "already-attached");
    EXPECT_EQ(daemon->mdev.list()->size(), 1u);
}

TEST_F(ServiceTest, FailedHotAddRollsBackTheMdevAndTheRow)
{
    daemon->hypervisor.fail_hot_add = true;
    auto r = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "qmp-error");
    EXPECT_TRUE(service().list()->empty());
    EXPECT_TRUE(daemon->mdev.list()->empty());
    bool logged_rollback = false;
    auto events = service().events(0, 100);
    for (const auto& e : *events) {
        logged_rollback = logged_rollback || e.kind == "attach.rollback";
    }
    EXPECT_TRUE(logged_rollback);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, FailedMdevCreationLeavesNothing)
{
    daemon->mdev.fail_create = true;
    auto r = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(service().list()->empty());
    EXPECT_EQ(daemon->hypervisor.hot_add_calls, 0);
}

TEST_F(ServiceTest, DetachTakesTheDeviceOutThenRemovesTheMdev)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok());
    auto detached = service().detach(vm_id("vm1"), guid_a);
    ASSERT_TRUE(detached.ok()) << detached.error().message;
    EXPECT_EQ(detached->assignment.state, S::removed);
    EXPECT_TRUE(service().list()->empty());
    EXPECT_FALSE(*daemon->mdev.exists(attached->assignment.mdev));
    EXPECT_EQ(event_kinds(detached->op_id),
              (std::vector<std::string>{"detach.requested", "detach.hot-remove", "detach.released", "detach.done"}));
    auto missing = service().detach(vm_id("vm1"), guid_a);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, "not-attached");
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, DetachTimeoutKeepsDetachingAndTheMdevThenRetrySucceeds)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok());
    daemon->hypervisor.set_guest_refuses_unplug("vm1", true);
    auto timed_out = service().detach(vm_id("vm1"), guid_a);
    ASSERT_FALSE(timed_out.ok());
    EXPECT_EQ(timed_out.error().code, "hot-remove-timeout");
    EXPECT_NE(timed_out.error().message.find("hyvctl detach vm1"), std::string::npos) << timed_out.error().message;
    auto row = (*service().list())[0];
    EXPECT_EQ(row.state, S::detaching);
    EXPECT_NE(row.last_error.find("has not released"), std::string::npos);
    EXPECT_TRUE(*daemon->mdev.exists(row.mdev)) << "mdev removed while the guest still holds it";
    EXPECT_TRUE(daemon->mdev.violations().empty());

    // reconcile must not remove it either while the guest holds on
    auto reconciled = service().reconcile();
    ASSERT_TRUE(reconciled.ok());
    EXPECT_EQ(reconciled->problems.size(), 1u);
    EXPECT_EQ((*service().list())[0].state, S::detaching);

    daemon->hypervisor.set_guest_refuses_unplug("vm1", false);
    auto retried = service().detach(vm_id("vm1"), guid_a);
    ASSERT_TRUE(retried.ok()) << retried.error().message;
    EXPECT_TRUE(service().list()->empty());
    EXPECT_TRUE(daemon->mdev.list()->empty());
    EXPECT_TRUE(daemon->mdev.violations().empty());
}

TEST_F(ServiceTest, MdevRemovalFailureMarksFailedAndDetachRetries)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    daemon->mdev.fail_remove = true;
    auto failed = service().detach(vm_id("vm1"), guid_a);
    ASSERT_FALSE(failed.ok());
    auto row = (*service().list())[0];
    EXPECT_EQ(row.state, S::failed);
    EXPECT_FALSE(row.last_error.empty());
    auto status = service().status();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->needs_attention.size(), 1u);
    EXPECT_EQ(status->assignments_by_state[S::failed], 1u);

    daemon->mdev.fail_remove = false;
    ASSERT_TRUE(service().detach(vm_id("vm1"), guid_a).ok());
    expect_consistent(*daemon);
    EXPECT_TRUE(daemon->mdev.list()->empty());
}

TEST_F(ServiceTest, RacingAttachesOfOnePairSerialize)
{
    constexpr int racers = 8;
    std::vector<std::thread> threads;
    std::vector<Result<core::OperationResult>> results(racers, make_error("unset", ""));
    for (int i = 0; i < racers; ++i) {
        threads.emplace_back([&, i] { results[i] = service().attach(vm_id("vm1"), guid_a, unisolated()); });
    }
    for (auto& t : threads) {
        t.join();
    }
    int succeeded = 0;
    for (const auto& r : results) {
        if (r.ok()) {
            ++succeeded;
        } else {
            EXPECT_EQ(r.error().code, "already-attached") << r.error().message;
        }
    }
    EXPECT_EQ(succeeded, 1);
    EXPECT_EQ(daemon->mdev.list()->size(), 1u);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, DifferentPairsAttachConcurrently)
{
    add_running_vm(*daemon, "vm2");
    std::vector<std::thread> threads;
    std::vector<Result<core::OperationResult>> results(4, make_error("unset", ""));
    const std::pair<const char*, Guid> pairs[] = {{"vm1", guid_a}, {"vm1", guid_b}, {"vm2", guid_a}, {"vm2", guid_b}};
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back(
            [&, i] { results[i] = service().attach(vm_id(pairs[i].first), pairs[i].second, unisolated()); });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& r : results) {
        EXPECT_TRUE(r.ok()) << r.error().message;
    }
    EXPECT_EQ(service().list()->size(), 4u);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, RunningLibvirtDomainIsRegisteredOnFirstAttach)
{
    daemon->hypervisor.set_running("dom1", true);
    auto attached = service().attach(vm_id("dom1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    auto vm = daemon->sqlite->vm(vm_id("dom1"));
    ASSERT_TRUE(vm.ok() && vm->has_value());
    EXPECT_EQ((*vm)->kind, VmKind::libvirt);
    EXPECT_EQ(event_kinds(attached->op_id).front(), "vm.add");

    auto absent = service().attach(vm_id("nodomain"), guid_a, unisolated());
    ASSERT_FALSE(absent.ok());
    EXPECT_EQ(absent.error().code, "unknown-vm");
    EXPECT_NE(absent.error().message.find("hyvctl vm add"), std::string::npos);
    EXPECT_FALSE(daemon->sqlite->vm(vm_id("nodomain"))->has_value());
}

TEST_F(ServiceTest, StatusCountsStatesAndTheNewestEvent)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    auto status = service().status();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->devices_present, 2u);
    EXPECT_EQ(status->vms, 1u);
    EXPECT_EQ(status->assignments_by_state[S::attached], 1u);
    EXPECT_TRUE(status->needs_attention.empty());
    auto events = service().events(0, 1000);
    ASSERT_TRUE(events.ok());
    EXPECT_EQ(status->last_event_id, events->back().id);
}

TEST_F(ServiceTest, ReconcileRunningAlongsideAttachAndDetachDisturbsNothing)
{
    std::atomic<bool> done{false};
    std::vector<std::string> failures;
    std::thread operator_thread([&] {
        for (int i = 0; i < 15; ++i) {
            auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());
            auto detached = service().detach(vm_id("vm1"), guid_a);
            if (!attached.ok()) {
                failures.push_back("attach: " + attached.error().message);
            }
            if (!detached.ok()) {
                failures.push_back("detach: " + detached.error().message);
            }
        }
        done = true;
    });
    int reconciles = 0;
    while (!done) {
        auto report = service().reconcile();
        ASSERT_TRUE(report.ok());
        for (const auto& action : report->actions) {
            ADD_FAILURE() << "reconcile acted on a healthy assignment: " << action.what;
        }
        for (const auto& problem : report->problems) {
            ADD_FAILURE() << "reconcile saw a problem: " << problem;
        }
        ++reconciles;
    }
    operator_thread.join();
    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_GT(reconciles, 0);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, VmRemoveRefusesWhileAssigned)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    auto refused = service().vm_remove(vm_id("vm1"));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, "vm-has-assignments");
    ASSERT_TRUE(service().detach(vm_id("vm1"), guid_a).ok());
    EXPECT_TRUE(service().vm_remove(vm_id("vm1")).ok());
    EXPECT_TRUE(service().vms()->empty());
    auto no_socket = service().vm_add(core::VmAddRequest{"raw", VmKind::qemu, "relative.qmp", ""});
    ASSERT_FALSE(no_socket.ok());
    EXPECT_EQ(no_socket.error().code, "bad-qmp-socket");
}

TEST_F(ServiceTest, DevicesTracksVanishedDevices)
{
    ASSERT_EQ(service().devices()->size(), 2u);
    daemon->inventory.devices.pop_back();
    auto devices = service().devices();
    ASSERT_TRUE(devices.ok());
    ASSERT_EQ(devices->size(), 2u);
    const auto& rxe1 = *std::find_if(devices->begin(), devices->end(),
                                     [](const core::DeviceView& v) { return v.record.device.guid == guid_b; });
    EXPECT_FALSE(rxe1.present);
    auto gone = service().attach(vm_id("vm1"), guid_b, unisolated());
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, "unknown-guid");
}

TEST_F(ServiceTest, AttachScansTheInventoryOnlyForAGuidItHasNotSeen)
{
    add_running_vm(*daemon, "vm2");
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    const int after_first = daemon->inventory.scans;
    EXPECT_EQ(after_first, 1);
    ASSERT_TRUE(service().attach(vm_id("vm2"), guid_a, unisolated()).ok());
    ASSERT_TRUE(service().attach(vm_id("vm2"), guid_b, unisolated()).ok());
    EXPECT_EQ(daemon->inventory.scans, after_first);
    auto unknown = service().attach(vm_id("vm1"), Guid{0xdeadbeefull}, unisolated());
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, "unknown-guid");
    EXPECT_EQ(daemon->inventory.scans, after_first + 1);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, AttachLooksAgainWhenTheDeviceVanishedSinceTheLastScan)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    ASSERT_TRUE(service().detach(vm_id("vm1"), guid_a).ok());
    auto& devices = daemon->inventory.devices;
    const auto rxe0 = std::find_if(devices.begin(), devices.end(), [](const auto& d) { return d.guid == guid_a; });
    daemon->mdev.gone_parent = rxe0->mdev_parent;
    devices.erase(rxe0);
    auto gone = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, "unknown-guid");
    EXPECT_TRUE(service().list()->empty());
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, AttachFollowsADeviceBackOnAnotherParent)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    ASSERT_TRUE(service().detach(vm_id("vm1"), guid_a).ok());
    auto& device = *std::find_if(daemon->inventory.devices.begin(), daemon->inventory.devices.end(),
                                 [](const auto& d) { return d.guid == guid_a; });
    daemon->mdev.gone_parent = device.mdev_parent;
    device.mdev_parent += "-again";
    auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    auto mdevs = daemon->mdev.list();
    ASSERT_EQ(mdevs->size(), 1u);
    EXPECT_EQ((*mdevs)[0].parent_path, device.mdev_parent);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, ReconcileReleasesNonPersistentAndParksPersistentWhenTheVmStops)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, unisolated()).ok());
    auto kept = service().attach(vm_id("vm1"), guid_b, unisolated(true));
    ASSERT_TRUE(kept.ok());
    daemon->hypervisor.set_running("vm1", false);

    auto report = service().reconcile();
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_TRUE(report->problems.empty()) << report->problems.front();
    EXPECT_EQ(report->actions.size(), 2u);
    auto rows = *service().list();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].guid, guid_b);
    EXPECT_EQ(rows[0].state, S::inactive);
    expect_consistent(*daemon);

    daemon->hypervisor.set_running("vm1", true);
    report = service().reconcile();
    ASSERT_TRUE(report.ok());
    rows = *service().list();
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].state, S::attached);
    EXPECT_EQ(rows[0].mdev, kept->assignment.mdev);
    expect_consistent(*daemon);
}

TEST_F(ServiceTest, ReconcileRemovesOrphanMdevsItMadeAndIsIdempotent)
{
    // Two mdevs hyvd made whose rows are lost (as after a database restored from a backup): one
    // still in the VM, one not.
    auto held = service().attach(vm_id("vm1"), guid_a, unisolated());
    auto loose = service().attach(vm_id("vm1"), guid_b, unisolated());
    ASSERT_TRUE(held.ok() && loose.ok());
    auto vm = daemon->sqlite->vm(vm_id("vm1"));
    ASSERT_TRUE(daemon->hypervisor.hot_remove(**vm, loose->assignment.qdev_id, {}).ok());
    ASSERT_TRUE(daemon->sqlite->delete_assignment(vm_id("vm1"), guid_a).ok());
    ASSERT_TRUE(daemon->sqlite->delete_assignment(vm_id("vm1"), guid_b).ok());

    auto report = service().reconcile();
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->orphan_mdevs_removed.size(), 2u);
    EXPECT_TRUE(report->foreign_mdevs.empty());
    EXPECT_TRUE(daemon->mdev.list()->empty());
    expect_consistent(*daemon);
    auto again = service().reconcile();
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->actions.empty());
    EXPECT_TRUE(again->orphan_mdevs_removed.empty());
}

// mdevctl, KubeVirt or Nova may run hyv mdevs on the same host; hyvd must not take them away.
TEST_F(ServiceTest, ReconcileLeavesMdevsItDidNotMake)
{
    const MdevUuid theirs = MdevUuid::generate();
    ASSERT_TRUE(daemon->mdev.create("/sys/devices/virtual/hyv/rxe0", "hyv_mdev-virtio-hyv", theirs).ok());
    const MdevUuid theirs_in_vm = MdevUuid::generate();
    ASSERT_TRUE(daemon->mdev.create("/sys/devices/virtual/hyv/rxe0", "hyv_mdev-virtio-hyv", theirs_in_vm).ok());
    auto vm = daemon->sqlite->vm(vm_id("vm1"));
    ASSERT_TRUE(daemon->hypervisor.hot_add(**vm, theirs_in_vm, "hostdev0").ok());
    auto ours = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(ours.ok());

    auto report = service().reconcile();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->orphan_mdevs_removed.empty());
    EXPECT_TRUE(report->problems.empty()) << report->problems.front();
    EXPECT_EQ(std::set<MdevUuid>(report->foreign_mdevs.begin(), report->foreign_mdevs.end()),
              (std::set<MdevUuid>{theirs, theirs_in_vm}));
    EXPECT_TRUE(*daemon->mdev.exists(theirs));
    EXPECT_TRUE(*daemon->mdev.exists(theirs_in_vm));
    EXPECT_EQ(daemon->hypervisor.list_hyv_devices(**vm)->size(), 2u);
    EXPECT_EQ(*daemon->sqlite->owned_mdevs(), std::vector<MdevUuid>{ours->assignment.mdev});
    ASSERT_TRUE(service().detach(vm_id("vm1"), guid_a).ok());
    EXPECT_TRUE(*daemon->mdev.exists(theirs));
    EXPECT_TRUE(daemon->sqlite->owned_mdevs()->empty());
}

TEST_F(ServiceTest, OrchestratorLifecycleNeitherCreatesNorRemovesMdevs)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());  // made while hyvd still managed mdevs
    ASSERT_TRUE(attached.ok());
    const MdevUuid mine = attached->assignment.mdev;
    const MdevUuid theirs = MdevUuid::generate();
    ASSERT_TRUE(daemon->mdev.create("/sys/devices/virtual/hyv/rxe1", "hyv_mdev-virtio-hyv", theirs).ok());
    daemon.reset();
    daemon = std::make_unique<Daemon>(dir.path(), 0, false,
                                      [](core::ServiceConfig& config) { config.manage_mdevs = false; });

    auto refused = service().attach(vm_id("vm1"), guid_b, unisolated());
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, "mdevs-external");
    EXPECT_NE(refused.error().message.find("mdev-lifecycle = hyvd"), std::string::npos) << refused.error().message;
    EXPECT_EQ(daemon->mdev.list()->size(), 2u);

    auto detached = service().detach(vm_id("vm1"), guid_a);
    ASSERT_TRUE(detached.ok()) << detached.error().message;
    EXPECT_TRUE(service().list()->empty());
    EXPECT_TRUE(*daemon->mdev.exists(mine)) << "the mdev stays for the orchestrator";
    auto report = service().reconcile();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->orphan_mdevs_removed.empty());
    EXPECT_TRUE(report->foreign_mdevs.empty());
    EXPECT_EQ(daemon->mdev.list()->size(), 2u);

    // Managing mdevs again, hyvd removes the one it made and still leaves the other.
    daemon.reset();
    daemon = std::make_unique<Daemon>(dir.path());
    report = service().reconcile();
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->orphan_mdevs_removed, std::vector<MdevUuid>{mine});
    EXPECT_EQ(report->foreign_mdevs, std::vector<MdevUuid>{theirs});
    EXPECT_FALSE(*daemon->mdev.exists(mine));
    EXPECT_TRUE(*daemon->mdev.exists(theirs));
}

TEST_F(ServiceTest, ReconcileReleasesADeviceRemovedBehindHyvdsBack)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok());
    auto vm = daemon->sqlite->vm(vm_id("vm1"));
    ASSERT_TRUE(daemon->hypervisor.hot_remove(**vm, attached->assignment.qdev_id, {}).ok());
    auto report = service().reconcile();
    ASSERT_TRUE(report.ok());
    ASSERT_EQ(report->actions.size(), 1u);
    EXPECT_EQ(report->actions[0].to, S::removed);
    expect_consistent(*daemon);
}

}  // namespace
}  // namespace hyv::test
