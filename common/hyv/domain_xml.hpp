// libvirt domain XML as hyv reads and writes it (docs/libvirt.md): shared by hyvd's libvirt adapter
// and the libvirt hook.
//
// A hyv device in a domain is two things:
//   <devices><hostdev mode='subsystem' type='mdev' model='vfio-pci' managed='no'>
//              <source><address uuid='MDEV'/></source><alias name='ua-hyv-MDEV'/></hostdev>
//   <metadata><hyv:devices xmlns:hyv='https://hyv.dev/xmlns/libvirt/1'>
//              <hyv:device guid='GUID' mdev='MDEV' qps='..' cqs='..' mrs='..' pinned_bytes='..'>
//                <hyv:ip address='10.0.0.5' prefix='24'/>... <hyv:mac address='..'/> <hyv:vlan id='7'/>
//              </hyv:device>       (or <hyv:device guid=.. unisolated='yes'/>: the network identity)
// The hostdev is what libvirt and QEMU act on; the metadata says which host RDMA device (GUID) and
// which limits are behind the mdev, so the hook can create it at start. A <hyv:device> with a GUID
// only (written by hand) is completed by hyvd (mdev chosen, hostdev added).
#pragma once

#include "hyv/result.hpp"
#include "hyv/types.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hyv::domain_xml {

// The namespace of hyv's metadata element; libvirt keys <metadata> children by it.
inline constexpr const char* kNamespace = "https://hyv.dev/xmlns/libvirt/1";
inline constexpr const char* kPrefix = "hyv";
// libvirt only accepts user-chosen device aliases with this prefix.
inline constexpr const char* kUserAliasPrefix = "ua-";

// One <hyv:device>: a GUID and, once hyvd completed it, the mdev and quota behind it.
struct Device {
    Guid guid;
    std::optional<MdevUuid> mdev;  // empty: hand-written, hyvd has not completed it yet
    Quota quota;                   // zero fields: hyvd's defaults
    NetworkIdentity identity{};    // empty: none written (hyvd refuses to act on the device)

    friend bool operator==(const Device&, const Device&) = default;
};

// One <hostdev type='mdev'> of a domain.
struct MdevHostdev {
    std::string mdev_uuid;    // as written in the XML (not validated)
    std::string alias;        // "" when libvirt has not assigned one (inactive XML)
    std::string pci_address;  // "0000:01:00.0"; "" when libvirt has not assigned one
};

// What hyv cares about in one domain XML document.
struct Domain {
    std::string name;
    std::string uuid;
    std::vector<Device> devices;        // from <metadata><hyv:devices>
    std::vector<MdevHostdev> hostdevs;  // every <hostdev type='mdev'>
};

// Parses a whole domain XML (virsh dumpxml, or what libvirt gives a hook on stdin).
// Errors: "domain-xml" (not XML / no <domain>), "hyv-metadata" (a <hyv:device> with a bad or
// missing GUID or mdev, a bad address, MAC or VLAN, or a duplicate GUID; the message names it and
// the fix). A device without identity parses (its identity is empty): whoever acts on it refuses.
Result<Domain> parse_domain(const std::string& xml);

// Whether any device in a domain XML has <alias name='alias'/>.
Result<bool> has_device_alias(const std::string& xml, const std::string& alias);

// Parses the metadata element alone (what virDomainGetMetadata returns).
Result<std::vector<Device>> parse_metadata(const std::string& element_xml);

// The metadata element for virDomainSetMetadata: <devices xmlns='kNamespace'>, unprefixed (libvirt
// adds its prefix and refuses an element that declares one).
std::string metadata_xml(const std::vector<Device>& devices);

// "ua-" + qdev_id, unless qdev_id already has that prefix.
std::string alias_for(const std::string& qdev_id);

// <hostdev mode='subsystem' type='mdev' model='vfio-pci' managed='no'> for one mdev, with our alias.
std::string hostdev_xml(const MdevUuid& mdev, const std::string& qdev_id);

// `devices` with `device` replacing the entry of the same GUID, or appended.
std::vector<Device> with_device(std::vector<Device> devices, const Device& device);
// `devices` without the entry of `guid`.
std::vector<Device> without_device(std::vector<Device> devices, const Guid& guid);

}  // namespace hyv::domain_xml
