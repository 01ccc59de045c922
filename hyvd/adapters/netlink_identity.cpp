#include "hyvd/adapters/netlink_identity.hpp"

#include "hyv/error_codes.hpp"

#include <linux/if_addr.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/link/vlan.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace hyv::adapters {
namespace {

struct SocketDeleter {
    void operator()(nl_sock* sock) const { nl_socket_free(sock); }
};
struct LinkDeleter {
    void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
struct AddrDeleter {
    void operator()(rtnl_addr* addr) const { rtnl_addr_put(addr); }
};
struct NlAddrDeleter {
    void operator()(nl_addr* addr) const { nl_addr_put(addr); }
};
struct CacheDeleter {
    void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
using Socket = std::unique_ptr<nl_sock, SocketDeleter>;
using Link = std::unique_ptr<rtnl_link, LinkDeleter>;
using Addr = std::unique_ptr<rtnl_addr, AddrDeleter>;
using NlAddr = std::unique_ptr<nl_addr, NlAddrDeleter>;
using Cache = std::unique_ptr<nl_cache, CacheDeleter>;

Error netlink_error(const std::string& what, int error)
{
    return make_error(errc::netlink, fmt::format("{}: {}", what, nl_geterror(error)));
}

Result<Socket> connect_route()
{
    Socket sock(nl_socket_alloc());
    if (!sock) {
        return make_error(errc::netlink, "cannot allocate a netlink socket");
    }
    if (const int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
        return netlink_error("cannot open rtnetlink", err);
    }
    return sock;
}

// The link called `name`, or nullptr when there is none.
Result<Link> find_link(nl_sock* sock, const std::string& name)
{
    rtnl_link* raw = nullptr;
    const int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw);
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
        return Link();
    }
    if (err < 0) {
        return netlink_error("cannot look up link " + name, err);
    }
    return Link(raw);
}

Result<NlAddr> nl_address(int family, const void* bytes, std::size_t size)
{
    NlAddr addr(nl_addr_build(family, bytes, size));
    if (!addr) {
        return make_error(errc::netlink, "cannot allocate a netlink address");
    }
    return addr;
}

Result<void> add_address(nl_sock* sock, int ifindex, const IpPrefix& prefix)
{
    const bool v4 = prefix.family() == IpPrefix::Family::ipv4;
    auto local = nl_address(v4 ? AF_INET : AF_INET6, prefix.bytes().data(), v4 ? 4 : 16);
    if (!local) {
        return local.error();
    }
    nl_addr_set_prefixlen(local->get(), static_cast<int>(prefix.prefix_length()));
    Addr addr(rtnl_addr_alloc());
    if (!addr) {
        return make_error(errc::netlink, "cannot allocate an address object");
    }
    rtnl_addr_set_ifindex(addr.get(), ifindex);
    rtnl_addr_set_family(addr.get(), v4 ? AF_INET : AF_INET6);
    if (const int err = rtnl_addr_set_local(addr.get(), local->get()); err < 0) {
        return netlink_error("cannot set address " + prefix.to_string(), err);
    }
    rtnl_addr_set_prefixlen(addr.get(), static_cast<int>(prefix.prefix_length()));
    if (!v4) {
        rtnl_addr_set_flags(addr.get(), IFA_F_NODAD);  // usable (and its GID present) at once
    }
    if (const int err = rtnl_addr_add(sock, addr.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
        return netlink_error("cannot add address " + prefix.to_string(), err);
    }
    return {};
}

// The new link's description: macvlan (bridge) or VLAN on `parent_index`, named, with the MAC.
Result<Link> describe(const core::IdentityLink& wanted, int parent_index)
{
    Link link(wanted.vlan ? rtnl_link_vlan_alloc() : rtnl_link_macvlan_alloc());
    if (!link) {
        return make_error(errc::netlink, "cannot allocate a link object");
    }
    rtnl_link_set_name(link.get(), wanted.name.c_str());
    rtnl_link_set_link(link.get(), parent_index);
    if (wanted.vlan) {
        if (const int err = rtnl_link_vlan_set_id(link.get(), wanted.vlan->value()); err < 0) {
            return netlink_error("cannot set VLAN id", err);
        }
    } else if (const int err = rtnl_link_macvlan_set_mode(link.get(), rtnl_link_macvlan_str2mode("bridge")); err < 0) {
        return netlink_error("cannot set macvlan mode bridge", err);
    }
    if (wanted.mac) {
        auto mac = nl_address(AF_LLC, wanted.mac->bytes().data(), wanted.mac->bytes().size());
        if (!mac) {
            return mac.error();
        }
        rtnl_link_set_addr(link.get(), mac->get());
    }
    return link;
}

// Addresses, then up; the caller deletes the link when this fails.
Result<void> configure(nl_sock* sock, const core::IdentityLink& wanted)
{
    auto made = find_link(sock, wanted.name);
    if (!made) {
        return made.error();
    }
    if (!*made) {
        return make_error(errc::netlink, "link " + wanted.name + " vanished right after it was made");
    }
    const int ifindex = rtnl_link_get_ifindex(made->get());
    for (const auto& address : wanted.addresses) {
        if (auto r = add_address(sock, ifindex, address); !r) {
            return r;
        }
    }
    Link change(rtnl_link_alloc());
    if (!change) {
        return make_error(errc::netlink, "cannot allocate a link object");
    }
    rtnl_link_set_flags(change.get(), IFF_UP);
    if (const int err = rtnl_link_change(sock, made->get(), change.get(), 0); err < 0) {
        return netlink_error("cannot set link " + wanted.name + " up", err);
    }
    return {};
}

Result<void> delete_link(nl_sock* sock, const std::string& name)
{
    Link link(rtnl_link_alloc());
    if (!link) {
        return make_error(errc::netlink, "cannot allocate a link object");
    }
    rtnl_link_set_name(link.get(), name.c_str());
    if (const int err = rtnl_link_delete(sock, link.get()); err < 0) {
        if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
            return make_error(errc::link_absent, "link " + name + " does not exist");
        }
        return netlink_error("cannot delete link " + name, err);
    }
    return {};
}

}  // namespace

