#include <hyv/qmp/pci.hpp>

#include "json_fields.hpp"
#include <hyv/error_codes.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <string_view>

namespace hyv::qmp {

namespace {

using detail::int_field;
using detail::object_field;
using detail::string_field;

constexpr std::string_view kPeripheralPath = "/machine/peripheral";
constexpr std::string_view kAnonymousPeripheralPath = "/machine/peripheral-anon";
// Downstream ports whose slot is hot-pluggable in QEMU 7.2 (PCIESlot subclasses).
constexpr std::string_view kHotplugPortTypes[] = {"pcie-root-port", "ioh3420", "xio3130-downstream"};
constexpr std::string_view kPcieBusChildType = "child<PCIE>";

// "child<virtio-net-pci>" -> "virtio-net-pci"; "" for non-child properties.
std::string child_type(const std::string& property_type)
{
    constexpr std::string_view prefix = "child<";
    if (property_type.size() <= prefix.size() + 1 || property_type.compare(0, prefix.size(), prefix) != 0 ||
        property_type.back() != '>') {
        return {};
    }
    return property_type.substr(prefix.size(), property_type.size() - prefix.size() - 1);
}

bool is_hotplug_port_type(const std::string& type)
{
    return std::find(std::begin(kHotplugPortTypes), std::end(kHotplugPortTypes), type) != std::end(kHotplugPortTypes);
}

// "hp2" < "hp10": compares digit runs by value so ports come out in the order people number them.
bool natural_less(const std::string& a, const std::string& b)
{
    std::size_t i = 0;
    std::size_t j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            std::size_t i_end = i;
            std::size_t j_end = j;
            while (i_end < a.size() && std::isdigit(static_cast<unsigned char>(a[i_end]))) {
                ++i_end;
            }
            while (j_end < b.size() && std::isdigit(static_cast<unsigned char>(b[j_end]))) {
                ++j_end;
            }
            const auto a_num = std::string_view(a).substr(i, i_end - i);
            const auto b_num = std::string_view(b).substr(j, j_end - j);
            const auto a_trim = a_num.substr(std::min(a_num.find_first_not_of('0'), a_num.size()));
            const auto b_trim = b_num.substr(std::min(b_num.find_first_not_of('0'), b_num.size()));
            if (a_trim.size() != b_trim.size()) {
                return a_trim.size() < b_trim.size();
            }
            if (a_trim != b_trim) {
                return a_trim < b_trim;
            }
            i = i_end;
            j = j_end;
            continue;
        }
        if (a[i] != b[j]) {
            return a[i] < b[j];
        }
        ++i;
        ++j;
    }
    return a.size() - i < b.size() - j;
}

struct QomChild {
    std::string name;
    std::string type;
};

Result<std::vector<QomChild>> qom_children(Client& client, const std::string& path)
{
    auto listed = client.execute("qom-list", {{"path", path}});
    if (!listed) {
        return listed.error();
    }
    std::vector<QomChild> children;
    if (!listed->is_array()) {
        return make_error(errc::qmp_protocol, "qom-list " + path + " returned " + listed->dump() + ", not a list");
    }
    for (const auto& property : *listed) {
        const auto type = child_type(string_field(property, "type"));
        if (!type.empty()) {
            children.push_back({string_field(property, "name"), type});
        }
    }
    return children;
}

// Names of a bus's child[N] link properties: one per device plugged into the bus.
Result<std::vector<std::string>> qom_children_links(Client& client, const std::string& bus_path)
{
    auto listed = client.execute("qom-list", {{"path", bus_path}});
    if (!listed) {
        return listed.error();
    }
    if (!listed->is_array()) {
        return make_error(errc::qmp_protocol, "qom-list " + bus_path + " returned " + listed->dump() + ", not a list");
    }
    std::vector<std::string> links;
    for (const auto& property : *listed) {
        const std::string name = string_field(property, "name");
        if (name.rfind("child[", 0) == 0 && string_field(property, "type").rfind("link<", 0) == 0) {
            links.push_back(name);
        }
    }
    return links;
}

bool has_property(const Json& qom_list, const std::string& name)
{
    if (!qom_list.is_array()) {
        return false;
    }
    return std::any_of(qom_list.begin(), qom_list.end(),
                       [&](const Json& property) { return string_field(property, "name") == name; });
}

const Json& devices_of(const Json& bus)
{
    static const Json kNoDevices = Json::array();
    if (auto it = bus.find("devices"); it != bus.end() && it->is_array()) {
        return *it;
    }
    return kNoDevices;
}

const Json* find_device(const Json& devices, const std::string& qdev_id)
{
    if (!devices.is_array()) {
        return nullptr;
    }
    for (const auto& device : devices) {
        if (!device.is_object()) {
            continue;
        }
        if (string_field(device, "qdev_id") == qdev_id) {
            return &device;
        }
        if (auto bridge = device.find("pci_bridge"); bridge != device.end() && bridge->is_object()) {
            if (const Json* found = find_device(devices_of(*bridge), qdev_id)) {
                return found;
            }
        }
    }
    return nullptr;
}

}  // namespace

