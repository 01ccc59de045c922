#include "hyv/types.hpp"

#include <gtest/gtest.h>

#include <set>

namespace hyv {
namespace {

TEST(Guid, ParsesEveryAcceptedFormToTheSameValue)
{
    constexpr std::uint64_t expected = 0x0002c90300a1b2c3ull;
    for (const char* text : {"0002:c903:00a1:b2c3", "0002:C903:00A1:B2C3", "0x0002c90300a1b2c3", "0X0002C90300A1B2C3",
                             "0002c90300a1b2c3", "00:02:c9:03:00:a1:b2:c3", "00:02:C9:03:00:A1:B2:C3"}) {
        auto guid = Guid::parse(text);
        ASSERT_TRUE(guid.ok()) << text << ": " << guid.error().message;
        EXPECT_EQ(guid->value(), expected) << text;
        EXPECT_EQ(guid->to_string(), "0002:c903:00a1:b2c3") << text;
    }
}

TEST(Guid, NormalFormRoundTrips)
{
    for (std::uint64_t value : {0x0ull, 0x1ull, 0xffffffffffffffffull, 0x5254000000123456ull}) {
        const Guid guid(value);
        auto again = Guid::parse(guid.to_string());
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(*again, guid);
    }
    EXPECT_EQ(Guid(0xffffffffffffffffull).to_string(), "ffff:ffff:ffff:ffff");
}

TEST(Guid, ZeroParsesButIsFlagged)
{
    auto zero = Guid::parse("0000:0000:0000:0000");
    ASSERT_TRUE(zero.ok());
    EXPECT_TRUE(zero->is_zero());
    EXPECT_FALSE(Guid::parse("0002:c903:00a1:b2c3")->is_zero());
}

TEST(Guid, RejectsMalformedText)
{
    for (const char* text :
         {"", "0002:c903:00a1", "0002:c903:00a1:b2c3:0000", "0002:c903:00a1:b2cg", "0002-c903-00a1-b2c3", "0x",
          "0x0002c90300a1b2c", "0x0002c90300a1b2c3f", "00:02:c9:03:00:a1:b2",
          "0:02:c9:03:00:a1:b2:c3:", "002:c903:00a1:b2c33", " 0002:c903:00a1:b2c3", "0002:c903:00a1:b2c3 ",
          "00:02:c9:03:00:a1:b2:c3:", "0002:c903:00a1b2c3:", "+002c90300a1b2c3"}) {
        auto guid = Guid::parse(text);
        EXPECT_FALSE(guid.ok()) << "accepted '" << text << "'";
        if (!guid.ok()) {
            EXPECT_EQ(guid.error().code, "bad-guid");
            EXPECT_NE(guid.error().message.find("0002:c903:00a1:b2c3"), std::string::npos)
                << "message should show the expected form";
        }
    }
}

TEST(MdevUuid, ParsesAndFormatsCanonicalLowercase)
{
    auto uuid = MdevUuid::parse("83B8F4F2-509F-382F-3C1E-E6BFE0FA1001");
    ASSERT_TRUE(uuid.ok());
    EXPECT_EQ(uuid->to_string(), "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
    EXPECT_EQ(uuid->bytes()[0], 0x83);
    EXPECT_EQ(uuid->bytes()[15], 0x01);
    EXPECT_FALSE(uuid->is_nil());
    EXPECT_TRUE(MdevUuid::parse("00000000-0000-0000-0000-000000000000")->is_nil());
}

TEST(MdevUuid, RejectsMalformedText)
{
    for (const char* text : {"", "83b8f4f2509f382f3c1ee6bfe0fa1001", "83b8f4f2-509f-382f-3c1e-e6bfe0fa100",
                             "83b8f4f2-509f-382f-3c1e-e6bfe0fa10011", "83b8f4f2-509f-382f-3c1ee-6bfe0fa1001",
                             "83b8f4f2-509f-382f-3c1e-e6bfe0fa100g", "{83b8f4f2-509f-382f-3c1e-e6bfe0fa10}"}) {
        auto uuid = MdevUuid::parse(text);
        EXPECT_FALSE(uuid.ok()) << "accepted '" << text << "'";
        if (!uuid.ok()) {
            EXPECT_EQ(uuid.error().code, "bad-uuid");
        }
    }
}

TEST(MdevUuid, GeneratesDistinctVersion4Uuids)
{
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const MdevUuid uuid = MdevUuid::generate();
        const std::string text = uuid.to_string();
        EXPECT_EQ(text[14], '4') << text;                                          // version 4
        EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos) << text;  // RFC 4122 variant
        auto again = MdevUuid::parse(text);
        ASSERT_TRUE(again.ok());
        EXPECT_EQ(*again, uuid);
        seen.insert(text);
    }
    EXPECT_EQ(seen.size(), 1000u);
}

TEST(VmId, AcceptsLibvirtAndQemuNames)
{
    const std::string longest(VmId::max_length, 'x');
    for (const std::string& name :
         {std::string("vm1"), std::string("web-01.prod"), std::string("a"), std::string("Guest_X:2"), longest}) {
        auto vm = VmId::parse(name);
        ASSERT_TRUE(vm.ok()) << name;
        EXPECT_EQ(vm->str(), name);
    }
}

TEST(VmId, RejectsUnsafeNames)
{
    const std::string too_long(65, 'x');
    for (const std::string& name : {std::string(), too_long, std::string("a/b"), std::string("."), std::string(".."),
                                    std::string("my vm"), std::string("tab\there"), std::string("nl\n"),
                                    std::string("nul\0x", 5), std::string("\x7f"), std::string("caf\xc3\xa9")}) {
        auto vm = VmId::parse(name);
        EXPECT_FALSE(vm.ok()) << "accepted '" << name << "'";
        if (!vm.ok()) {
            EXPECT_EQ(vm.error().code, "bad-vm-name");
        }
    }
}

TEST(Enums, RoundTripThroughText)
{
    for (VmKind kind : {VmKind::libvirt, VmKind::qemu}) {
        EXPECT_EQ(*parse_vm_kind(to_string(kind)), kind);
    }
    EXPECT_FALSE(parse_vm_kind("xen").ok());
    for (AssignmentState state :
         {AssignmentState::attaching_intent, AssignmentState::mdev_created, AssignmentState::hotplugged,
          AssignmentState::attached, AssignmentState::detaching, AssignmentState::detached_mdev_present,
          AssignmentState::inactive, AssignmentState::failed, AssignmentState::removed}) {
        EXPECT_EQ(*parse_assignment_state(to_string(state)), state);
    }
    EXPECT_FALSE(parse_assignment_state("ATTACHED").ok());
}

TEST(IpPrefix, ParsesHostAddressesWithTheirPrefix)
{
    auto v4 = IpPrefix::parse("10.0.0.5/24");
    ASSERT_TRUE(v4.ok()) << v4.error().message;
    EXPECT_EQ(v4->family(), IpPrefix::Family::ipv4);
    EXPECT_EQ(v4->address(), "10.0.0.5");
    EXPECT_EQ(v4->prefix_length(), 24u);
    EXPECT_EQ(v4->to_string(), "10.0.0.5/24");
    auto v6 = IpPrefix::parse("FD00:0:0::5/64");
    ASSERT_TRUE(v6.ok()) << v6.error().message;
    EXPECT_EQ(v6->to_string(), "fd00::5/64") << "canonical text";
    EXPECT_EQ(IpPrefix::parse("10.0.0.5", "32")->to_string(), "10.0.0.5/32");
    for (const char* bad : {"10.0.0.5", "10.0.0.5/", "10.0.0.5/0", "10.0.0.5/33", "10.0.0.5/24x", "10.0.0/24",
                            "0.0.0.0/8", "255.255.255.255/32", "127.0.0.1/8", "224.0.0.1/4", "::/64", "::1/128",
                            "ff02::1/64", "fd00::5/129", "host/24", ""}) {
        auto parsed = IpPrefix::parse(bad);
        EXPECT_FALSE(parsed.ok()) << "accepted '" << bad << "'";
        if (!parsed.ok()) {
            EXPECT_EQ(parsed.error().code, "bad-ip");
            EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos);
        }
    }
}