Result<void> NetlinkIdentity::create(const core::IdentityLink& wanted)
{
    if (wanted.name.empty() || wanted.name.size() >= IFNAMSIZ) {
        return make_error(errc::netlink, "link name '" + wanted.name + "' is not 1-15 characters");
    }
    auto sock = connect_route();
    if (!sock) {
        return sock.error();
    }
    auto existing = find_link(sock->get(), wanted.name);
    if (!existing) {
        return existing.error();
    }
    if (*existing) {
        return make_error(errc::link_exists, "a link named " + wanted.name + " exists already");
    }
    auto parent = find_link(sock->get(), wanted.parent);
    if (!parent) {
        return parent.error();
    }
    if (!*parent) {
        return make_error(errc::no_netdev, "the RDMA device's netdev " + wanted.parent + " does not exist");
    }
    auto link = describe(wanted, rtnl_link_get_ifindex(parent->get()));
    if (!link) {
        return link.error();
    }
    if (const int err = rtnl_link_add(sock->get(), link->get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
        if (err == -NLE_EXIST) {
            return make_error(errc::link_exists, "a link named " + wanted.name + " exists already");
        }
        return netlink_error(
            fmt::format("cannot make {} link {} on {}", wanted.vlan ? "VLAN" : "macvlan", wanted.name, wanted.parent),
            err);
    }
    if (auto configured = configure(sock->get(), wanted); !configured) {
        if (auto undone = delete_link(sock->get(), wanted.name); !undone) {
            return make_error(configured.error().code,
                              configured.error().message +
                                  "; removing the half-made link failed too: " + undone.error().message);
        }
        return configured;
    }
    spdlog::debug("link {} made on {}", wanted.name, wanted.parent);
    return {};
}

Result<void> NetlinkIdentity::remove(const std::string& name)
{
    auto sock = connect_route();
    if (!sock) {
        return sock.error();
    }
    return delete_link(sock->get(), name);
}

Result<bool> NetlinkIdentity::exists(const std::string& name)
{
    auto sock = connect_route();
    if (!sock) {
        return sock.error();
    }
    auto link = find_link(sock->get(), name);
    if (!link) {
        return link.error();
    }
    return static_cast<bool>(*link);
}

Result<std::vector<std::string>> NetlinkIdentity::list_own()
{
    auto sock = connect_route();
    if (!sock) {
        return sock.error();
    }
    nl_cache* raw = nullptr;
    if (const int err = rtnl_link_alloc_cache(sock->get(), AF_UNSPEC, &raw); err < 0) {
        return netlink_error("cannot list links", err);
    }
    Cache cache(raw);
    std::vector<std::string> names;
    for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr; object = nl_cache_get_next(object)) {
        const char* name = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(object));
        if (name != nullptr && std::string_view(name).starts_with(prefix_)) {
            names.emplace_back(name);
        }
    }
    return names;
}

}  // namespace hyv::adapters
