// The libvirt hook's phases against the file-backed fake mdev sysfs (the real one is exercised by
// the vm-libvirt test under a real libvirtd).
#include "libvirt-hooks/hook.hpp"

#include "core_fakes.hpp"

#include <hyv/domain_xml.hpp>

#include <gtest/gtest.h>

namespace hyv::hook {
namespace {

const Guid kGuid = *Guid::parse("5054:00ff:fe12:3456");
const MdevUuid kMdev = *MdevUuid::parse("c2177883-f1bb-47f0-914d-32a22e3a8804");
const MdevUuid kOtherMdev = *MdevUuid::parse("0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f");
const NetworkIdentity kShared{.unisolated = true};

class HookTest : public ::testing::Test {
protected:
    std::string domain_xml(const std::vector<domain_xml::Device>& devices, const std::vector<MdevUuid>& hostdevs)
    {
        std::string xml = "<domain type='qemu'><name>vm1</name><metadata>";
        if (!devices.empty()) {
            std::string element = domain_xml::metadata_xml(devices);
            xml += element;
        }
        xml += "</metadata><devices>";
        for (const auto& mdev : hostdevs) {
            xml += domain_xml::hostdev_xml(mdev, "hyv-" + mdev.to_string());
        }
        return xml + "</devices></domain>";
    }

    Outcome hook(const std::string& op, const std::string& xml, const std::string& sub = "begin")
    {
        return run(Request{"vm1", op, sub, xml}, mdevs, parent_of);
    }

    test::TempDir dir;
    test::CrashPlan crash;
    test::FakeMdevControl mdevs{dir.path(), crash};
    bool device_present = true;
    ParentLookup parent_of = [this](const Guid& guid) -> std::optional<Parent> {
        if (!device_present || guid != kGuid) {
            return std::nullopt;
        }
        return Parent{"/sys/class/hyv/rxe0", "hyv-vrdma"};
    };
};

TEST_F(HookTest, PrepareCreatesTheMissingMdevOnTheParentOfItsGuidWithItsQuota)
{
    const Quota quota{.max_qps = 16, .max_cqs = 0, .max_mrs = 0, .max_pinned_bytes = 0};
    const auto outcome = hook("prepare", domain_xml({{kGuid, kMdev, quota, kShared}}, {kMdev}));
    EXPECT_EQ(outcome.exit_code, 0) << outcome.message;
    auto listed = mdevs.list();
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].uuid, kMdev);
    EXPECT_EQ((*listed)[0].parent_path, "/sys/class/hyv/rxe0");
    EXPECT_EQ((*listed)[0].type, "hyv-vrdma");
    // Starting again with the mdev still there (hyvd made it, or a failed start) is fine.
    EXPECT_EQ(hook("prepare", domain_xml({{kGuid, kMdev, quota, kShared}}, {kMdev})).exit_code, 0);
    EXPECT_EQ(mdevs.list()->size(), 1u);
}

TEST_F(HookTest, PrepareLimitsTheMdevToItsIdentity)
{
    EXPECT_EQ(hook("prepare", domain_xml({{kGuid, kMdev, {}, kShared}}, {kMdev})).exit_code, 0);
    EXPECT_EQ(mdevs.identity_of(kMdev), "unisolated");
    ASSERT_TRUE(mdevs.remove(kMdev).ok());

    NetworkIdentity own;
    own.addresses.push_back(*IpPrefix::parse("10.0.0.5/24"));
    EXPECT_EQ(hook("prepare", domain_xml({{kGuid, kMdev, {}, own}}, {kMdev})).exit_code, 0);
    EXPECT_EQ(mdevs.identity_of(kMdev), "netdev hyvc2177883") << "the link hyvd made for this mdev";
}

TEST_F(HookTest, PrepareRefusesADeviceWithoutIdentityInOneLineNamingTheFix)
{
    const auto outcome = hook("prepare", domain_xml({{kGuid, kMdev, {}, NetworkIdentity{}}}, {kMdev}));
    EXPECT_EQ(outcome.exit_code, 1);
    EXPECT_EQ(outcome.message.find('\n'), std::string::npos);
    EXPECT_NE(outcome.message.find("has no network identity"), std::string::npos) << outcome.message;
    EXPECT_NE(outcome.message.find("unisolated='yes'"), std::string::npos) << outcome.message;
    EXPECT_TRUE(mdevs.list()->empty());
}

