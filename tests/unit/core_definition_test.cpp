// The core with a hypervisor whose VM definitions carry devices (libvirt: Hypervisor::defines_devices):
// attaches are recorded in the definition, detaches forget first, a stopped VM keeps no mdev (the
// libvirt hook owns it), and devices declared in definitions are adopted by reconcile.
#include "core_service_fixture.hpp"

#include <map>
#include <optional>

namespace hyv::test {
namespace {

using S = AssignmentState;

// The file-backed fake QEMU plus an in-memory "domain definition".
class DefiningHypervisor final : public core::Hypervisor {
public:
    explicit DefiningHypervisor(FakeHypervisor& inner) : inner_(inner) {}

    Result<bool> is_running(const core::VmRecord& vm) override { return inner_.is_running(vm); }
    Result<std::string> hot_add(const core::VmRecord& vm, const MdevUuid& mdev, const std::string& qdev_id) override
    {
        return inner_.hot_add(vm, mdev, qdev_id);
    }
    Result<void> hot_remove(const core::VmRecord& vm, const std::string& qdev_id,
                            std::chrono::milliseconds timeout) override
    {
        return inner_.hot_remove(vm, qdev_id, timeout);
    }
    Result<std::vector<core::PresentDevice>> list_hyv_devices(const core::VmRecord& vm) override
    {
        return inner_.list_hyv_devices(vm);
    }
    bool defines_devices() const override { return true; }
    Result<void> record(const core::VmRecord& vm, const core::Assignment& a) override
    {
        if (fail_record) {
            return make_error("libvirt-error", "injected record failure");
        }
        definition[{vm.name.str(), a.guid.value()}] = a;
        return {};
    }
    Result<void> forget(const core::VmRecord& vm, const core::Assignment& a) override
    {
        definition.erase({vm.name.str(), a.guid.value()});
        ++forgets;
        return {};
    }
    Result<std::vector<core::DeclaredVm>> declared_vms() override
    {
        if (declared_error) {
            return *declared_error;
        }
        return declared;
    }
    bool unreachable(const Error& error) const override { return error.code == "test-unreachable"; }

    std::map<std::pair<std::string, std::uint64_t>, core::Assignment> definition;
    std::vector<core::DeclaredVm> declared;
    std::optional<Error> declared_error;
    bool fail_record = false;
    int forgets = 0;

private:
    FakeHypervisor& inner_;
};

class CoreDefinitionTest : public ::testing::Test {
protected:
    CoreDefinitionTest()
    {
        core::Ports ports;
        ports.store = d.sqlite.get();
        ports.mdev = &d.mdev;
        ports.inventory = &d.inventory;
        ports.identity = &d.identity;
        ports.hypervisors = {{VmKind::libvirt, &libvirt}};
        core::ServiceConfig config;
        config.default_detach_timeout = std::chrono::milliseconds(50);
        config.reconcile_detach_timeout = std::chrono::milliseconds(50);
        service = std::make_unique<core::Service>(ports, config);
    }

    void add_domain(const std::string& name, bool running)
    {
        auto added = service->vm_add(core::VmAddRequest{name, VmKind::libvirt, "", ""});
        ASSERT_TRUE(added.ok()) << added.error().message;
        d.hypervisor.set_running(name, running);
    }

    std::optional<core::Assignment> row(const std::string& vm, const Guid& guid)
    {
        auto found = d.sqlite->assignment(vm_id(vm), guid);
        EXPECT_TRUE(found.ok());
        return found.ok() ? *found : std::nullopt;
    }

    bool mdev_exists(const MdevUuid& uuid) { return *d.mdev.exists(uuid); }