std::string PciAddress::to_string() const
{
    return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", domain, bus, slot, function);
}

bool is_valid_uuid(const std::string& text)
{
    constexpr std::size_t kUuidLength = 36;
    if (text.size() != kUuidLength) {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_position ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) {
            return false;
        }
    }
    return true;
}

std::string qdev_id_for_mdev(const std::string& mdev_uuid)
{
    return "hyv-" + mdev_uuid;
}

std::string mdev_sysfs_path(const std::string& mdev_uuid)
{
    return "/sys/bus/mdev/devices/" + mdev_uuid;
}

Result<Json> build_vfio_mdev_device_add(const std::string& mdev_uuid, const std::string& qdev_id,
                                        const std::string& bus)
{
    if (!is_valid_uuid(mdev_uuid)) {
        return make_error(errc::invalid_mdev_uuid,
                          "'" + mdev_uuid + "' is not an mdev UUID (expected 8-4-4-4-12 hex digits)");
    }
    if (qdev_id.empty() || bus.empty()) {
        return make_error(errc::invalid_argument, "device_add for mdev " + mdev_uuid + " needs a qdev id and a bus");
    }
    return Json{{"driver", "vfio-pci"}, {"sysfsdev", mdev_sysfs_path(mdev_uuid)}, {"id", qdev_id}, {"bus", bus}};
}

std::optional<PciAddress> find_pci_address(const Json& query_pci_result, const std::string& qdev_id)
{
    if (!query_pci_result.is_array() || qdev_id.empty()) {
        return std::nullopt;
    }
    for (const auto& root_bus : query_pci_result) {
        if (!root_bus.is_object()) {
            continue;
        }
        if (const Json* device = find_device(devices_of(root_bus), qdev_id)) {
            return PciAddress{0, static_cast<int>(int_field(*device, "bus")),
                              static_cast<int>(int_field(*device, "slot")),
                              static_cast<int>(int_field(*device, "function"))};
        }
    }
    return std::nullopt;
}

std::vector<std::string> devices_below_bridge(const Json& query_pci_result, const std::string& bridge_qdev_id)
{
    std::vector<std::string> ids;
    if (!query_pci_result.is_array()) {
        return ids;
    }
    for (const auto& root_bus : query_pci_result) {
        if (!root_bus.is_object()) {
            continue;
        }
        const Json* bridge = find_device(devices_of(root_bus), bridge_qdev_id);
        if (bridge == nullptr || !bridge->contains("pci_bridge") || !(*bridge)["pci_bridge"].is_object()) {
            continue;
        }
        for (const auto& device : devices_of((*bridge)["pci_bridge"])) {
            if (device.is_object()) {
                ids.push_back(string_field(device, "qdev_id"));
            }
        }
    }
    return ids;
}

namespace {

// The hot-pluggable ports among the peripherals (from two qom-lists), in natural id order.
Result<std::vector<HotplugPort>> hotplug_port_candidates(Client& client)
{
    std::vector<HotplugPort> ports;
    for (const auto container : {kPeripheralPath, kAnonymousPeripheralPath}) {
        auto children = qom_children(client, std::string(container));
        if (!children) {
            return children.error();
        }
        for (const auto& child : *children) {
            if (!is_hotplug_port_type(child.type)) {
                continue;
            }
            HotplugPort port;
            port.qom_path = std::string(container) + "/" + child.name;
            port.qdev_id = container == kPeripheralPath ? child.name : "";
            ports.push_back(std::move(port));
        }
    }
    std::sort(ports.begin(), ports.end(),
              [](const HotplugPort& a, const HotplugPort& b) { return natural_less(a.qom_path, b.qom_path); });
    return ports;
}

// How much of a port inspect_port() finds out: whether anything is plugged, or what.
enum class Occupants { any, paths };

// Fills in the port's secondary bus, whether hot-plug is on, and what sits on the bus. A bus lists
// each device on it as a link property child[N] (whatever QOM container the device lives in, and
// whether or not the guest has enumerated it), so one qom-list of the bus answers "is it free".
// Returns false for a port without a secondary bus (not usable for device_add).
Result<bool> inspect_port(Client& client, HotplugPort& port, Occupants detail)
{
    auto properties = client.execute("qom-list", {{"path", port.qom_path}});
    if (!properties) {
        return properties.error();
    }
    if (!properties->is_array()) {
        return make_error(errc::qmp_protocol, "qom-list " + port.qom_path + " did not return a list");
    }
    for (const auto& property : *properties) {
        if (string_field(property, "type") == kPcieBusChildType) {
            port.bus_name = string_field(property, "name");
            port.bus_qom_path = port.qom_path + "/" + port.bus_name;
        }
    }
    if (port.bus_name.empty()) {
        return false;
    }
    if (has_property(*properties, "hotplug")) {
        auto hotplug = client.execute("qom-get", {{"path", port.qom_path}, {"property", "hotplug"}});
        if (!hotplug) {
            return hotplug.error();
        }
        port.hotplug_enabled = hotplug->is_boolean() && hotplug->get<bool>();
        if (!port.hotplug_enabled && detail == Occupants::any) {
            return true;  // not free whatever is plugged
        }
    }
    auto bus_properties = qom_children_links(client, port.bus_qom_path);
    if (!bus_properties) {
        return bus_properties.error();
    }
    for (const auto& link : *bus_properties) {
        if (detail == Occupants::any) {
            port.occupants.push_back(port.bus_qom_path + "/" + link);
            break;
        }
        auto target = client.execute("qom-get", {{"path", port.bus_qom_path}, {"property", link}});
        if (!target) {
            return target.error();
        }
        port.occupants.push_back(target->is_string() ? target->get<std::string>() : port.bus_qom_path + "/" + link);
    }
    return true;
}

}  // namespace