TEST_F(HookTest, PrepareRefusesAGuidThatIsNotHereInOneLineNamingTheFix)
{
    device_present = false;
    const auto outcome = hook("prepare", domain_xml({{kGuid, kMdev, {}, kShared}}, {kMdev}));
    EXPECT_EQ(outcome.exit_code, 1);
    EXPECT_EQ(outcome.message.find('\n'), std::string::npos);
    EXPECT_EQ(outcome.message.rfind("hyv: domain vm1: RDMA device 5054:00ff:fe12:3456 is not on this host", 0), 0u)
        << outcome.message;
    EXPECT_NE(outcome.message.find("hyvctl detach vm1 5054:00ff:fe12:3456"), std::string::npos) << outcome.message;
    EXPECT_TRUE(mdevs.list()->empty());
}

TEST_F(HookTest, PrepareLeavesNothingBehindWhenALaterDeviceFails)
{
    const Guid missing = *Guid::parse("0002:c903:00a1:b2c3");
    const auto outcome = hook(
        "prepare", domain_xml({{kGuid, kMdev, {}, kShared}, {missing, kOtherMdev, {}, kShared}}, {kMdev, kOtherMdev}));
    EXPECT_EQ(outcome.exit_code, 1);
    EXPECT_NE(outcome.message.find("0002:c903:00a1:b2c3"), std::string::npos) << outcome.message;
    EXPECT_TRUE(mdevs.list()->empty()) << "the mdev created for the first device must be removed again";
}

TEST_F(HookTest, PrepareRefusesWhenTheParentIsOutOfInstances)
{
    mdevs.fail_create = true;
    const auto outcome = hook("prepare", domain_xml({{kGuid, kMdev, {}, kShared}}, {kMdev}));
    EXPECT_EQ(outcome.exit_code, 1);
    EXPECT_NE(outcome.message.find("cannot create mdev " + kMdev.to_string()), std::string::npos) << outcome.message;
}

TEST_F(HookTest, PrepareRefusesAHandWrittenGuidHyvdHasNotCompleted)
{
    const auto outcome = hook("prepare", domain_xml({{kGuid, std::nullopt, {}, kShared}}, {}));
    EXPECT_EQ(outcome.exit_code, 1);
    EXPECT_NE(outcome.message.find("hyvctl reconcile"), std::string::npos) << outcome.message;
    // Metadata with an mdev but no hostdev for it would start a domain without the device.
    EXPECT_EQ(hook("prepare", domain_xml({{kGuid, kMdev, {}, kShared}}, {})).exit_code, 1);
    EXPECT_TRUE(mdevs.list()->empty());
}

TEST_F(HookTest, PrepareRefusesBadMetadataAndIgnoresDomainsWithoutHyv)
{
    const auto bad = hook("prepare", "<domain><name>vm1</name><metadata><hyv:devices xmlns:hyv='" +
                                         std::string(domain_xml::kNamespace) +
                                         "'><hyv:device guid='zz'/></hyv:devices></metadata></domain>");
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.message.find("guid='zz'"), std::string::npos) << bad.message;
    EXPECT_EQ(hook("prepare", domain_xml({}, {})).exit_code, 0);
    EXPECT_EQ(hook("prepare", domain_xml({}, {}), "end").exit_code, 0) << "only prepare/begin acts";
}

TEST_F(HookTest, ReleaseRemovesTheDomainsHyvMdevsOnly)
{
    ASSERT_TRUE(mdevs.create("/sys/class/hyv/rxe0", "hyv-vrdma", kMdev));
    ASSERT_TRUE(mdevs.create("/sys/class/hyv/rxe0", "hyv-vrdma", kOtherMdev));
    // A transient attach has a hostdev and no persistent metadata; it goes too.
    const auto outcome = hook("release", domain_xml({{kGuid, kMdev, {}, kShared}}, {kMdev}), "end");
    EXPECT_EQ(outcome.exit_code, 0) << outcome.message;
    auto listed = mdevs.list();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].uuid, kOtherMdev) << "another domain's mdev must stay";
    EXPECT_EQ(hook("release", domain_xml({}, {kMdev}), "end").exit_code, 0) << "already gone is fine";
}

TEST_F(HookTest, MigrateIsRefusedWithTheDocumentedMessage)
{
    const auto outcome = hook("migrate", domain_xml({{kGuid, kMdev, {}, kShared}}, {kMdev}));
    EXPECT_EQ(outcome.exit_code, 1);
    EXPECT_EQ(outcome.message, "hyv: domain vm1: has hyv RDMA devices (5054:00ff:fe12:3456), which cannot migrate: "
                               "detach them (`hyvctl detach vm1 GUID`), migrate, then attach on the destination");
    EXPECT_EQ(hook("migrate", domain_xml({}, {})).exit_code, 0);
}

TEST_F(HookTest, ReconnectNeverFails)
{
    EXPECT_EQ(hook("reconnect", "not xml").exit_code, 0);
    device_present = false;
    EXPECT_EQ(hook("reconnect", domain_xml({{kGuid, kMdev, {}, kShared}}, {kMdev})).exit_code, 0);
}

}  // namespace
}  // namespace hyv::hook
