#include "libvirt-hooks/hook.hpp"

#include <hyv/domain_xml.hpp>
#include "hyv/error_codes.hpp"

#include <algorithm>
#include <set>

namespace hyv::hook {

namespace {

constexpr int kRefuse = 1;

Outcome refuse(const Request& request, const std::string& why)
{
    return Outcome{kRefuse, "hyv: domain " + request.domain + ": " + why};
}

bool hostdev_names(const domain_xml::Domain& domain, const MdevUuid& mdev)
{
    return std::any_of(domain.hostdevs.begin(), domain.hostdevs.end(),
                       [&](const auto& hostdev) { return hostdev.mdev_uuid == mdev.to_string(); });
}

// The domain's mdevs that are hyv_mdev instances (other vendors' mdevs are none of our business).
Result<std::vector<MdevUuid>> hyv_mdevs_of(const domain_xml::Domain& domain, core::MdevControl& mdevs)
{
    auto instances = mdevs.list();
    if (!instances) {
        return instances.error();
    }
    std::set<MdevUuid> ours;
    for (const auto& instance : *instances) {
        ours.insert(instance.uuid);
    }
    std::vector<MdevUuid> found;
    for (const auto& hostdev : domain.hostdevs) {
        auto uuid = MdevUuid::parse(hostdev.mdev_uuid);
        if (uuid && ours.count(*uuid) != 0) {
            found.push_back(*uuid);
        }
    }
    return found;
}

Outcome prepare(const Request& request, const domain_xml::Domain& domain, core::MdevControl& mdevs,
                const ParentLookup& parent_of)
{
    std::vector<MdevUuid> created;
    // On refusal nothing this run created is left behind.
    const auto undo_and_refuse = [&](const std::string& why) {
        for (const auto& uuid : created) {
            (void)mdevs.remove(uuid);  // best effort: it was created a moment ago and nobody holds it
        }
        return refuse(request, why);
    };
    for (const auto& device : domain.devices) {
        const std::string guid = device.guid.to_string();
        if (!device.mdev || !hostdev_names(domain, *device.mdev)) {
            return undo_and_refuse("<hyv:device guid='" + guid +
                                   "'> is not completed yet (no mdev or no <hostdev> for it); with hyvd running, "
                                   "run `hyvctl reconcile` (hyvd adds both to the definition), then start the domain");
        }
        if (device.identity.empty()) {
            return undo_and_refuse("<hyv:device guid='" + guid +
                                   "'> has no network identity: add <hyv:ip address='ADDR' prefix='N'/> (with "
                                   "hyvd running, then `hyvctl reconcile`) or unisolated='yes' to share the host's "
                                   "GIDs without isolation (`virsh edit`)");
        }
        const MdevUuid& uuid = *device.mdev;
        auto exists = mdevs.exists(uuid);
        if (!exists) {
            return undo_and_refuse("cannot check mdev " + uuid.to_string() + ": " + exists.error().message);
        }
        if (*exists) {
            continue;  // kept from an earlier start, or made by hyvd
        }
        const auto parent = parent_of(device.guid);
        if (!parent) {
            return undo_and_refuse("RDMA device " + guid +
                                   " is not on this host or hyv_mdev does not serve it "
                                   "(no /sys/class/hyv/*/node_guid matches); see `hyvctl devices`, or remove it "
                                   "from the domain with `hyvctl detach " +
                                   request.domain + " " + guid + "`");
        }
        if (auto r = mdevs.create(parent->path, parent->type, uuid); !r) {
            return undo_and_refuse("cannot create mdev " + uuid.to_string() + " for " + guid + " on " + parent->path +
                                   ": " + r.error().message);
        }
        created.push_back(uuid);
        if (device.quota != Quota{}) {
            if (auto r = mdevs.set_quota(uuid, device.quota); !r) {
                return undo_and_refuse("cannot set the quota of mdev " + uuid.to_string() + ": " + r.error().message);
            }
        }
        // The identity's link is hyvd's and lives as long as the assignment; the mdev only names it.
        const core::GidScope scope =
            device.identity.unisolated ? core::GidScope{"", true} : core::GidScope{identity_link_name(uuid), false};
        if (auto r = mdevs.set_identity(uuid, scope); !r) {
            return undo_and_refuse("cannot set the network identity of mdev " + uuid.to_string() + ": " +
                                   r.error().message);
        }
    }
    return {};
}

Outcome release(const Request& request, const domain_xml::Domain& domain, core::MdevControl& mdevs)
{
    auto ours = hyv_mdevs_of(domain, mdevs);
    if (!ours) {
        return Outcome{kRefuse, "hyv: domain " + request.domain + ": mdevs left in place: " + ours.error().message};
    }
    std::string problems;
    for (const auto& uuid : *ours) {
        if (auto r = mdevs.remove(uuid); !r && r.error().code != errc::mdev_absent) {
            problems += (problems.empty() ? "" : "; ") + r.error().message;
        }
    }
    if (!problems.empty()) {
        // libvirt ignores release's status; hyvd's reconcile removes what is left.
        return Outcome{kRefuse, "hyv: domain " + request.domain + ": " + problems};
    }
    return {};
}

Outcome migrate(const Request& request, const domain_xml::Domain& domain, core::MdevControl& mdevs)
{
    std::vector<std::string> guids;
    for (const auto& device : domain.devices) {
        guids.push_back(device.guid.to_string());
    }
    auto ours = hyv_mdevs_of(domain, mdevs);
    if (guids.empty() && (!ours || ours->empty())) {
        return {};
    }
    std::string named;
    for (const auto& guid : guids) {
        named += (named.empty() ? "" : ", ") + guid;
    }
    return refuse(request, "has hyv RDMA devices (" + (named.empty() ? std::string("hyv mdev hostdevs") : named) +
                               "), which cannot migrate: detach them (`hyvctl detach " + request.domain +
                               " GUID`), migrate, then attach on the destination");
}

}  // namespace

Outcome run(const Request& request, core::MdevControl& mdevs, const ParentLookup& parent_of)
{
    const std::string& op = request.operation;
    const bool acts = (op == "prepare" && request.sub_operation == "begin") || op == "release" || op == "migrate";
    if (!acts) {
        return {};  // reconnect included: a failing reconnect hook makes libvirt kill the domain
    }
    auto domain = domain_xml::parse_domain(request.xml);
    if (!domain) {
        if (op == "release") {
            return Outcome{kRefuse, "hyv: domain " + request.domain + ": " + domain.error().message};
        }
        return refuse(request, domain.error().message);
    }
    if (op == "prepare") {
        return prepare(request, *domain, mdevs, parent_of);
    }
    if (op == "release") {
        return release(request, *domain, mdevs);
    }
    return migrate(request, *domain, mdevs);
}

}  // namespace hyv::hook