Result<std::vector<HotplugPort>> list_hotplug_ports(Client& client)
{
    auto candidates = hotplug_port_candidates(client);
    if (!candidates) {
        return candidates.error();
    }
    std::vector<HotplugPort> ports;
    for (auto& port : *candidates) {
        auto usable = inspect_port(client, port, Occupants::paths);
        if (!usable) {
            return usable.error();
        }
        if (*usable) {
            ports.push_back(std::move(port));
        }
    }
    return ports;
}

Result<HotplugPort> choose_free_hotplug_port(Client& client)
{
    auto candidates = hotplug_port_candidates(client);
    if (!candidates) {
        return candidates.error();
    }
    // Ports are inspected in order and the first free one ends the search: an attach into a VM with
    // free ports costs a handful of QMP round trips, not a walk over every port and device.
    std::size_t usable_ports = 0;
    for (auto& port : *candidates) {
        auto usable = inspect_port(client, port, Occupants::any);
        if (!usable) {
            return usable.error();
        }
        usable_ports += *usable ? 1 : 0;
        if (*usable && port.free()) {
            return std::move(port);
        }
    }
    return make_error(errc::qmp_no_free_slot,
                      fmt::format("no free hot-pluggable PCIe port in this VM ({} ports, all in use); "
                                  "start the VM with more pcie-root-port devices",
                                  usable_ports));
}

Result<PluggedDevice> plug_device(Client& client, Json arguments)
{
    if (!arguments.contains("bus")) {
        auto port = choose_free_hotplug_port(client);
        if (!port) {
            return port.error();
        }
        arguments["bus"] = port->bus_name;
    }
    const std::string qdev_id = string_field(arguments, "id");
    const std::string bus = string_field(arguments, "bus");
    spdlog::debug("qmp: device_add {} on bus {}", qdev_id, bus);
    auto added = client.execute("device_add", arguments);
    if (!added) {
        return added.error();
    }
    return PluggedDevice{qdev_id, bus};
}

Result<PluggedDevice> plug_vfio_mdev(Client& client, const PlugRequest& request)
{
    const std::string qdev_id = request.qdev_id.empty() ? qdev_id_for_mdev(request.mdev_uuid) : request.qdev_id;
    std::string bus = request.bus;
    if (bus.empty()) {
        auto port = choose_free_hotplug_port(client);
        if (!port) {
            return port.error();
        }
        bus = port->bus_name;
    }
    auto arguments = build_vfio_mdev_device_add(request.mdev_uuid, qdev_id, bus);
    if (!arguments) {
        return arguments.error();
    }
    return plug_device(client, std::move(*arguments));
}

Result<void> unplug_device(Client& client, const std::string& qdev_id, Millis timeout)
{
    auto deleted = client.execute("device_del", {{"id", qdev_id}});
    if (!deleted) {
        return deleted.error();
    }
    auto event = client.wait_for_event(
        "DEVICE_DELETED", [&](const Json& e) { return string_field(object_field(e, "data"), "device") == qdev_id; },
        timeout);
    if (!event) {
        if (event.error().code == errc::qmp_timeout) {
            return make_error(errc::qmp_timeout, "device " + qdev_id + " was not removed within " +
                                                     std::to_string(timeout.count()) +
                                                     " ms: the guest OS has not acknowledged the unplug (is it booted "
                                                     "with PCIe hot-plug support?); QEMU removes it once it does");
        }
        return event.error();
    }
    return {};
}

Result<bool> device_exists(Client& client, const std::string& qdev_id)
{
    auto children = qom_children(client, std::string(kPeripheralPath));
    if (!children) {
        return children.error();
    }
    return std::any_of(children->begin(), children->end(), [&](const QomChild& c) { return c.name == qdev_id; });
}

Result<PciAddress> guest_pci_address(Client& client, const std::string& qdev_id)
{
    auto pci = client.execute("query-pci");
    if (!pci) {
        return pci.error();
    }
    if (auto address = find_pci_address(*pci, qdev_id)) {
        return *address;
    }
    return make_error(errc::qmp_device_not_visible, "device " + qdev_id +
                                                        " is not in the guest's PCI tree (query-pci); "
                                                        "it is absent, or the guest has not enumerated its bus yet");
}

}  // namespace hyv::qmp