    TempDir dir;
    Daemon d{dir.path()};
    DefiningHypervisor libvirt{d.hypervisor};
    std::unique_ptr<core::Service> service;
};

TEST_F(CoreDefinitionTest, PersistentAttachIsRecordedAndAStoppedDomainKeepsNoMdev)
{
    add_domain("vm1", true);
    auto attached = service->attach(vm_id("vm1"), guid_a, unisolated(true));
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    const MdevUuid mdev = attached->assignment.mdev;
    ASSERT_EQ(libvirt.definition.count({"vm1", guid_a.value()}), 1u);
    EXPECT_TRUE(libvirt.definition.at({"vm1", guid_a.value()}).persistent);
    EXPECT_EQ(libvirt.definition.at({"vm1", guid_a.value()}).mdev, mdev);

    // The domain stops; the hook's release removes the mdev.
    d.hypervisor.set_running("vm1", false);
    ASSERT_TRUE(d.mdev.remove(mdev).ok());
    ASSERT_TRUE(service->reconcile().ok());
    EXPECT_EQ(row("vm1", guid_a)->state, S::inactive);
    EXPECT_FALSE(mdev_exists(mdev)) << "hyvd must leave a stopped domain's mdev to the hook";
    auto again = service->reconcile();
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->actions.empty());
    EXPECT_FALSE(mdev_exists(mdev));

    // The domain starts: the hook made the mdev, libvirt put it in from the definition.
    ASSERT_TRUE(d.mdev.create("/sys/class/hyv/rxe0", "hyv-vrdma", mdev).ok());
    d.hypervisor.set_running("vm1", true);
    auto vm1 = d.sqlite->vm(vm_id("vm1"));
    ASSERT_TRUE(vm1.ok() && vm1->has_value());
    ASSERT_TRUE(d.hypervisor.hot_add(**vm1, mdev, row("vm1", guid_a)->qdev_id).ok());
    ASSERT_TRUE(service->reconcile().ok());
    EXPECT_EQ(row("vm1", guid_a)->state, S::attached);
    EXPECT_EQ(row("vm1", guid_a)->mdev, mdev);
}

TEST_F(CoreDefinitionTest, AnAttachInterruptedAfterItsHotAddIsRecordedWhenReconcileFinishesIt)
{
    add_domain("vm1", true);
    auto attached = service->attach(vm_id("vm1"), guid_a, unisolated(true));
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    // What hyvd killed between device_add and the end of the attach leaves behind: the device in
    // the VM, the row `hotplugged`, nothing in the definition yet.
    libvirt.definition.clear();
    core::Assignment interrupted = *row("vm1", guid_a);
    interrupted.state = S::hotplugged;
    ASSERT_TRUE(d.sqlite->update_assignment(interrupted, S::attached).ok());
    auto report = service->reconcile();
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_TRUE(report->problems.empty());
    EXPECT_EQ(row("vm1", guid_a)->state, S::attached);
    EXPECT_EQ(libvirt.definition.count({"vm1", guid_a.value()}), 1u) << "the finished attach is not in the definition";
}

TEST_F(CoreDefinitionTest, TransientAssignmentOfAStoppedDomainIsDropped)
{
    add_domain("vm1", true);
    auto attached = service->attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    EXPECT_FALSE(libvirt.definition.at({"vm1", guid_a.value()}).persistent);
    d.hypervisor.set_running("vm1", false);
    ASSERT_TRUE(d.mdev.remove(attached->assignment.mdev).ok());  // the hook's release
    ASSERT_TRUE(service->reconcile().ok());
    EXPECT_FALSE(row("vm1", guid_a).has_value());
    EXPECT_TRUE(libvirt.definition.empty());
}

TEST_F(CoreDefinitionTest, DetachTakesTheDeviceOutOfTheDefinition)
{
    add_domain("vm1", true);
    ASSERT_TRUE(service->attach(vm_id("vm1"), guid_a, unisolated(true)).ok());
    auto detached = service->detach(vm_id("vm1"), guid_a);
    ASSERT_TRUE(detached.ok()) << detached.error().message;
    EXPECT_TRUE(libvirt.definition.empty());
    EXPECT_GE(libvirt.forgets, 1);
    expect_consistent(d);
}

TEST_F(CoreDefinitionTest, AttachThatCannotBeRecordedIsRolledBack)
{
    add_domain("vm1", true);
    libvirt.fail_record = true;
    auto attached = service->attach(vm_id("vm1"), guid_a, unisolated(true));
    ASSERT_FALSE(attached.ok());
    EXPECT_NE(attached.error().message.find("cannot record"), std::string::npos) << attached.error().message;
    EXPECT_FALSE(row("vm1", guid_a).has_value());
    EXPECT_TRUE(d.mdev.list()->empty());
    expect_consistent(d);
}

TEST_F(CoreDefinitionTest, DeclaredDevicesAreAdoptedOnceAndCompletedInTheDefinition)
{
    core::VmRecord vm2;
    vm2.name = vm_id("vm2");
    vm2.kind = VmKind::libvirt;
    const Guid absent{0xdeadbeef00000001ull};
    NetworkIdentity own;
    own.addresses.push_back(IpPrefix::parse("10.0.0.9/24").value());
    libvirt.declared = {core::DeclaredVm{vm2,
                                         {core::DeclaredDevice{guid_b, std::nullopt, Quota{.max_qps = 64}, own},
                                          core::DeclaredDevice{absent, std::nullopt, Quota{}, unisolated_identity},
                                          core::DeclaredDevice{guid_a, std::nullopt, Quota{}, NetworkIdentity{}}}}};
    auto report = service->reconcile();
    ASSERT_TRUE(report.ok()) << report.error().message;
    auto adopted = row("vm2", guid_b);
    ASSERT_TRUE(adopted.has_value());
    EXPECT_EQ(adopted->identity.addresses, own.addresses);
    EXPECT_TRUE(adopted->identity.mac.has_value()) << "a macvlan gets a MAC fixed at adoption";
    EXPECT_NE(d.identity.describe(adopted->link), "") << "the identity link lives as long as the assignment";
    EXPECT_EQ(libvirt.definition.at({"vm2", guid_b.value()}).identity, adopted->identity);
    EXPECT_FALSE(row("vm2", guid_a).has_value()) << "a declaration without identity is not adopted";
    EXPECT_EQ(adopted->state, S::inactive);
    EXPECT_TRUE(adopted->persistent);
    EXPECT_EQ(adopted->quota.max_qps, 64u);
    EXPECT_EQ(adopted->quota.max_cqs, 1024u) << "unset limits take hyvd's defaults";
    ASSERT_EQ(libvirt.definition.count({"vm2", guid_b.value()}), 1u);
    EXPECT_EQ(libvirt.definition.at({"vm2", guid_b.value()}).mdev, adopted->mdev);
    EXPECT_FALSE(mdev_exists(adopted->mdev)) << "a stopped domain's mdev is made by the hook at start";
    EXPECT_FALSE(row("vm2", absent).has_value());
    ASSERT_EQ(report->problems.size(), 2u);
    EXPECT_NE(report->problems[0].find("dead:beef:0000:0001"), std::string::npos) << report->problems[0];
    EXPECT_NE(report->problems[1].find("network identity"), std::string::npos) << report->problems[1];
    libvirt.declared[0].devices.pop_back();

    // The declaration now names the mdev (as libvirt would show it): nothing more to adopt.
    libvirt.declared[0].devices[0].mdev = adopted->mdev;
    auto again = service->reconcile();
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->actions.empty());
    EXPECT_EQ(row("vm2", guid_b)->mdev, adopted->mdev);
}

