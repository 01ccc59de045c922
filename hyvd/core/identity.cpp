// The network identity of an assignment (docs/network.md): its host link (a macvlan or VLAN device
// of the RDMA device's netdev, made through the NetIdentity port) and what the mdev instance may
// see of the host's GIDs (MdevControl::set_identity). The link lives as long as the assignment row:
// made at attach after the mdev, removed at detach after the mdev, recorded as hyvd's (hyvd_links)
// before it exists, so reconcile removes exactly the links hyvd made and no row owns.
#include "hyvd/core/service_impl.hpp"

#include "hyv/error_codes.hpp"

#include <spdlog/spdlog.h>

#include <set>

namespace hyv::core {

Result<void> Service::Impl::check_identity(const NetworkIdentity& identity, const HostDevice& device, const Guid& guid)
{
    if (identity.unisolated) {
        return {};
    }
    if (device.netdev.empty()) {
        return make_error(errc::no_netdev, "device " + guid.to_string() + " (" + device.ibdev +
                                               ") has no host netdev (link layer " + device.link_layer +
                                               "), so it cannot carry addresses; attach it --unisolated");
    }
    auto rows = ports.store->assignments();
    if (!rows) {
        return rows.error();
    }
    for (const auto& address : identity.addresses) {
        for (const auto& other : *rows) {
            for (const auto& held : other.identity.addresses) {
                if (held.address() == address.address()) {
                    return make_error(errc::address_in_use, "address " + address.address() + " is held by VM " +
                                                                other.vm.str() + " (device " + other.guid.to_string() +
                                                                "); pick another address or "
                                                                "detach that device first");
                }
            }
        }
    }
    return {};
}

Result<void> Service::Impl::ensure_identity(Journal& journal, const Assignment& a, const std::string& parent,
                                            std::string_view event_kind)
{
    if (a.link.empty()) {
        return {};
    }
    if (ports.identity == nullptr) {
        return make_error(errc::netlink, "hyvd has no network identity adapter; cannot make link " + a.link);
    }
    auto exists = ports.identity->exists(a.link);
    if (!exists) {
        return exists.error();
    }
    if (*exists) {
        return {};
    }
    if (parent.empty()) {
        return make_error(errc::no_netdev, "device " + a.guid.to_string() + " has no host netdev now; link " + a.link +
                                               " of VM " + a.vm.str() + " cannot be made until it has one");
    }
    IdentityLink link{a.link, parent, a.identity.mac, a.identity.vlan, a.identity.addresses};
    if (auto r = ports.identity->create(link); !r) {
        return make_error(r.error().code, "cannot make host link " + a.link + " on " + parent + " for " +
                                              a.identity.describe() + ": " + r.error().message);
    }
    spdlog::info("[{}] identity link {} on {}: {}{}", journal.op_id(), a.link, parent, a.identity.describe(),
                 a.identity.vlan ? " vlan " + a.identity.vlan->to_string() : std::string());
    return journal.note(a, event_kind, "link " + a.link + " on " + parent + " with " + a.identity.describe());
}

Result<void> Service::Impl::program_identity(const Assignment& a)
{
    const GidScope scope = a.identity.unisolated ? GidScope{"", true} : GidScope{a.link, false};
    if (auto r = ports.mdev->set_identity(a.mdev, scope); !r) {
        return make_error(r.error().code, "cannot limit mdev " + a.mdev.to_string() + " to " +
                                              (scope.unisolated ? "the host's GIDs" : "the GIDs of " + a.link) + ": " +
                                              r.error().message);
    }
    return {};
}

Result<void> Service::Impl::release_link(Journal& journal, const Assignment& a)
{
    if (a.link.empty() || ports.identity == nullptr) {
        return {};
    }
    auto exists = ports.identity->exists(a.link);
    if (!exists) {
        return exists.error();
    }
    if (!*exists) {
        return {};
    }
    if (auto r = ports.identity->remove(a.link); !r && r.error().code != errc::link_absent) {
        return r;
    }
    return journal.note(a, "detach.identity-removed", "link " + a.link + " removed");
}

void Service::Impl::remove_orphan_links(Journal& journal, ReconcileReport& report)
{
    if (ports.identity == nullptr) {
        return;
    }
    // In this order, as for mdevs: an attach owns its link (with its row) before making it.
    auto existing = ports.identity->list_own();
    auto owned_list = ports.store->owned_links();
    auto rows = ports.store->assignments();
    if (!existing || !owned_list || !rows) {
        report.problems.push_back("cannot look for orphan identity links: " + (!existing ? existing.error().message
                                                                               : !owned_list
                                                                                   ? owned_list.error().message
                                                                                   : rows.error().message));
        return;
    }
    std::set<std::string> in_rows;
    for (const auto& a : *rows) {
        if (!a.link.empty()) {
            in_rows.insert(a.link);
        }
    }
    const std::set<std::string> owned(owned_list->begin(), owned_list->end());
    const std::set<std::string> present(existing->begin(), existing->end());
    for (const auto& name : present) {
        if (in_rows.count(name)) {
            continue;
        }
        if (!owned.count(name)) {
            spdlog::debug("[{}] link {} was not made by hyvd; left alone", journal.op_id(), name);
            continue;
        }
        (void)journal.note("reconcile.orphan-link-remove",
                           "removing link " + name + " hyvd made that no assignment owns");
        auto removed = ports.identity->remove(name);
        if (!removed && removed.error().code != errc::link_absent) {
            report.problems.push_back("cannot remove orphan identity link " + name + ": " + removed.error().message);
            continue;
        }
        (void)ports.store->disown_link(name);
        if (removed) {
            report.orphan_links_removed.push_back(name);
        }
    }
    for (const auto& name : owned) {
        if (!present.count(name) && !in_rows.count(name)) {
            (void)ports.store->disown_link(name);  // made by hyvd (or about to be), gone: nothing to track
        }
    }
}

}  // namespace hyv::core
