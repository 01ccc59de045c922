#include "hyvctl/format.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ctime>

namespace hyv::cli {

using nlohmann::json;

namespace {

constexpr const char* column_gap = "  ";
constexpr const char* absent = "-";

// A member as text: strings as-is, numbers and booleans spelled out, null/missing/"" as "-".
std::string field(const json& object, const char* key)
{
    if (!object.is_object()) {
        return absent;
    }
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
        return absent;
    }
    if (it->is_string()) {
        return it->get<std::string>().empty() ? absent : it->get<std::string>();
    }
    if (it->is_boolean()) {
        return it->get<bool>() ? "yes" : "no";
    }
    return it->dump();
}

std::string joined(const json& array)
{
    if (!array.is_array() || array.empty()) {
        return absent;
    }
    std::string out;
    for (const auto& item : array) {
        out += out.empty() ? "" : ",";
        out += item.is_string() ? item.get<std::string>() : item.dump();
    }
    return out;
}

std::string quota_text(const json& quota)
{
    if (!quota.is_object()) {
        return absent;
    }
    return fmt::format("qps={} cqs={} mrs={} pinned={}", field(quota, "qps"), field(quota, "cqs"), field(quota, "mrs"),
                       format_bytes(quota.value("pinned_bytes", std::uint64_t{0})));
}

const json& as_object(const json& value)
{
    static const json empty = json::object();
    return value.is_object() ? value : empty;
}

const json& as_array(const json& value)
{
    static const json empty = json::array();
    return value.is_array() ? value : empty;
}

}  // namespace

std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows)
{
    std::vector<std::size_t> widths(headers.size());
    for (std::size_t column = 0; column < headers.size(); ++column) {
        widths[column] = headers[column].size();
        for (const auto& row : rows) {
            if (column < row.size()) {
                widths[column] = std::max(widths[column], row[column].size());
            }
        }
    }
    auto render_row = [&](const std::vector<std::string>& cells) {
        std::string line;
        for (std::size_t column = 0; column < headers.size(); ++column) {
            const std::string& cell = column < cells.size() ? cells[column] : std::string(absent);
            line += cell;
            if (column + 1 < headers.size()) {
                line += std::string(widths[column] - cell.size(), ' ') + column_gap;
            }
        }
        while (!line.empty() && line.back() == ' ') {
            line.pop_back();
        }
        return line + "\n";
    };
    std::string out = render_row(headers);
    for (const auto& row : rows) {
        out += render_row(row);
    }
    return out;
}

std::string format_time(const json& epoch_ms)
{
    if (!epoch_ms.is_number() || epoch_ms.get<std::int64_t>() <= 0) {
        return absent;
    }
    constexpr std::int64_t ms_per_second = 1000;
    const std::time_t seconds = static_cast<std::time_t>(epoch_ms.get<std::int64_t>() / ms_per_second);
    std::tm local{};
    localtime_r(&seconds, &local);
    std::array<char, 32> buffer{};
    std::strftime(buffer.data(), buffer.size(), "%Y-%m-%d %H:%M:%S", &local);
    return buffer.data();
}

std::string format_bytes(std::uint64_t bytes)
{
    static constexpr std::array<const char*, 5> units{"KiB", "MiB", "GiB", "TiB", "PiB"};
    constexpr std::uint64_t step = 1024;
    if (bytes == 0 || bytes % step != 0) {
        return fmt::format("{} B", bytes);
    }
    std::size_t unit = 0;
    bytes /= step;
    while (bytes % step == 0 && unit + 1 < units.size()) {
        bytes /= step;
        ++unit;
    }
    return fmt::format("{} {}", bytes, units[unit]);
}

std::string format_devices(const json& devices)
{
    std::vector<std::vector<std::string>> rows;
    for (const auto& device : as_array(devices)) {
        if (!device.is_object()) {
            continue;
        }
        std::string present = device.value("present", false) ? "yes" : "gone";
        rows.push_back({field(device, "guid"), field(device, "ibdev"), field(device, "driver"),
                        field(device, "link_layer"), field(device, "ports"), present,
                        device.value("mdev_parent", std::string()).empty() ? "no" : "yes",
                        joined(device.value("assigned_to", json::array()))});
    }
    return render_table({"GUID", "IBDEV", "DRIVER", "LINK", "PORTS", "PRESENT", "HYV", "ASSIGNED-TO"}, rows);
}

std::string format_vms(const json& vms)
{
    std::vector<std::vector<std::string>> rows;
    for (const auto& vm : as_array(vms)) {
        if (!vm.is_object()) {
            continue;
        }
        std::string running = absent;
        if (vm.contains("running") && vm["running"].is_boolean()) {
            running = vm["running"].get<bool>() ? "yes" : "no";
        } else if (vm.contains("running")) {
            running = "unknown";
        }
        const std::string endpoint = vm.value("kind", std::string()) == "qemu" ? field(vm, "qmp") : field(vm, "uuid");
        rows.push_back(
            {field(vm, "name"), field(vm, "kind"), running, field(vm, "assignments"), endpoint, field(vm, "note")});
    }
    return render_table({"NAME", "KIND", "RUNNING", "DEVICES", "QMP/UUID", "NOTE"}, rows);
}

std::string format_vm(const json& result)
{
    const json& vm = as_object(result);
    return fmt::format("VM {} added (kind {}{})\n", field(vm, "name"), field(vm, "kind"),
                       vm.value("qmp", std::string()).empty() ? "" : ", QMP " + field(vm, "qmp"));
}

