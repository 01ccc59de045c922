#include "hyv/domain_xml.hpp"

#include "hyv/error_codes.hpp"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <charconv>
#include <cstdio>
#include <limits>
#include <memory>
#include <set>

namespace hyv::domain_xml {

namespace {

struct XmlDocDeleter {
    void operator()(xmlDocPtr doc) const { xmlFreeDoc(doc); }
};
struct XPathContextDeleter {
    void operator()(xmlXPathContextPtr context) const { xmlXPathFreeContext(context); }
};
struct XPathObjectDeleter {
    void operator()(xmlXPathObjectPtr object) const { xmlXPathFreeObject(object); }
};
using Doc = std::unique_ptr<xmlDoc, XmlDocDeleter>;

std::string attribute(xmlNodePtr node, const char* name)
{
    if (node == nullptr) {
        return {};
    }
    xmlChar* value = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
    if (value == nullptr) {
        return {};
    }
    std::string text(reinterpret_cast<const char*>(value));
    xmlFree(value);
    return text;
}

bool has_attribute(xmlNodePtr node, const char* name)
{
    return xmlHasProp(node, reinterpret_cast<const xmlChar*>(name)) != nullptr;
}

xmlNodePtr first_child(xmlNodePtr node, std::string_view name)
{
    for (xmlNodePtr child = node != nullptr ? node->children : nullptr; child != nullptr; child = child->next) {
        if (child->type == XML_ELEMENT_NODE && name == reinterpret_cast<const char*>(child->name)) {
            return child;
        }
    }
    return nullptr;
}

// <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/> -> "0000:01:00.0"
std::string pci_address_of(xmlNodePtr device)
{
    for (xmlNodePtr child = device->children; child != nullptr; child = child->next) {
        if (child->type != XML_ELEMENT_NODE ||
            std::string_view("address") != reinterpret_cast<const char*>(child->name) ||
            attribute(child, "type") != "pci") {
            continue;
        }
        const auto number = [&](const char* name) { return std::strtoul(attribute(child, name).c_str(), nullptr, 0); };
        char text[32];
        std::snprintf(text, sizeof text, "%04lx:%02lx:%02lx.%lx", number("domain"), number("bus"), number("slot"),
                      number("function"));
        return text;
    }
    return {};
}

Result<Doc> read(const std::string& xml, const char* what)
{
    Doc doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), what, nullptr,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
    if (!doc) {
        return make_error(errc::domain_xml, std::string(what) + " is not well-formed XML");
    }
    return doc;
}

// Calls visit(node) for each node `xpath` selects; prefix "hyv" is bound to kNamespace.
template <typename Visit>
Result<void> select(xmlDocPtr doc, const char* xpath, Visit visit)
{
    std::unique_ptr<xmlXPathContext, XPathContextDeleter> context(xmlXPathNewContext(doc));
    if (!context || xmlXPathRegisterNs(context.get(), reinterpret_cast<const xmlChar*>(kPrefix),
                                       reinterpret_cast<const xmlChar*>(kNamespace)) != 0) {
        return make_error(errc::domain_xml, "cannot set up XPath (out of memory?)");
    }
    std::unique_ptr<xmlXPathObject, XPathObjectDeleter> found(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(xpath), context.get()));
    if (!found) {
        return make_error(errc::domain_xml, std::string("cannot evaluate ") + xpath);
    }
    if (found->nodesetval != nullptr) {
        for (int i = 0; i < found->nodesetval->nodeNr; ++i) {
            if (auto r = visit(found->nodesetval->nodeTab[i]); !r) {
                return r;
            }
        }
    }
    return {};
}

template <typename T>
Result<T> number_attribute(xmlNodePtr node, const char* name, const std::string& guid)
{
    const std::string text = attribute(node, name);
    if (text.empty()) {
        return T{0};
    }
    T value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) {
        return make_error(errc::hyv_metadata,
                          "<hyv:device guid='" + guid + "'>: " + name + "='" + text + "' is not a number in 0.." +
                              std::to_string(std::numeric_limits<T>::max()) + "; fix it with `virsh edit`");
    }
    return value;
}