TEST(MacAddress, ParsesUnicastAddressesAndMakesLocalOnes)
{
    EXPECT_EQ(MacAddress::parse("52:54:00:AB:cd:0f")->to_string(), "52:54:00:ab:cd:0f");
    EXPECT_EQ(MacAddress::parse("52-54-00-ab-cd-0f")->to_string(), "52:54:00:ab:cd:0f");
    for (const char* bad : {"01:00:5e:00:00:01", "00:00:00:00:00:00", "52:54:00:ab:cd", "52:54:00:ab:cd:0g",
                            "52:54-00:ab:cd:0f", "525400abcd0f", ""}) {
        auto parsed = MacAddress::parse(bad);
        EXPECT_FALSE(parsed.ok()) << "accepted '" << bad << "'";
        if (!parsed.ok()) {
            EXPECT_EQ(parsed.error().code, "bad-mac");
        }
    }
    for (int i = 0; i < 16; ++i) {
        const auto mac = MacAddress::random_local();
        EXPECT_EQ(mac.bytes()[0] & 0x03, 0x02) << mac.to_string();
        EXPECT_TRUE(MacAddress::parse(mac.to_string()).ok());
    }
}

TEST(VlanId, AcceptsOneTo4094)
{
    EXPECT_EQ(VlanId::parse("1")->value(), 1);
    EXPECT_EQ(VlanId::parse("4094")->value(), 4094);
    for (const char* bad : {"0", "4095", "-1", "7x", "", "99999999999"}) {
        auto parsed = VlanId::parse(bad);
        EXPECT_FALSE(parsed.ok()) << "accepted '" << bad << "'";
        if (!parsed.ok()) {
            EXPECT_EQ(parsed.error().code, "bad-vlan");
        }
    }
}

