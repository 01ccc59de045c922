// PCIe hot-plug through QMP against real QEMU 7.2: slot choice, device_add, query-pci, device_del.
// vfio-pci needs a live mdev (only in the test host VM), so plug-in here uses ordinary PCI devices;
// the mdev's device_add arguments are still checked against QEMU's own parser.
#include <hyv/qmp/pci.hpp>

#include "qmp_test_support.hpp"

namespace hyv::qmp::test {
namespace {

constexpr int kPorts = 3;

class HotplugTest : public ::testing::Test {
protected:
    void start(QemuOptions options)
    {
        qemu = start_qemu(options);
        ASSERT_NE(qemu, nullptr);
        client = std::make_unique<Client>(client_options(*qemu));
        auto connected = client->connect();
        ASSERT_TRUE(connected) << connected.error().message;
    }

    std::unique_ptr<QemuProcess> qemu;
    std::unique_ptr<Client> client;
};

TEST_F(HotplugTest, ListsPortsAndSkipsOccupiedOnes)
{
    QemuOptions options;
    options.hotplug_root_ports = kPorts;
    options.start_paused = true;  // nothing enumerated: only QOM can tell what is plugged where
    // cold0 has an id (/machine/peripheral), the device on hp1 has none (/machine/peripheral-anon).
    options.extra_args = {"-device", "pci-testdev,id=cold0,bus=hp0",
                          "-device", "pci-testdev,bus=hp1",
                          "-device", "pcie-root-port,chassis=9,slot=9,hotplug=off,id=nohp"};
    start(options);

    auto ports = list_hotplug_ports(*client);
    ASSERT_TRUE(ports) << ports.error().message;
    ASSERT_EQ(ports->size(), kPorts + 1u);
    EXPECT_EQ((*ports)[0].qdev_id, "hp0");
    EXPECT_EQ((*ports)[0].bus_name, "hp0");
    EXPECT_EQ((*ports)[0].bus_qom_path, "/machine/peripheral/hp0/hp0");
    EXPECT_EQ((*ports)[0].occupants, std::vector<std::string>{"/machine/peripheral/cold0"});
    EXPECT_FALSE((*ports)[0].free());
    ASSERT_EQ((*ports)[1].occupants.size(), 1u);
    EXPECT_EQ((*ports)[1].occupants[0].rfind("/machine/peripheral-anon/", 0), 0u) << (*ports)[1].occupants[0];
    EXPECT_FALSE((*ports)[1].free());
    EXPECT_TRUE((*ports)[2].free());
    const auto no_hotplug =
        std::find_if(ports->begin(), ports->end(), [](const auto& p) { return p.qdev_id == "nohp"; });
    ASSERT_NE(no_hotplug, ports->end());
    EXPECT_FALSE(no_hotplug->hotplug_enabled);
    EXPECT_FALSE(no_hotplug->free());

    auto chosen = choose_free_hotplug_port(*client);
    ASSERT_TRUE(chosen) << chosen.error().message;
    EXPECT_EQ(chosen->bus_name, "hp2");
}

TEST_F(HotplugTest, DeviceAddFillsFreePortsInOrderAndQueryPciShowsThem)
{
    QemuOptions options;
    options.hotplug_root_ports = kPorts;
    start(options);
    ASSERT_TRUE(wait_for_firmware_enumeration(*client)) << "firmware never numbered the root port buses";

    auto pci_before = client->execute("query-pci");
    ASSERT_TRUE(pci_before);
    for (int n = 0; n < kPorts; ++n) {
        const std::string id = "hot" + std::to_string(n);
        auto plugged = plug_device(*client, {{"driver", n % 2 == 0 ? "pci-testdev" : "virtio-net-pci"}, {"id", id}});
        ASSERT_TRUE(plugged) << plugged.error().message;
        EXPECT_EQ(plugged->bus, "hp" + std::to_string(n));
        EXPECT_EQ(plugged->qdev_id, id);

        auto address = guest_pci_address(*client, id);
        ASSERT_TRUE(address) << address.error().message;
        // The function sits in slot 0 of the bus behind the port the firmware numbered.
        auto port_address = find_pci_address(*pci_before, plugged->bus);
        ASSERT_TRUE(port_address);
        EXPECT_EQ(address->bus, n + 1) << address->to_string();
        EXPECT_EQ(address->slot, 0);
        EXPECT_EQ(address->function, 0);
        auto pci = client->execute("query-pci");
        ASSERT_TRUE(pci);
        EXPECT_EQ(devices_below_bridge(*pci, plugged->bus), std::vector<std::string>{id});
    }
    auto full = plug_device(*client, {{"driver", "pci-testdev"}, {"id", "one-too-many"}});
    ASSERT_FALSE(full);
    EXPECT_EQ(full.error().code, "qmp-no-free-slot");
    EXPECT_NE(full.error().message.find("pcie-root-port"), std::string::npos);

    // A reused qdev id is refused by QEMU, so a retried attach cannot plug the same mdev twice.
    auto duplicate = client->execute("device_add", {{"driver", "pci-testdev"}, {"id", "hot0"}, {"bus", "hp0"}});
    ASSERT_FALSE(duplicate);
    EXPECT_EQ(duplicate.error().code, "qmp-GenericError");
    EXPECT_NE(duplicate.error().message.find("Duplicate"), std::string::npos);
}

TEST_F(HotplugTest, VfioMdevArgumentsAreAcceptedByQemuUpToTheMissingMdev)
{
    QemuOptions options;
    options.hotplug_root_ports = 1;
    start(options);
    const std::string uuid = "0b6a8a7e-7e9c-4c8e-9a49-3b0d1f0c2a11";
    auto plugged = plug_vfio_mdev(*client, {.mdev_uuid = uuid});
    ASSERT_FALSE(plugged);
    // QEMU parsed driver, sysfsdev, id and bus and failed only on opening the (absent) mdev.
    EXPECT_EQ(plugged.error().code, "qmp-GenericError");
    EXPECT_NE(plugged.error().message.find("vfio"), std::string::npos) << plugged.error().message;
    EXPECT_NE(plugged.error().message.find(uuid), std::string::npos) << plugged.error().message;
    auto exists = device_exists(*client, qdev_id_for_mdev(uuid));
    ASSERT_TRUE(exists);
    EXPECT_FALSE(*exists);
    // The failed plug left the port free.
    auto port = choose_free_hotplug_port(*client);
    ASSERT_TRUE(port) << port.error().message;
    EXPECT_EQ(port->bus_name, "hp0");
}

TEST_F(HotplugTest, UnplugWithoutAGuestOsTimesOutAndKeepsTheDevice)
{
    QemuOptions options;
    options.hotplug_root_ports = 1;
    start(options);
    ASSERT_TRUE(wait_for_firmware_enumeration(*client));
    ASSERT_TRUE(plug_device(*client, {{"driver", "pci-testdev"}, {"id", "stuck"}}));
    auto removed = unplug_device(*client, "stuck", 1500ms);
    ASSERT_FALSE(removed);
    EXPECT_EQ(removed.error().code, "qmp-timeout");
    EXPECT_NE(removed.error().message.find("acknowledged"), std::string::npos);
    auto exists = device_exists(*client, "stuck");
    ASSERT_TRUE(exists);
    EXPECT_TRUE(*exists);
    auto port = choose_free_hotplug_port(*client);
    ASSERT_FALSE(port);
    EXPECT_EQ(port.error().code, "qmp-no-free-slot");
}

TEST_F(HotplugTest, LinuxGuestAcknowledgesUnplugAndThePortBecomesFreeAgain)
{
    QemuOptions options;
    options.hotplug_root_ports = 2;
    options.memory = "256M";
    ScopedTempDir dir("hyv-hotplug-guest");
    const std::string marker = "HYV-TEST-GUEST-READY";
    auto guest = testing::build_sleeping_guest(dir.path(), marker);
    ASSERT_TRUE(guest) << guest.error().message;
    options.extra_args = *guest;
    start(options);
    ASSERT_TRUE(wait_for_console(*qemu, marker, 120s)) << "guest did not boot:\n" << qemu->console();

    auto plugged = plug_device(*client, {{"driver", "pci-testdev"}, {"id", "guestdev"}});
    ASSERT_TRUE(plugged) << plugged.error().message;
    EXPECT_EQ(plugged->bus, "hp0");
    // The guest's ACPI hot-plug (q35's default) scans the port and the function shows up under its bus.
    std::optional<PciAddress> address;
    for (int attempt = 0; attempt < 100 && !address; ++attempt) {
        if (auto found = guest_pci_address(*client, "guestdev")) {
            address = *found;
        } else {
            std::this_thread::sleep_for(100ms);
        }
    }
    ASSERT_TRUE(address.has_value());
    EXPECT_EQ(address->slot, 0);
    EXPECT_NE(address->bus, 0);

    // The guest ejects the function through ACPI before QEMU reports DEVICE_DELETED.
    auto removed = unplug_device(*client, "guestdev", 30s);
    ASSERT_TRUE(removed) << removed.error().message;
    auto exists = device_exists(*client, "guestdev");
    ASSERT_TRUE(exists);
    EXPECT_FALSE(*exists);
    auto port = choose_free_hotplug_port(*client);
    ASSERT_TRUE(port) << port.error().message;
    EXPECT_EQ(port->bus_name, "hp0");
}

}  // namespace
}  // namespace hyv::qmp::test
