// hyv's view of libvirt domain XML: the <hyv:devices> metadata and <hostdev type='mdev'> elements.
#include <hyv/domain_xml.hpp>

#include <gtest/gtest.h>

#include <tuple>

namespace hyv::domain_xml {
namespace {

const Guid kGuid = *Guid::parse("5054:00ff:fe12:3456");
const Guid kOtherGuid = *Guid::parse("0002:c903:00a1:b2c3");
const MdevUuid kMdev = *MdevUuid::parse("c2177883-f1bb-47f0-914d-32a22e3a8804");

std::string domain_with(const std::string& metadata, const std::string& devices = "")
{
    return "<domain type='qemu'><name>vm1</name><uuid>6f1b0c0e-9d5b-4a3e-8a8f-1c2d3e4f5a6b</uuid>"
           "<metadata>" +
           metadata + "</metadata><devices>" + devices + "</devices></domain>";
}

TEST(DomainXml, ReadsMdevHostdevsAliasesAndAddresses)
{
    // The shape libvirt 9.0 writes for a live mdev hostdev (see its formatdomain documentation).
    const std::string xml = domain_with(
        "",
        "<hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='off'>"
        "<source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source>"
        "<alias name='ua-hyv-c2177883-f1bb-47f0-914d-32a22e3a8804'/>"
        "<address type='pci' domain='0x0000' bus='0x02' slot='0x00' function='0x0'/></hostdev>"
        "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
        "<address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source><alias name='hostdev0'/></hostdev>"
        "<rng model='virtio'><alias name='rng0'/></rng>");
    auto domain = parse_domain(xml);
    ASSERT_TRUE(domain) << domain.error().message;
    EXPECT_EQ(domain->name, "vm1");
    EXPECT_EQ(domain->uuid, "6f1b0c0e-9d5b-4a3e-8a8f-1c2d3e4f5a6b");
    EXPECT_TRUE(domain->devices.empty());
    ASSERT_EQ(domain->hostdevs.size(), 1u);
    EXPECT_EQ(domain->hostdevs[0].mdev_uuid, "c2177883-f1bb-47f0-914d-32a22e3a8804");
    EXPECT_EQ(domain->hostdevs[0].alias, "ua-hyv-c2177883-f1bb-47f0-914d-32a22e3a8804");
    EXPECT_EQ(domain->hostdevs[0].pci_address, "0000:02:00.0");
    EXPECT_TRUE(*has_device_alias(xml, "rng0"));
    EXPECT_FALSE(*has_device_alias(xml, "rng1"));
    EXPECT_EQ(parse_domain("<domain").error().code, "domain-xml");
    EXPECT_EQ(parse_domain("<network/>").error().code, "domain-xml");
}

TEST(DomainXml, MetadataRoundTripsThroughTheElementLibvirtStores)
{
    const std::vector<Device> devices = {
        Device{kGuid, kMdev, Quota{.max_qps = 64, .max_cqs = 0, .max_mrs = 128, .max_pinned_bytes = 1ull << 33}},
        Device{kOtherGuid, std::nullopt, Quota{}},
    };
    const std::string element = metadata_xml(devices);
    EXPECT_NE(element.find(kNamespace), std::string::npos);
    EXPECT_EQ(element.find("cqs="), std::string::npos) << "zero limits are left out: " << element;
    auto parsed = parse_metadata(element);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(*parsed, devices);

    // As libvirt shows it inside a domain: under the prefix it was given.
    const std::string in_domain =
        domain_with("<hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'>"
                    "<hyv:device guid='5054:00ff:fe12:3456' mdev='C2177883-F1BB-47F0-914D-32A22E3A8804' qps='64' "
                    "mrs='128' pinned_bytes='8589934592'/><hyv:device guid='0x0002c90300a1b2c3'/></hyv:devices>");
    auto domain = parse_domain(in_domain);
    ASSERT_TRUE(domain) << domain.error().message;
    EXPECT_EQ(domain->devices, devices);
    EXPECT_EQ(metadata_xml({}).find("<devices xmlns="), 0u) << "libvirt refuses an element declaring its own prefix";

    // As virDomainGetMetadata returns it (libvirt 9.0, checked with `virsh -c test:///default metadata`):
    // no namespace left on the elements, only the prefix declaration.
    auto returned = parse_metadata("<devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'>"
                                   "<device guid='5054:00ff:fe12:3456' mdev='c2177883-f1bb-47f0-914d-32a22e3a8804' "
                                   "qps='64' mrs='128' pinned_bytes='8589934592'/><device guid='0002:c903:00a1:b2c3'/>"
                                   "</devices>");
    ASSERT_TRUE(returned) << returned.error().message;
    EXPECT_EQ(*returned, devices);
    // As virsh dumpxml shows it after virDomainSetMetadata.
    auto dumped =
        parse_domain(domain_with("<devices xmlns='https://hyv.dev/xmlns/libvirt/1' "
                                 "xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'><device guid='0002:c903:00a1:b2c3'/>"
                                 "</devices>"));
    ASSERT_TRUE(dumped) << dumped.error().message;
    ASSERT_EQ(dumped->devices.size(), 1u);
    EXPECT_EQ(dumped->devices[0].guid, kOtherGuid);
    EXPECT_TRUE(parse_metadata(metadata_xml({}))->empty());
}

TEST(DomainXml, MetadataInAnotherNamespaceIsNotHyvs)
{
    auto domain = parse_domain(domain_with("<x:devices xmlns:x='urn:other'><x:device guid='5054:00ff:fe12:3456'/>"
                                           "</x:devices><devices><device guid='5054:00ff:fe12:3456'/></devices>"));
    ASSERT_TRUE(domain) << domain.error().message;
    EXPECT_TRUE(domain->devices.empty());
}

TEST(DomainXml, BadMetadataIsRefusedNamingTheAttributeAndTheFix)
{
    const auto error_of = [](const std::string& device) {
        auto parsed = parse_domain(
            domain_with("<hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'>" + device + "</hyv:devices>"));
        EXPECT_FALSE(parsed) << device;
        return parsed ? Error{} : parsed.error();
    };
    Error bad_guid = error_of("<hyv:device guid='not-a-guid'/>");
    EXPECT_EQ(bad_guid.code, "hyv-metadata");
    EXPECT_NE(bad_guid.message.find("not-a-guid"), std::string::npos) << bad_guid.message;
    EXPECT_NE(bad_guid.message.find("virsh edit"), std::string::npos) << bad_guid.message;
    EXPECT_EQ(error_of("<hyv:device/>").code, "hyv-metadata");
    EXPECT_EQ(error_of("<hyv:device guid='0000:0000:0000:0000'/>").code, "hyv-metadata");
    Error bad_mdev = error_of("<hyv:device guid='5054:00ff:fe12:3456' mdev='xyz'/>");
    EXPECT_NE(bad_mdev.message.find("mdev='xyz'"), std::string::npos) << bad_mdev.message;
    Error bad_qps = error_of("<hyv:device guid='5054:00ff:fe12:3456' qps='-1'/>");
    EXPECT_NE(bad_qps.message.find("qps='-1'"), std::string::npos) << bad_qps.message;
    EXPECT_EQ(error_of("<hyv:device guid='5054:00ff:fe12:3456' qps='4294967296'/>").code, "hyv-metadata");
    Error twice = error_of("<hyv:device guid='5054:00ff:fe12:3456'/><hyv:device guid='0x505400fffe123456'/>");
    EXPECT_NE(twice.message.find("twice"), std::string::npos) << twice.message;
}

NetworkIdentity own_identity()
{
    NetworkIdentity identity;
    identity.addresses = {*IpPrefix::parse("10.0.0.5/24"), *IpPrefix::parse("fd00::5/64")};
    identity.mac = *MacAddress::parse("52:54:00:12:34:56");
    identity.vlan = *VlanId::parse("7");
    return identity;
}

TEST(DomainXml, NetworkIdentityRoundTripsAndOlderFormsStillParse)
{
    const std::vector<Device> devices = {
        Device{kGuid, kMdev, Quota{.max_qps = 64}, own_identity()},
        Device{kOtherGuid, std::nullopt, Quota{}, NetworkIdentity{.unisolated = true}},
    };
    const std::string element = metadata_xml(devices);
    EXPECT_NE(element.find("<ip address='10.0.0.5' prefix='24'/><ip address='fd00::5' prefix='64'/>"
                           "<mac address='52:54:00:12:34:56'/><vlan id='7'/></device>"),
              std::string::npos)
        << element;
    EXPECT_NE(element.find("unisolated='yes'/>"), std::string::npos) << element;
    auto parsed = parse_metadata(element);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(*parsed, devices);

    // Hand-written, as docs/libvirt.md and docs/network.md show it.
    auto domain = parse_domain(
        domain_with("<hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'>"
                    "<hyv:device guid='5054:00ff:fe12:3456' mdev='c2177883-f1bb-47f0-914d-32a22e3a8804' qps='64'>\n"
                    "  <hyv:ip address='10.0.0.5' prefix='24'/><hyv:ip address='fd00:0::5' prefix='64'/>\n"
                    "  <hyv:mac address='52:54:00:12:34:56'/><hyv:vlan id='7'/></hyv:device>"
                    "<hyv:device guid='0002:c903:00a1:b2c3' unisolated='yes'/></hyv:devices>"));
    ASSERT_TRUE(domain) << domain.error().message;
    EXPECT_EQ(domain->devices, devices);

    // The form before identities existed still parses; its identity is empty, which hyvd and the hook refuse.
    auto older = parse_domain(
        domain_with("<hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'><hyv:device guid='5054:00ff:fe12:3456'/>"
                    "</hyv:devices>"));
    ASSERT_TRUE(older) << older.error().message;
    ASSERT_EQ(older->devices.size(), 1u);
    EXPECT_TRUE(older->devices[0].identity.empty());
}

TEST(DomainXml, BadNetworkIdentityIsRefusedNamingItAndTheFix)
{
    const auto error_of = [](const std::string& inner, const std::string& attributes = "") {
        auto parsed = parse_domain(domain_with("<hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'><hyv:device "
                                               "guid='5054:00ff:fe12:3456'" +
                                               attributes + ">" + inner + "</hyv:device></hyv:devices>"));
        EXPECT_FALSE(parsed) << inner << attributes;
        return parsed ? Error{} : parsed.error();
    };
    for (const auto& [inner, attributes, needle] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"<hyv:ip address='10.0.0.5'/>", "", "10.0.0.5/"},
             {"<hyv:ip address='10.0.0.300' prefix='24'/>", "", "10.0.0.300/24"},
             {"<hyv:ip address='10.0.0.5' prefix='24'/><hyv:mac address='01:00:5e:00:00:01'/>", "", "multicast"},
             {"<hyv:ip address='10.0.0.5' prefix='24'/><hyv:vlan id='4095'/>", "", "4095"},
             {"<hyv:ip address='10.0.0.5' prefix='24'/>", " unisolated='yes'", "unisolated"},
             {"", " unisolated='maybe'", "unisolated='maybe'"},
             {"<hyv:ip address='10.0.0.5' prefix='24'/><hyv:ip address='10.0.0.5' prefix='16'/>", "", "twice"},
             {"<hyv:route to='x'/>", "", "hyv:route"},
         }) {
        const Error error = error_of(inner, attributes);
        EXPECT_EQ(error.code, "hyv-metadata") << inner;
        EXPECT_NE(error.message.find(needle), std::string::npos) << error.message;
        EXPECT_NE(error.message.find("virsh edit"), std::string::npos) << error.message;
        EXPECT_EQ(error.message.find('\n'), std::string::npos) << error.message;
    }
}