TEST(NetworkIdentity, IsAddressesOrUnisolatedNeverBothNorNeither)
{
    NetworkIdentity none;
    EXPECT_TRUE(none.empty());
    EXPECT_EQ(none.validate().error().code, "identity-required");
    EXPECT_EQ(none.validate().error().message,
              "attach needs a network identity: give --ip ADDR/PREFIX, or --unisolated to share the host's GIDs "
              "without isolation");
    EXPECT_EQ(none.describe(), "none");
    NetworkIdentity shared{.unisolated = true};
    EXPECT_TRUE(shared.validate().ok());
    EXPECT_EQ(shared.describe(), "unisolated");
    NetworkIdentity own;
    own.addresses = {*IpPrefix::parse("10.0.0.5/24"), *IpPrefix::parse("fd00::5/64")};
    EXPECT_TRUE(own.validate().ok());
    EXPECT_EQ(own.describe(), "10.0.0.5/24,fd00::5/64");
    NetworkIdentity both = own;
    both.unisolated = true;
    EXPECT_EQ(both.validate().error().code, "bad-identity");
    NetworkIdentity mac_only;
    mac_only.mac = MacAddress::random_local();
    EXPECT_EQ(mac_only.validate().error().code, "bad-identity");
    NetworkIdentity twice;
    twice.addresses = {*IpPrefix::parse("10.0.0.5/24"), *IpPrefix::parse("10.0.0.5/16")};
    EXPECT_EQ(twice.validate().error().code, "bad-identity");
    EXPECT_EQ(identity_link_name(*MdevUuid::parse("3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10")), "hyv3b5f1f6e");
}

}  // namespace
}  // namespace hyv
