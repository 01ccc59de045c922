// IpPrefix, MacAddress, VlanId and NetworkIdentity (common/hyv/types.hpp): a guest's identity on
// the RDMA network, validated when parsed.
#include "hyv/error_codes.hpp"
#include "hyv/types.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <random>
#include <set>

namespace hyv {
namespace {

// The whole of `text` as a decimal number in [min, max], or -1.
std::int64_t whole_decimal(std::string_view text, std::int64_t min, std::int64_t max)
{
    std::int64_t value = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
        return -1;
    }
    return value;
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

}  // namespace

Result<IpPrefix> IpPrefix::parse(std::string_view text)
{
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return make_error(errc::bad_ip, "address '" + std::string(text) +
                                            "' has no prefix length; write it as ADDRESS/PREFIX, e.g. 10.0.0.5/24");
    }
    return parse(text.substr(0, slash), text.substr(slash + 1));
}

Result<IpPrefix> IpPrefix::parse(std::string_view address, std::string_view prefix)
{
    const std::string whole = std::string(address) + "/" + std::string(prefix);
    auto bad = [&](const std::string& why) {
        return make_error(errc::bad_ip, "address '" + whole + "' " + why +
                                            "; give a unicast host address as ADDRESS/PREFIX, e.g. 10.0.0.5/24 "
                                            "or fd00::5/64");
    };
    IpPrefix out;
    const std::string text(address);
    if (inet_pton(AF_INET, text.c_str(), out.bytes_.data()) == 1) {
        out.family_ = Family::ipv4;
    } else if (inet_pton(AF_INET6, text.c_str(), out.bytes_.data()) == 1) {
        out.family_ = Family::ipv6;
    } else {
        return bad("is not an IPv4 or IPv6 address");
    }
    const bool v4 = out.family_ == Family::ipv4;
    const std::int64_t length = whole_decimal(prefix, 1, v4 ? 32 : 128);
    if (length < 0) {
        return bad(v4 ? "has no prefix length 1-32" : "has no prefix length 1-128");
    }
    out.prefix_ = static_cast<unsigned>(length);
    const auto& b = out.bytes_;
    const std::size_t size = v4 ? 4 : 16;
    const bool all_zero = std::all_of(b.begin(), b.begin() + size, [](std::uint8_t x) { return x == 0; });
    const bool all_ones = v4 && std::all_of(b.begin(), b.begin() + 4, [](std::uint8_t x) { return x == 0xff; });
    const bool loopback =
        v4 ? b[0] == 127 : (std::all_of(b.begin(), b.begin() + 15, [](auto x) { return x == 0; }) && b[15] == 1);
    const bool multicast = v4 ? (b[0] & 0xf0) == 0xe0 : b[0] == 0xff;
    if (all_zero || all_ones || loopback || multicast) {
        return bad("is not a unicast host address");
    }
    return out;
}

std::string IpPrefix::address() const
{
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family_ == Family::ipv4 ? AF_INET : AF_INET6, bytes_.data(), text, sizeof text);
    return text;
}

std::string IpPrefix::to_string() const
{
    return address() + "/" + std::to_string(prefix_);
}

Result<MacAddress> MacAddress::parse(std::string_view text)
{
    auto bad = [&](const std::string& why) {
        return make_error(errc::bad_mac, "MAC address '" + std::string(text) + "' " + why +
                                             "; give six hex pairs, e.g. 52:54:00:12:34:56");
    };
    if (text.size() != 17) {
        return bad("has the wrong length");
    }
    std::array<std::uint8_t, 6> bytes{};
    for (std::size_t i = 0; i < 6; ++i) {
        const int high = hex_digit(text[i * 3]);
        const int low = hex_digit(text[i * 3 + 1]);
        if (high < 0 || low < 0 || (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-') ||
            (i < 5 && text[i * 3 + 2] != text[2])) {
            return bad("is malformed");
        }
        bytes[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    if (bytes[0] & 0x01) {
        return bad("is a multicast address");
    }
    if (std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; })) {
        return bad("is all zero");
    }
    return MacAddress(bytes);
}

MacAddress MacAddress::random_local()
{
    std::random_device random;
    std::array<std::uint8_t, 6> bytes{};
    for (auto& b : bytes) {
        b = static_cast<std::uint8_t>(random());
    }
    bytes[0] = static_cast<std::uint8_t>((bytes[0] & 0xfe) | 0x02);  // unicast, locally administered
    return MacAddress(bytes);
}

std::string MacAddress::to_string() const
{
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", bytes_[0], bytes_[1], bytes_[2], bytes_[3],
                  bytes_[4], bytes_[5]);
    return text;
}

Result<VlanId> VlanId::parse(std::string_view text)
{
    const std::int64_t number = whole_decimal(text, 0, 1'000'000);
    if (number < 0) {
        return make_error(errc::bad_vlan, "VLAN id '" + std::string(text) + "' is not a number 1-4094");
    }
    return from_number(number);
}

Result<VlanId> VlanId::from_number(std::int64_t number)
{
    if (number < 1 || number > 4094) {
        return make_error(errc::bad_vlan, "VLAN id " + std::to_string(number) + " is not in 1-4094");
    }
    return VlanId(static_cast<std::uint16_t>(number));
}

Result<void> NetworkIdentity::validate() const
{
    if (unisolated && (!addresses.empty() || mac || vlan)) {
        return make_error(
            errc::bad_identity,
            "unisolated shares the host's GIDs and takes no addresses, MAC or VLAN; give one or the other");
    }
    if (!unisolated && addresses.empty()) {
        if (mac || vlan) {
            return make_error(errc::bad_identity,
                              "a MAC address or VLAN needs at least one address (--ip ADDR/PREFIX)");
        }
        return make_error(errc::identity_required,
                          "attach needs a network identity: give --ip ADDR/PREFIX, or --unisolated to share the "
                          "host's GIDs without isolation");
    }
    std::set<std::string> seen;
    for (const auto& address : addresses) {
        if (!seen.insert(address.address()).second) {
            return make_error(errc::bad_identity, "address " + address.address() + " is given twice");
        }
    }
    return {};
}

std::string NetworkIdentity::describe() const
{
    if (unisolated) {
        return "unisolated";
    }
    if (addresses.empty()) {
        return "none";
    }
    std::string text;
    for (const auto& address : addresses) {
        text += (text.empty() ? "" : ",") + address.to_string();
    }
    return text;
}

std::string identity_link_name(const MdevUuid& mdev)
{
    return "hyv" + mdev.to_string().substr(0, 8);
}

}  // namespace hyv