// unisolated='yes' and the <hyv:ip>, <hyv:mac>, <hyv:vlan> children of one <hyv:device>.
Result<NetworkIdentity> parse_identity(xmlNodePtr node, const std::string& guid)
{
    auto bad = [&](const Error& cause) {
        return make_error(errc::hyv_metadata,
                          "<hyv:device guid='" + guid + "'>: " + cause.message + "; fix it with `virsh edit`");
    };
    NetworkIdentity identity;
    if (has_attribute(node, "unisolated")) {
        const std::string text = attribute(node, "unisolated");
        if (text != "yes" && text != "no") {
            return bad(make_error(errc::hyv_metadata, "unisolated='" + text + "' is neither 'yes' nor 'no'"));
        }
        identity.unisolated = text == "yes";
    }
    for (xmlNodePtr child = node->children; child != nullptr; child = child->next) {
        if (child->type != XML_ELEMENT_NODE) {
            continue;
        }
        const std::string name = reinterpret_cast<const char*>(child->name);
        if (name == "ip") {
            auto address = IpPrefix::parse(attribute(child, "address"), attribute(child, "prefix"));
            if (!address) {
                return bad(address.error());
            }
            identity.addresses.push_back(*address);
        } else if (name == "mac") {
            auto mac = MacAddress::parse(attribute(child, "address"));
            if (!mac) {
                return bad(mac.error());
            }
            identity.mac = *mac;
        } else if (name == "vlan") {
            auto vlan = VlanId::parse(attribute(child, "id"));
            if (!vlan) {
                return bad(vlan.error());
            }
            identity.vlan = *vlan;
        } else {
            return bad(make_error(errc::hyv_metadata, "unknown element <hyv:" + name + ">; known: ip, mac, vlan"));
        }
    }
    if (!identity.empty()) {
        if (auto valid = identity.validate(); !valid) {
            return bad(valid.error());
        }
    }
    return identity;
}

Result<Device> parse_device(xmlNodePtr node)
{
    const std::string guid_text = attribute(node, "guid");
    auto guid = Guid::parse(guid_text);
    if (!guid || guid->is_zero()) {
        return make_error(errc::hyv_metadata, "<hyv:device guid='" + guid_text +
                                                  "'>: not a usable RDMA node GUID (like 0002:c903:00a1:b2c3, see "
                                                  "`hyvctl devices`); fix it with `virsh edit`");
    }
    Device device;
    device.guid = *guid;
    if (has_attribute(node, "mdev")) {
        const std::string mdev_text = attribute(node, "mdev");
        auto mdev = MdevUuid::parse(mdev_text);
        if (!mdev) {
            return make_error(errc::hyv_metadata, "<hyv:device guid='" + guid->to_string() + "'>: mdev='" + mdev_text +
                                                      "' is not a UUID; remove the attribute (hyvd picks one) with "
                                                      "`virsh edit`");
        }
        device.mdev = *mdev;
    }
    const std::string guid_normal = guid->to_string();
    auto qps = number_attribute<std::uint32_t>(node, "qps", guid_normal);
    auto cqs = number_attribute<std::uint32_t>(node, "cqs", guid_normal);
    auto mrs = number_attribute<std::uint32_t>(node, "mrs", guid_normal);
    auto pinned = number_attribute<std::uint64_t>(node, "pinned_bytes", guid_normal);
    for (const Error* error : {qps ? nullptr : &qps.error(), cqs ? nullptr : &cqs.error(), mrs ? nullptr : &mrs.error(),
                               pinned ? nullptr : &pinned.error()}) {
        if (error != nullptr) {
            return *error;
        }
    }
    device.quota = Quota{.max_qps = *qps, .max_cqs = *cqs, .max_mrs = *mrs, .max_pinned_bytes = *pinned};
    auto identity = parse_identity(node, guid_normal);
    if (!identity) {
        return identity.error();
    }
    device.identity = std::move(identity).value();
    return device;
}

Result<std::vector<Device>> devices_at(xmlDocPtr doc, const char* xpath)
{
    std::vector<Device> devices;
    std::set<Guid> seen;
    auto walked = select(doc, xpath, [&](xmlNodePtr node) -> Result<void> {
        auto device = parse_device(node);
        if (!device) {
            return device.error();
        }
        if (!seen.insert(device->guid).second) {
            return make_error(errc::hyv_metadata, "GUID " + device->guid.to_string() +
                                                      " appears twice in <hyv:devices>; keep one with `virsh edit`");
        }
        devices.push_back(*device);
        return {};
    });
    if (!walked) {
        return walked.error();
    }
    return devices;
}

}  // namespace

// <device> children of <hyv:devices>, in hyv's namespace or in none (hand-written XML may prefix
// only the root).
#define DEVICE_CHILD "*[local-name()='device' and (namespace-uri()='' or namespace-uri()=namespace-uri(..))]"

