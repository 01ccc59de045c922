// Building the hot-plug of a hyv mdev into a running QEMU, and finding it again in the guest's PCI tree.
#pragma once

#include <hyv/qmp/client.hpp>
#include <hyv/result.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace hyv::qmp {

// Where QEMU's guest sees a function. Bus numbers are the ones the guest firmware/OS assigned.
struct PciAddress {
    int domain = 0;
    int bus = 0;
    int slot = 0;
    int function = 0;

    std::string to_string() const;  // "0000:01:00.0"
    bool operator==(const PciAddress&) const = default;
};

// A hot-pluggable PCIe downstream port (pcie-root-port, ioh3420, xio3130-downstream).
struct HotplugPort {
    std::string qdev_id;                 // "" for ports created without an id
    std::string qom_path;                // "/machine/peripheral/hp0"
    std::string bus_name;                // what device_add's bus= takes: "hp0"
    std::string bus_qom_path;            // "/machine/peripheral/hp0/hp0"
    std::vector<std::string> occupants;  // QOM paths of devices plugged below it
    bool hotplug_enabled = true;

    bool free() const { return hotplug_enabled && occupants.empty(); }
};

// "hyv-" + the mdev UUID: stable, so a restarted hyvd can find its own devices again.
std::string qdev_id_for_mdev(const std::string& mdev_uuid);
bool is_valid_uuid(const std::string& text);
std::string mdev_sysfs_path(const std::string& mdev_uuid);

// device_add arguments for the mdev as a vfio-pci function on `bus`.
Result<Json> build_vfio_mdev_device_add(const std::string& mdev_uuid, const std::string& qdev_id,
                                        const std::string& bus);

// Finds `qdev_id` in a query-pci result (walking below bridges). Empty when the guest has not
// enumerated it (a bridge whose secondary bus the firmware has not numbered hides its devices).
std::optional<PciAddress> find_pci_address(const Json& query_pci_result, const std::string& qdev_id);
// qdev ids of every function listed under the bridge device `bridge_qdev_id` in a query-pci result.
std::vector<std::string> devices_below_bridge(const Json& query_pci_result, const std::string& bridge_qdev_id);

// Lists every hot-pluggable port with what is plugged into it, from QOM (which, unlike query-pci,
// sees devices whether or not the guest enumerated them): each port's bus links its devices.
Result<std::vector<HotplugPort>> list_hotplug_ports(Client& client);
// The first free port in natural id order, inspecting ports only up to it; qmp-no-free-slot when
// there is none.
Result<HotplugPort> choose_free_hotplug_port(Client& client);

struct PlugRequest {
    std::string mdev_uuid{};
    std::string qdev_id{};  // default: qdev_id_for_mdev(mdev_uuid)
    std::string bus{};      // default: choose_free_hotplug_port()
};

struct PluggedDevice {
    std::string qdev_id;
    std::string bus;
};

// device_add of the mdev on a free port.
Result<PluggedDevice> plug_vfio_mdev(Client& client, const PlugRequest& request);
// device_add with ready-made arguments; picks a free bus when `arguments` has none.
Result<PluggedDevice> plug_device(Client& client, Json arguments);
// device_del, then waits for DEVICE_DELETED of `qdev_id`. The event comes only after the guest OS
// acknowledges the unplug: without a cooperating guest this ends in qmp-timeout and the device stays
// (QEMU completes the removal if the guest acknowledges later).
Result<void> unplug_device(Client& client, const std::string& qdev_id, Millis timeout);
// Whether QOM still has /machine/peripheral/<qdev_id>.
Result<bool> device_exists(Client& client, const std::string& qdev_id);
Result<PciAddress> guest_pci_address(Client& client, const std::string& qdev_id);

}  // namespace hyv::qmp
