// QmpHotplug with a REAL hyv mdev: runs inside the test host VM (hotplug_mdev_vm.sh boots it), where
// hyv_mdev.ko serves rxe0. A nested QEMU takes the mdev through device_add vfio-pci,sysfsdev=...
#include "hyvd/adapters/qmp_hotplug.hpp"

#include <hyv/qmp/pci.hpp>

#include "qmp_test_support.hpp"

#include <fstream>

namespace hyv::qmp::test {
namespace {

constexpr const char* kMdevCreate = "/sys/class/hyv/rxe0/mdev_supported_types/hyv-vrdma/create";
constexpr int kVirtioVendor = 0x1af4;
constexpr int kHyvDevice = 0x107f;

// Creates the mdev and removes it again at scope exit (after the QEMU using it is gone).
class ScopedMdev {
public:
    explicit ScopedMdev(const MdevUuid& uuid) : uuid_(uuid)
    {
        std::ofstream create(kMdevCreate);
        create << uuid.to_string() << "\n";
        create.flush();
        created_ = static_cast<bool>(create);
    }
    ~ScopedMdev()
    {
        if (created_) {
            std::ofstream("/sys/bus/mdev/devices/" + uuid_.to_string() + "/remove") << "1\n";
        }
    }
    ScopedMdev(const ScopedMdev&) = delete;
    ScopedMdev& operator=(const ScopedMdev&) = delete;
    bool created() const { return created_; }

private:
    MdevUuid uuid_;
    bool created_ = false;
};

const Json* find_by_id(const Json& devices, const std::string& qdev_id)
{
    for (const auto& device : devices) {
        if (device.value("qdev_id", "") == qdev_id) {
            return &device;
        }
        if (device.contains("pci_bridge") && device["pci_bridge"].contains("devices")) {
            // By reference: a copy would leave the returned pointer dangling.
            if (const Json* found = find_by_id(device["pci_bridge"]["devices"], qdev_id)) {
                return found;
            }
        }
    }
    return nullptr;
}

TEST(QmpHotplugRealMdev, HotAddsListsAndUnplugsTheHyvFunction)
{
    ASSERT_TRUE(std::filesystem::exists(kMdevCreate))
        << kMdevCreate << " is missing: run this through tests/integration/hotplug_mdev_vm.sh (test host VM with "
        << "hyv_mdev.ko and rxe0)";
    const MdevUuid uuid = MdevUuid::generate();
    ScopedMdev mdev(uuid);
    ASSERT_TRUE(mdev.created()) << "writing " << uuid.to_string() << " to " << kMdevCreate << " failed";
    {
        QemuOptions options;
        options.hotplug_root_ports = 2;
        options.startup_timeout = 60s;
        auto qemu = start_qemu(options);
        ASSERT_NE(qemu, nullptr);
        {
            Client client(client_options(*qemu));
            ASSERT_TRUE(client.connect());
            ASSERT_TRUE(wait_for_firmware_enumeration(client, 120s));
        }
        core::VmRecord vm;
        vm.name = *VmId::parse("nested");
        vm.qmp_socket = qemu->qmp_socket();
        adapters::QmpHotplug hotplug;
        const std::string qdev_id = qdev_id_for_mdev(uuid.to_string());

        auto address = hotplug.hot_add(vm, uuid, qdev_id);
        ASSERT_TRUE(address) << address.error().message << "\n" << qemu->log();
        EXPECT_EQ(*address, "0000:01:00.0");

        // Idempotent: a retry (e.g. after a hyvd crash) finds the same mdev under the same id.
        auto again = hotplug.hot_add(vm, uuid, qdev_id);
        ASSERT_TRUE(again) << again.error().message;
        EXPECT_EQ(*again, *address);
        auto other = hotplug.hot_add(vm, MdevUuid::generate(), qdev_id);
        ASSERT_FALSE(other);
        EXPECT_EQ(other.error().code, "qdev-id-in-use");

        auto present = hotplug.list_hyv_devices(vm);
        ASSERT_TRUE(present) << present.error().message;
        ASSERT_EQ(present->size(), 1u);
        EXPECT_EQ((*present)[0].mdev, uuid);
        EXPECT_EQ((*present)[0].qdev_id, qdev_id);
        EXPECT_EQ((*present)[0].guest_pci_address, *address);
        // The one-device lookup agrees with the full listing, by qdev id and, under another id, by mdev.
        for (const std::string& id : {qdev_id, std::string("hyv-some-other-id")}) {
            auto found = hotplug.find_hyv_device(vm, uuid, id);
            ASSERT_TRUE(found) << found.error().message;
            ASSERT_TRUE(found->has_value()) << id;
            EXPECT_EQ((*found)->qdev_id, qdev_id);
            EXPECT_EQ((*found)->mdev, uuid);
            EXPECT_EQ((*found)->guest_pci_address, *address);
        }
        auto stranger = hotplug.find_hyv_device(vm, MdevUuid::generate(), "hyv-never-added");
        ASSERT_TRUE(stranger) << stranger.error().message;
        EXPECT_FALSE(stranger->has_value());

        Client client(client_options(*qemu));
        ASSERT_TRUE(client.connect());
        auto pci = client.execute("query-pci");
        ASSERT_TRUE(pci);
        const Json* function = find_by_id((*pci)[0]["devices"], qdev_id);
        ASSERT_NE(function, nullptr);
        EXPECT_EQ((*function)["id"]["vendor"], kVirtioVendor);
        EXPECT_EQ((*function)["id"]["device"], kHyvDevice);
        // The second mdev-less port is still free; the first is taken by the mdev.
        auto port = choose_free_hotplug_port(client);
        ASSERT_TRUE(port) << port.error().message;
        EXPECT_EQ(port->bus_name, "hp1");
        client.disconnect();

        // No guest OS to acknowledge: the adapter reports the pending unplug as such.
        auto removed = hotplug.hot_remove(vm, qdev_id, 2s);
        ASSERT_FALSE(removed);
        EXPECT_EQ(removed.error().code, "hot-remove-timeout");
    }
    // QEMU is gone, so the mdev is free to be removed by ScopedMdev.
}

TEST(QmpHotplugRealMdev, BootedGuestReleasesTheFunctionAndTheMdevCanGo)
{
    ASSERT_TRUE(std::filesystem::exists(kMdevCreate)) << kMdevCreate << " is missing: run hotplug_mdev_vm.sh";
    const MdevUuid uuid = MdevUuid::generate();
    ScopedMdev mdev(uuid);
    ASSERT_TRUE(mdev.created());
    ScopedTempDir dir("hyv-mdev-guest");
    const std::string marker = "HYV-MDEV-GUEST-READY";
    auto guest = testing::build_sleeping_guest(dir.path(), marker);
    ASSERT_TRUE(guest) << guest.error().message;
    QemuOptions options;
    options.hotplug_root_ports = 1;
    options.memory = "256M";
    options.startup_timeout = 60s;
    options.extra_args = *guest;
    auto qemu = start_qemu(options);
    ASSERT_NE(qemu, nullptr);
    ASSERT_TRUE(wait_for_console(*qemu, marker, 600s)) << "nested guest did not boot:\n" << qemu->console();

    core::VmRecord vm;
    vm.name = *VmId::parse("nested-booted");
    vm.qmp_socket = qemu->qmp_socket();
    adapters::QmpHotplug hotplug;
    const std::string qdev_id = qdev_id_for_mdev(uuid.to_string());
    auto address = hotplug.hot_add(vm, uuid, qdev_id);
    ASSERT_TRUE(address) << address.error().message << "\n" << qemu->log();
    // Let the guest finish its ACPI hot-plug scan and probe before asking it to let go.
    std::this_thread::sleep_for(5s);
    auto removed = hotplug.hot_remove(vm, qdev_id, 180s);
    ASSERT_TRUE(removed) << removed.error().message << "\n" << qemu->console();
    auto present = hotplug.list_hyv_devices(vm);
    ASSERT_TRUE(present);
    EXPECT_TRUE(present->empty());
    // QEMU closed the vfio device, so the mdev is no longer busy even while QEMU runs.
    std::ofstream remove("/sys/bus/mdev/devices/" + uuid.to_string() + "/remove");
    remove << "1\n";
    remove.flush();
    EXPECT_TRUE(static_cast<bool>(remove)) << "mdev " << uuid.to_string() << " still busy after unplug";
    EXPECT_FALSE(std::filesystem::exists("/sys/bus/mdev/devices/" + uuid.to_string()));
}

}  // namespace
}  // namespace hyv::qmp::test