Result<Domain> parse_domain(const std::string& xml)
{
    auto doc = read(xml, "domain XML");
    if (!doc) {
        return doc.error();
    }
    xmlNodePtr root = xmlDocGetRootElement(doc->get());
    if (root == nullptr || std::string_view("domain") != reinterpret_cast<const char*>(root->name)) {
        return make_error(errc::domain_xml, "domain XML has no <domain> root element");
    }
    Domain domain;
    if (xmlNodePtr name = first_child(root, "name"); name != nullptr) {
        xmlChar* text = xmlNodeGetContent(name);
        domain.name = text != nullptr ? reinterpret_cast<const char*>(text) : "";
        xmlFree(text);
    }
    if (xmlNodePtr uuid = first_child(root, "uuid"); uuid != nullptr) {
        xmlChar* text = xmlNodeGetContent(uuid);
        domain.uuid = text != nullptr ? reinterpret_cast<const char*>(text) : "";
        xmlFree(text);
    }
    auto devices = devices_at(doc->get(), "/domain/metadata/hyv:devices/" DEVICE_CHILD);
    if (!devices) {
        return devices.error();
    }
    domain.devices = std::move(*devices);
    auto walked = select(doc->get(), "/domain/devices/hostdev[@type='mdev']", [&](xmlNodePtr hostdev) -> Result<void> {
        MdevHostdev info;
        info.alias = attribute(first_child(hostdev, "alias"), "name");
        info.mdev_uuid = attribute(first_child(first_child(hostdev, "source"), "address"), "uuid");
        info.pci_address = pci_address_of(hostdev);
        domain.hostdevs.push_back(std::move(info));
        return {};
    });
    if (!walked) {
        return walked.error();
    }
    return domain;
}

Result<bool> has_device_alias(const std::string& xml, const std::string& alias)
{
    auto doc = read(xml, "domain XML");
    if (!doc) {
        return doc.error();
    }
    bool found = false;
    auto walked = select(doc->get(), "/domain/devices/*/alias", [&](xmlNodePtr node) -> Result<void> {
        found = found || attribute(node, "name") == alias;
        return {};
    });
    if (!walked) {
        return walked.error();
    }
    return found;
}

Result<std::vector<Device>> parse_metadata(const std::string& element_xml)
{
    auto doc = read(element_xml, "hyv metadata");
    if (!doc) {
        return doc.error();
    }
    // libvirt selected the element by hyv's namespace already, and returns it without it:
    // <devices xmlns:hyv='...'><device .../></devices>.
    return devices_at(doc->get(), "/*[local-name()='devices']/*[local-name()='device']");
}

std::string metadata_xml(const std::vector<Device>& devices)
{
    // Default namespace, no prefix: libvirt declares its own prefix (the key) on the root and refuses
    // an element that already declares it ("failed to create a new XML namespace").
    std::string xml = std::string("<devices xmlns='") + kNamespace + "'>";
    for (const auto& device : devices) {
        // GUIDs, UUIDs and numbers only: nothing to escape.
        xml += "<device guid='" + device.guid.to_string() + "'";
        if (device.mdev) {
            xml += " mdev='" + device.mdev->to_string() + "'";
        }
        const Quota& q = device.quota;
        const std::pair<const char*, std::uint64_t> limits[] = {
            {"qps", q.max_qps}, {"cqs", q.max_cqs}, {"mrs", q.max_mrs}, {"pinned_bytes", q.max_pinned_bytes}};
        for (const auto& [name, value] : limits) {
            if (value != 0) {
                xml += std::string(" ") + name + "='" + std::to_string(value) + "'";
            }
        }
        const NetworkIdentity& identity = device.identity;
        if (identity.unisolated) {
            xml += " unisolated='yes'";
        }
        if (identity.addresses.empty()) {
            xml += "/>";
            continue;
        }
        // Addresses, MACs and numbers: nothing to escape either.
        xml += ">";
        for (const auto& address : identity.addresses) {
            xml += "<ip address='" + address.address() + "' prefix='" + std::to_string(address.prefix_length()) + "'/>";
        }
        if (identity.mac) {
            xml += "<mac address='" + identity.mac->to_string() + "'/>";
        }
        if (identity.vlan) {
            xml += "<vlan id='" + identity.vlan->to_string() + "'/>";
        }
        xml += "</device>";
    }
    return xml + "</devices>";
}

std::string alias_for(const std::string& qdev_id)
{
    return qdev_id.rfind(kUserAliasPrefix, 0) == 0 ? qdev_id : std::string(kUserAliasPrefix) + qdev_id;
}

std::string hostdev_xml(const MdevUuid& mdev, const std::string& qdev_id)
{
    return "<hostdev mode='subsystem' type='mdev' model='vfio-pci' managed='no'><source><address uuid='" +
           mdev.to_string() + "'/></source><alias name='" + alias_for(qdev_id) + "'/></hostdev>";
}

std::vector<Device> with_device(std::vector<Device> devices, const Device& device)
{
    for (auto& existing : devices) {
        if (existing.guid == device.guid) {
            existing = device;
            return devices;
        }
    }
    devices.push_back(device);
    return devices;
}

std::vector<Device> without_device(std::vector<Device> devices, const Guid& guid)
{
    std::erase_if(devices, [&](const Device& d) { return d.guid == guid; });
    return devices;
}

}  // namespace hyv::domain_xml
