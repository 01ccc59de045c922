#include "hyvd/api/codec.hpp"

namespace hyv::api {

using nlohmann::json;

namespace {

json optional_time(const std::optional<core::TimeMs>& time)
{
    return time ? json(*time) : json(nullptr);
}

}  // namespace

json to_json(const Quota& quota)
{
    return {{"qps", quota.max_qps},
            {"cqs", quota.max_cqs},
            {"mrs", quota.max_mrs},
            {"pinned_bytes", quota.max_pinned_bytes}};
}

json to_json(const core::DeviceView& view)
{
    const auto& device = view.record.device;
    auto assigned_to = json::array();
    for (const auto& vm : view.assigned_to) {
        assigned_to.push_back(vm.str());
    }
    return {{"guid", device.guid.to_string()},
            {"ibdev", device.ibdev},
            {"driver", device.driver},
            {"ports", device.ports},
            {"link_layer", device.link_layer},
            {"netdev", device.netdev},
            {"mdev_parent", device.mdev_parent},
            {"mdev_type", device.mdev_type},
            {"present", view.present},
            {"first_seen", view.record.first_seen},
            {"last_seen", view.record.last_seen},
            {"vanished_at", optional_time(view.record.vanished_at)},
            {"assigned_to", std::move(assigned_to)}};
}

json to_json(const core::VmRecord& vm)
{
    return {{"name", vm.name.str()},
            {"kind", std::string(to_string(vm.kind))},
            {"uuid", vm.uuid},
            {"qmp", vm.qmp_socket},
            {"created_at", vm.created_at},
            {"observed_state", vm.observed_state},
            {"observed_at", optional_time(vm.observed_at)}};
}

json to_json(const core::VmView& view)
{
    json out = to_json(view.vm);
    out["running"] = view.running ? json(*view.running) : json(nullptr);
    out["assignments"] = view.assignments;
    out["note"] = view.note;
    return out;
}

json to_json(const NetworkIdentity& identity, const std::string& link)
{
    json addresses = json::array();
    for (const auto& address : identity.addresses) {
        addresses.push_back(address.to_string());
    }
    return {{"unisolated", identity.unisolated},
            {"addresses", addresses},
            {"mac", identity.mac ? identity.mac->to_string() : std::string()},
            {"vlan", identity.vlan ? identity.vlan->value() : 0},
            {"link", link}};
}

json to_json(const core::Assignment& assignment)
{
    return {{"vm", assignment.vm.str()},
            {"guid", assignment.guid.to_string()},
            {"mdev", assignment.mdev.to_string()},
            {"qdev_id", assignment.qdev_id},
            {"guest_pci_address", assignment.guest_pci_address},
            {"state", std::string(to_string(assignment.state))},
            {"persistent", assignment.persistent},
            {"quota", to_json(assignment.quota)},
            {"identity", to_json(assignment.identity, assignment.link)},
            {"created_at", assignment.created_at},
            {"updated_at", assignment.updated_at},
            {"last_error", assignment.last_error},
            {"op_id", assignment.op_id}};
}

json to_json(const core::OperationResult& operation)
{
    return {{"op_id", operation.op_id}, {"assignment", to_json(operation.assignment)}};
}

json to_json(const core::StatusReport& status)
{
    json by_state = json::object();
    for (const auto& [state, count] : status.assignments_by_state) {
        by_state[std::string(to_string(state))] = count;
    }
    return {{"devices_present", status.devices_present},
            {"devices_vanished", status.devices_vanished},
            {"vms", status.vms},
            {"assignments_by_state", std::move(by_state)},
            {"needs_attention", to_json_array(status.needs_attention)},
            {"last_event_id", status.last_event_id}};
}

json to_json(const core::Event& event)
{
    return {{"id", event.id},     {"time", event.time}, {"op_id", event.op_id}, {"vm", event.vm},
            {"guid", event.guid}, {"mdev", event.mdev}, {"kind", event.kind},   {"message", event.message}};
}

json to_json(const core::ReconcileReport& report)
{
    auto actions = json::array();
    for (const auto& action : report.actions) {
        actions.push_back({{"vm", action.vm.str()},
                           {"guid", action.guid.to_string()},
                           {"mdev", action.mdev.to_string()},
                           {"from", std::string(to_string(action.from))},
                           {"to", std::string(to_string(action.to))},
                           {"what", action.what}});
    }
    auto uuids = [](const std::vector<MdevUuid>& list) {
        auto out = json::array();
        for (const auto& uuid : list) {
            out.push_back(uuid.to_string());
        }
        return out;
    };
    return {{"op_id", report.op_id},
            {"actions", std::move(actions)},
            {"orphan_mdevs_removed", uuids(report.orphan_mdevs_removed)},
            {"orphan_links_removed", report.orphan_links_removed},
            {"foreign_mdevs", uuids(report.foreign_mdevs)},
            {"problems", report.problems},
            {"notes", report.notes}};
}

}  // namespace hyv::api
