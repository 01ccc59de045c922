// Parsers against output captured from Debian's QEMU 7.2 (see capture_fixtures.cpp).
#include <hyv/qmp/pci.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace hyv::qmp {
namespace {

std::string fixture(const std::string& name)
{
    std::ifstream in(std::string(HYV_QMP_FIXTURES) + "/" + name, std::ios::binary);
    EXPECT_TRUE(in) << "missing fixture " << name;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(QueryPci, FindsDevicesBelowRootPorts)
{
    const Json pci = Json::parse(fixture("q35_128m.query_pci.json"));
    auto net = find_pci_address(pci, "net0");
    ASSERT_TRUE(net.has_value());
    EXPECT_EQ(net->to_string(), "0000:01:00.0");
    auto test_device = find_pci_address(pci, "test0");
    ASSERT_TRUE(test_device.has_value());
    EXPECT_EQ(*test_device, (PciAddress{0, 3, 0, 0}));
    auto port = find_pci_address(pci, "hp1");
    ASSERT_TRUE(port.has_value());
    EXPECT_EQ(port->to_string(), "0000:00:02.0");
    EXPECT_FALSE(find_pci_address(pci, "nope").has_value());
    EXPECT_FALSE(find_pci_address(pci, "").has_value());  // anonymous functions have qdev_id ""
    EXPECT_EQ(devices_below_bridge(pci, "hp0"), std::vector<std::string>{"net0"});
    EXPECT_TRUE(devices_below_bridge(pci, "hp1").empty());
}

TEST(DeviceAdd, BuildsVfioPciArgumentsForAnMdev)
{
    const std::string uuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";
    auto arguments = build_vfio_mdev_device_add(uuid, qdev_id_for_mdev(uuid), "hp1");
    ASSERT_TRUE(arguments) << arguments.error().message;
    EXPECT_EQ(*arguments, (Json{{"driver", "vfio-pci"},
                                {"sysfsdev", "/sys/bus/mdev/devices/" + uuid},
                                {"id", "hyv-" + uuid},
                                {"bus", "hp1"}}));
    auto bad = build_vfio_mdev_device_add("../../etc/passwd", "x", "hp1");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "invalid-mdev-uuid");
    EXPECT_FALSE(build_vfio_mdev_device_add(uuid, "", "hp1"));
    EXPECT_FALSE(is_valid_uuid("83b8f4f2-509f-382f-3c1e-e6bfe0fa100"));
    EXPECT_FALSE(is_valid_uuid("83b8f4f2x509f-382f-3c1e-e6bfe0fa1001"));
    EXPECT_TRUE(is_valid_uuid("83B8F4F2-509F-382F-3C1E-E6BFE0FA1001"));
}

}  // namespace
}  // namespace hyv::qmp
