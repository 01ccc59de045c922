// Network identities (docs/network.md) in the core: the host link is made after the mdev and
// before the hot-add, removed after the mdev, rolled back with the attach, unique per address,
// and reconcile removes only links hyvd made that no row owns.
#include "core_service_fixture.hpp"

namespace hyv::test {
namespace {

using S = AssignmentState;

core::AttachOptions with_ips(std::initializer_list<const char*> addresses)
{
    core::AttachOptions options;
    for (const char* text : addresses) {
        options.identity.addresses.push_back(IpPrefix::parse(text).value());
    }
    return options;
}

class IdentityTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        daemon = std::make_unique<Daemon>(dir.path());
        add_running_vm(*daemon, "vm1");
        add_running_vm(*daemon, "vm2");
    }
    core::Service& service() { return *daemon->service; }
    std::vector<std::string> kinds(const std::string& op_id)
    {
        std::vector<std::string> out;
        const auto events = service().events(0, 1000);
        for (const auto& e : *events) {
            if (e.op_id == op_id) {
                out.push_back(e.kind);
            }
        }
        return out;
    }
    bool nothing_left()
    {
        return service().list()->empty() && daemon->mdev.list()->empty() && daemon->identity.list_own()->empty() &&
               daemon->sqlite->owned_links()->empty();
    }

    TempDir dir;
    std::unique_ptr<Daemon> daemon;
};

TEST_F(IdentityTest, AttachMakesTheLinkAfterTheMdevAndBeforeTheHotAdd)
{
    auto options = with_ips({"10.0.0.5/24", "fd00::5/64"});
    options.identity.mac = MacAddress::parse("52:54:00:12:34:56").value();
    auto attached = service().attach(vm_id("vm1"), guid_a, options);
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    const auto& a = attached->assignment;
    EXPECT_EQ(a.state, S::attached);
    EXPECT_EQ(a.link, "hyv" + a.mdev.to_string().substr(0, 8));
    EXPECT_EQ(daemon->identity.describe(a.link), "eth-rxe0 52:54:00:12:34:56 - 10.0.0.5/24,fd00::5/64");
    EXPECT_EQ(daemon->mdev.identity_of(a.mdev), "netdev " + a.link);
    EXPECT_EQ(kinds(attached->op_id),
              (std::vector<std::string>{"attach.intent", "attach.identity-created", "attach.mdev-created",
                                        "attach.hotplugged", "attach.done"}));
    auto row = service().list();
    ASSERT_EQ(row->size(), 1u);
    EXPECT_EQ((*row)[0].identity, options.identity);
    EXPECT_EQ(*daemon->sqlite->owned_links(), std::vector<std::string>{a.link});
    expect_consistent(*daemon);
}

TEST_F(IdentityTest, AMacvlanWithoutMacGetsALocallyAdministeredOneAndAVlanKeepsTheParents)
{
    auto macvlan = service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"}));
    ASSERT_TRUE(macvlan.ok()) << macvlan.error().message;
    ASSERT_TRUE(macvlan->assignment.identity.mac.has_value());
    EXPECT_EQ(macvlan->assignment.identity.mac->bytes()[0] & 0x03, 0x02) << "unicast, locally administered";
    auto options = with_ips({"10.0.7.5/24"});
    options.identity.vlan = VlanId::parse("7").value();
    auto vlan = service().attach(vm_id("vm1"), guid_b, options);
    ASSERT_TRUE(vlan.ok()) << vlan.error().message;
    EXPECT_FALSE(vlan->assignment.identity.mac.has_value());
    EXPECT_EQ(daemon->identity.describe(vlan->assignment.link), "eth-rxe1 - 7 10.0.7.5/24");
    expect_consistent(*daemon);
}

TEST_F(IdentityTest, UnisolatedMakesNoLinkAndOpensTheWholeGidTable)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, unisolated());
    ASSERT_TRUE(attached.ok()) << attached.error().message;
    EXPECT_TRUE(attached->assignment.link.empty());
    EXPECT_EQ(daemon->mdev.identity_of(attached->assignment.mdev), "unisolated");
    EXPECT_TRUE(daemon->identity.list_own()->empty());
    EXPECT_EQ(daemon->identity.create_calls, 0);
}

TEST_F(IdentityTest, NoIdentityIsRefusedInOneLineWithNothingCreated)
{
    auto refused = service().attach(vm_id("vm1"), guid_a, core::AttachOptions{});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, "identity-required");
    EXPECT_EQ(refused.error().message, "attach needs a network identity: give --ip ADDR/PREFIX, or --unisolated to "
                                       "share the host's GIDs without isolation");
    EXPECT_TRUE(nothing_left());
    EXPECT_EQ(daemon->hypervisor.hot_add_calls, 0);
}