// "10.0.0.5/24,fd00::5/64 vlan 7 on hyv3b5f01ab", "unisolated", or "-" (an older hyvd).
std::string identity_text(const json& identity)
{
    if (!identity.is_object()) {
        return absent;
    }
    if (identity.value("unisolated", false)) {
        return "unisolated";
    }
    std::string text;
    const json addresses = identity.value("addresses", json::array());
    for (const auto& address : as_array(addresses)) {
        text += (text.empty() ? "" : ",") + (address.is_string() ? address.get<std::string>() : address.dump());
    }
    if (text.empty()) {
        return absent;
    }
    if (const json vlan = identity.value("vlan", json(0)); vlan.is_number_integer() && vlan.get<int>() != 0) {
        text += " vlan " + vlan.dump();
    }
    if (const std::string link = identity.value("link", std::string()); !link.empty()) {
        text += " on " + link;
    }
    return text;
}

std::string format_assignments(const json& assignments)
{
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : as_array(assignments)) {
        if (!a.is_object()) {
            continue;
        }
        rows.push_back({field(a, "vm"), field(a, "guid"), field(a, "state"), field(a, "mdev"),
                        field(a, "guest_pci_address"), field(a, "persistent"),
                        identity_text(a.value("identity", json())), quota_text(a.value("quota", json::object())),
                        field(a, "last_error")});
    }
    return render_table({"VM", "GUID", "STATE", "MDEV", "GUEST-PCI", "PERSISTENT", "IDENTITY", "QUOTA", "LAST-ERROR"},
                        rows);
}

std::string format_operation(const std::string& verb, const json& result)
{
    const json& operation = as_object(result);
    const json a = as_object(operation.value("assignment", json::object()));
    std::string out = fmt::format("{} {} {} {}: state {}", verb, field(a, "guid"), verb == "detached" ? "from" : "to",
                                  field(a, "vm"), field(a, "state"));
    if (verb != "detached") {
        out += fmt::format(", mdev {}, guest PCI {}, identity {}", field(a, "mdev"), field(a, "guest_pci_address"),
                           identity_text(a.value("identity", json())));
    }
    return out + fmt::format(" (op {})\n", field(operation, "op_id"));
}

std::string format_status(const json& result)
{
    const json& status = as_object(result);
    std::string out;
    out += fmt::format("hyvd version:       {}\n", field(status, "version"));
    out += fmt::format("devices present:    {}\n", field(status, "devices_present"));
    out += fmt::format("devices vanished:   {}\n", field(status, "devices_vanished"));
    out += fmt::format("VMs:                {}\n", field(status, "vms"));
    std::string by_state;
    const json states = as_object(status.value("assignments_by_state", json::object()));
    for (const auto& [state, count] : states.items()) {
        by_state += fmt::format("{}{}={}", by_state.empty() ? "" : " ", state, count.dump());
    }
    out += fmt::format("assignments:        {}\n", by_state.empty() ? "none" : by_state);
    out += fmt::format("last event:         {}\n", field(status, "last_event_id"));
    const json& attention = status.value("needs_attention", json::array());
    if (!attention.empty()) {
        out += "needs attention (run `hyvctl detach VM GUID` to retry, or `hyvctl reconcile`):\n";
        out += format_assignments(attention);
    }
    return out;
}

std::string format_events(const json& events)
{
    std::vector<std::vector<std::string>> rows;
    for (const auto& event : as_array(events)) {
        if (!event.is_object()) {
            continue;
        }
        rows.push_back({field(event, "id"), format_time(event.value("time", json())), field(event, "op_id"),
                        field(event, "kind"), field(event, "vm"), field(event, "guid"), field(event, "message")});
    }
    return render_table({"ID", "TIME", "OP", "KIND", "VM", "GUID", "MESSAGE"}, rows);
}

std::string format_reconcile(const json& result)
{
    const json& report = as_object(result);
    std::string out = fmt::format("reconcile op {}\n", field(report, "op_id"));
    const json actions = report.value("actions", json::array());
    const json orphans = report.value("orphan_mdevs_removed", json::array());
    const json problems = report.value("problems", json::array());
    const json notes = report.value("notes", json::array());
    const json foreign = report.value("foreign_mdevs", json::array());
    for (const auto& action : as_array(actions)) {
        if (!action.is_object()) {
            continue;
        }
        out += fmt::format("  {} {}: {} -> {}: {}\n", field(action, "vm"), field(action, "guid"), field(action, "from"),
                           field(action, "to"), field(action, "what"));
    }
    for (const auto& uuid : as_array(orphans)) {
        out += fmt::format("  removed orphan mdev {}\n", uuid.is_string() ? uuid.get<std::string>() : uuid.dump());
    }
    const json links = report.value("orphan_links_removed", json::array());
    for (const auto& link : as_array(links)) {
        out += fmt::format("  removed orphan identity link {}\n",
                           link.is_string() ? link.get<std::string>() : link.dump());
    }
    for (const auto& problem : as_array(problems)) {
        out += fmt::format("  problem: {}\n", problem.is_string() ? problem.get<std::string>() : problem.dump());
    }
    if (out.find('\n') == out.size() - 1) {
        out += "  nothing to do\n";
    }
    for (const auto& note : as_array(notes)) {
        out += fmt::format("  note: {}\n", note.is_string() ? note.get<std::string>() : note.dump());
    }
    for (const auto& uuid : as_array(foreign)) {
        out += fmt::format("  note: mdev {} was not made by hyvd; left alone\n",
                           uuid.is_string() ? uuid.get<std::string>() : uuid.dump());
    }
    return out;
}

}  // namespace hyv::cli