TEST(DomainXml, DevicesAreReplacedAndRemovedByGuid)
{
    const Device first{kGuid, std::nullopt, Quota{}};
    const Device completed{kGuid, kMdev, Quota{.max_qps = 8}};
    const Device other{kOtherGuid, std::nullopt, Quota{}};
    auto devices = with_device({first, other}, completed);
    ASSERT_EQ(devices.size(), 2u);
    EXPECT_EQ(devices[0], completed);
    devices = with_device(devices, Device{*Guid::parse("0000:0000:0000:0001"), std::nullopt, Quota{}});
    EXPECT_EQ(devices.size(), 3u);
    devices = without_device(devices, kOtherGuid);
    ASSERT_EQ(devices.size(), 2u);
    EXPECT_EQ(devices[0], completed);
    EXPECT_EQ(without_device(devices, kOtherGuid), devices);
}

TEST(DomainXml, HostdevCarriesTheMdevAndOurAlias)
{
    const std::string hostdev = hostdev_xml(kMdev, "hyv-" + kMdev.to_string());
    auto domain = parse_domain(domain_with("", hostdev));
    ASSERT_TRUE(domain) << domain.error().message;
    ASSERT_EQ(domain->hostdevs.size(), 1u);
    EXPECT_EQ(domain->hostdevs[0].mdev_uuid, kMdev.to_string());
    EXPECT_EQ(domain->hostdevs[0].alias, "ua-hyv-" + kMdev.to_string());
    EXPECT_NE(hostdev.find("model='vfio-pci'"), std::string::npos);
    EXPECT_EQ(alias_for("hyv-x"), "ua-hyv-x");
    EXPECT_EQ(alias_for("ua-hyv-x"), "ua-hyv-x");
}

}  // namespace
}  // namespace hyv::domain_xml