TEST_F(IdentityTest, AnAddressAnotherAttachmentHoldsIsRefused)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"})).ok());
    auto clash = service().attach(vm_id("vm2"), guid_a, with_ips({"10.0.0.6/24", "10.0.0.5/16"}));
    ASSERT_FALSE(clash.ok());
    EXPECT_EQ(clash.error().code, "address-in-use");
    EXPECT_EQ(clash.error().message.find('\n'), std::string::npos);
    EXPECT_NE(clash.error().message.find("address 10.0.0.5 is held by VM vm1"), std::string::npos)
        << clash.error().message;
    EXPECT_EQ(service().list()->size(), 1u);
    EXPECT_EQ(daemon->identity.list_own()->size(), 1u);
    // Once detached, the address is free again.
    ASSERT_TRUE(service().detach(vm_id("vm1"), guid_a).ok());
    EXPECT_TRUE(service().attach(vm_id("vm2"), guid_a, with_ips({"10.0.0.5/24"})).ok());
    expect_consistent(*daemon);
}

TEST_F(IdentityTest, AnIdentityOnADeviceWithoutNetdevIsRefused)
{
    daemon->inventory.devices[0].netdev.clear();
    daemon->inventory.devices[0].link_layer = "InfiniBand";
    auto refused = service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"}));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, "no-netdev");
    EXPECT_NE(refused.error().message.find("--unisolated"), std::string::npos) << refused.error().message;
    EXPECT_TRUE(nothing_left());
}

TEST_F(IdentityTest, ALinkThatCannotBeMadeRollsTheAttachBack)
{
    daemon->identity.fail_create = true;
    auto failed = service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"}));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, "netlink");
    EXPECT_TRUE(nothing_left());
    EXPECT_EQ(daemon->hypervisor.hot_add_calls, 0);
    // The address was released with the row.
    daemon->identity.fail_create = false;
    EXPECT_TRUE(service().attach(vm_id("vm2"), guid_a, with_ips({"10.0.0.5/24"})).ok());
}

TEST_F(IdentityTest, AModuleWithoutIdentityAttributesRollsTheAttachBackIncludingTheLink)
{
    daemon->mdev.fail_identity = true;
    auto failed = service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"}));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, "mdev-identity");
    EXPECT_TRUE(nothing_left());
    EXPECT_EQ(daemon->hypervisor.hot_add_calls, 0);
    EXPECT_TRUE(daemon->mdev.violations().empty()) << daemon->mdev.violations().front();
}

TEST_F(IdentityTest, DetachRemovesTheLinkAfterTheMdev)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"}));
    ASSERT_TRUE(attached.ok());
    auto detached = service().detach(vm_id("vm1"), guid_a);
    ASSERT_TRUE(detached.ok()) << detached.error().message;
    EXPECT_TRUE(nothing_left());
    // FakeNetIdentity records a link removed while its mdev still used it.
    EXPECT_TRUE(daemon->mdev.violations().empty()) << daemon->mdev.violations().front();
    const auto k = kinds(detached->op_id);
    EXPECT_NE(std::find(k.begin(), k.end(), "detach.identity-removed"), k.end());
}

TEST_F(IdentityTest, ReconcileRemovesOrphanLinksItMadeAndNeverForeignOnes)
{
    ASSERT_TRUE(service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"})).ok());
    // An orphan: hyvd owned and made it, its row is gone (as after a crash between the steps).
    const MdevUuid orphan_mdev = MdevUuid::generate();
    const std::string orphan = identity_link_name(orphan_mdev);
    ASSERT_TRUE(daemon->sqlite->own_link(orphan, "eth-rxe0", orphan_mdev, 1, "op-x").ok());
    ASSERT_TRUE(daemon->identity.create(core::IdentityLink{orphan, "eth-rxe0", {}, {}, {}}).ok());
    daemon->identity.add_foreign("hyvforgn");
    auto report = service().reconcile();
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(report->orphan_links_removed, std::vector<std::string>{orphan});
    EXPECT_EQ(daemon->identity.describe(orphan), "");
    EXPECT_NE(daemon->identity.describe("hyvforgn"), "") << "a link hyvd did not make is left alone";
    expect_consistent(*daemon);
    auto again = service().reconcile();
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->orphan_links_removed.empty());
    EXPECT_TRUE(again->actions.empty());
}

TEST_F(IdentityTest, ReconcileMakesTheMissingLinkOfALiveAssignmentAgain)
{
    auto attached = service().attach(vm_id("vm1"), guid_a, with_ips({"10.0.0.5/24"}));
    ASSERT_TRUE(attached.ok());
    const std::string link = attached->assignment.link;
    const std::string before = daemon->identity.describe(link);
    // Deleted behind hyvd's back (by hand, or with its parent netdev): not through the port.
    ASSERT_TRUE(fs::remove(dir.path() / "links" / link));
    auto report = service().reconcile();
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_TRUE(report->problems.empty()) << report->problems.front();
    EXPECT_EQ(daemon->identity.describe(link), before) << "same name, MAC and addresses";
    EXPECT_EQ(service().list()->at(0).state, S::attached);
    expect_consistent(*daemon);
}

}  // namespace
}  // namespace hyv::test