TEST_F(CoreDefinitionTest, AnUnreachableHypervisorIsAProblemOnlyWithAVmOfItsKindRegistered)
{
    libvirt.declared_error = make_error("test-unreachable", "libvirtd is down");
    auto report = service->reconcile();
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_TRUE(report->problems.empty()) << report->problems.front();
    ASSERT_EQ(report->notes.size(), 1u);
    EXPECT_NE(report->notes[0].find("libvirtd is down"), std::string::npos) << report->notes[0];

    // A failure other than unreachability stays a problem.
    libvirt.declared_error = make_error("libvirt-error", "cannot list libvirt domains");
    report = service->reconcile();
    ASSERT_TRUE(report.ok());
    EXPECT_EQ(report->problems.size(), 1u);
    EXPECT_TRUE(report->notes.empty());

    // With a VM of its kind registered, an unreachable hypervisor is a problem again.
    add_domain("vm1", false);
    libvirt.declared_error = make_error("test-unreachable", "libvirtd is down");
    report = service->reconcile();
    ASSERT_TRUE(report.ok());
    ASSERT_EQ(report->problems.size(), 1u);
    EXPECT_NE(report->problems[0].find("libvirtd is down"), std::string::npos) << report->problems[0];
    EXPECT_TRUE(report->notes.empty());
}

}  // namespace
}  // namespace hyv::test
