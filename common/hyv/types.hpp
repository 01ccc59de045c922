// Value types shared by hyvd, hyvctl, the QEMU/libvirt adapters and the libvirt hook.
// Every type here is validated at construction (parse) so code holding one can trust it.
#pragma once

#include "hyv/result.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hyv {

// An RDMA node GUID (64 bits, as ibv_devinfo and /sys/class/infiniband/*/node_guid show it).
class Guid {
public:
    constexpr Guid() = default;
    constexpr explicit Guid(std::uint64_t value) : value_(value) {}

    // Accepts, case-insensitively:
    //   0002:c903:00a1:b2c3        (ibv_devinfo / sysfs node_guid form; the normal form)
    //   0x0002c90300a1b2c3         (hex, "0x" optional, exactly 16 digits)
    //   00:02:c9:03:00:a1:b2:c3    (byte-wise, MAC-like)
    // Zero parses (sysfs shows it for unconfigured devices); callers that assign
    // a device must reject it with is_zero().
    static Result<Guid> parse(std::string_view text);

    // Normal form: "0002:c903:00a1:b2c3", lowercase.
    std::string to_string() const;
    constexpr std::uint64_t value() const { return value_; }
    constexpr bool is_zero() const { return value_ == 0; }

    friend constexpr auto operator<=>(const Guid&, const Guid&) = default;

private:
    std::uint64_t value_ = 0;
};

// A VFIO mediated-device instance UUID, canonical lowercase 8-4-4-4-12.
class MdevUuid {
public:
    MdevUuid() = default;
    explicit MdevUuid(const std::array<std::uint8_t, 16>& bytes) : bytes_(bytes) {}

    // Accepts upper or lower case; the canonical hyphenated form only (that is what sysfs uses).
    static Result<MdevUuid> parse(std::string_view text);
    // Random (version 4, RFC 4122 variant) from std::random_device, which reads /dev/urandom on Linux.
    static MdevUuid generate();

    std::string to_string() const;
    bool is_nil() const;
    const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

    friend auto operator<=>(const MdevUuid&, const MdevUuid&) = default;

private:
    std::array<std::uint8_t, 16> bytes_{};
};

// The name of a VM as the operator knows it: a libvirt domain name or the name given
// to a raw QEMU VM at `hyvctl vm add`. Used in sysfs-free places only (db, logs, qdev ids
// are derived elsewhere), but kept strict so it is safe in paths, logs and JSON.
class VmId {
public:
    static constexpr std::size_t max_length = 64;

    // Empty placeholder so records holding a VmId stay default-constructible; never a valid name.
    VmId() = default;

    // 1..64 printable ASCII characters, no whitespace, no '/', not "." or "..".
    static Result<VmId> parse(std::string_view text);

    const std::string& str() const { return name_; }
    bool empty() const { return name_.empty(); }

    friend auto operator<=>(const VmId&, const VmId&) = default;

private:
    explicit VmId(std::string name) : name_(std::move(name)) {}
    std::string name_;
};

enum class VmKind {
    libvirt,  // a libvirt domain; hot-plug through libvirt (attach-device with an mdev hostdev)
    qemu,     // a raw QEMU started by someone else; hot-plug through its QMP socket
};

std::string_view to_string(VmKind kind);
Result<VmKind> parse_vm_kind(std::string_view text);

// Life of one (VM, GUID) assignment. Each state names what is TRUE and, for the
// in-between states, which single step is about to be (or may have been) taken;
// a state is persisted BEFORE its step runs, so after a crash `reconcile()` only
// has to look at reality to learn whether that one step happened.
//
//   attach:  attaching_intent --create mdev--> mdev_created --device_add--> hotplugged --verify--> attached
//   detach:  attached --> detaching --device_del, wait--> detached_mdev_present --remove mdev--> removed
//   VM stop: attached --> inactive (persistent: mdev kept)  |  --> detached_mdev_present (not persistent)
//   VM back: inactive --> mdev_created --> hotplugged --> attached
//   trouble: any step that fails and cannot be rolled back automatically --> failed (last_error says why)
//
// The authoritative transition table lives in hyvd/core/state_machine.hpp.
enum class AssignmentState {
    attaching_intent,       // row written, mdev uuid chosen; next: create the mdev (may exist after a crash)
    mdev_created,           // mdev exists and is configured; next: hot-add (may be in the VM after a crash)
    hotplugged,             // device_add succeeded, guest PCI address recorded; next: verify
    attached,               // in the VM and verified
    detaching,              // device_del issued or about to be; the guest may still hold it
    detached_mdev_present,  // no QEMU holds the mdev; next: remove the mdev (may be gone after a crash)
    inactive,               // persistent assignment whose VM is not running; mdev kept for its next start
    failed,                 // a step failed and automatic rollback did not finish; see last_error; detach retries
    removed,                // terminal: the row is deleted (history stays in the events table)
};

std::string_view to_string(AssignmentState state);
Result<AssignmentState> parse_assignment_state(std::string_view text);

// Per-instance limits the host module enforces on a guest. Zero means "daemon default".
struct Quota {
    std::uint32_t max_qps = 0;
    std::uint32_t max_cqs = 0;
    std::uint32_t max_mrs = 0;
    std::uint64_t max_pinned_bytes = 0;

    friend bool operator==(const Quota&, const Quota&) = default;
};

// An address with its prefix length on the RDMA network, "10.0.0.5/24" or "fd00::5/64".
class IpPrefix {
public:
    enum class Family { ipv4, ipv6 };

    IpPrefix() = default;
    // ADDRESS/PREFIX, IPv4 (prefix 1-32) or IPv6 (1-128); a unicast host address (not the
    // unspecified, loopback, multicast or IPv4 broadcast address). The prefix is required.
    static Result<IpPrefix> parse(std::string_view text);
    // The same from separate parts (libvirt metadata keeps them apart).
    static Result<IpPrefix> parse(std::string_view address, std::string_view prefix);

    Family family() const { return family_; }
    // Canonical text of the address alone ("fd00::5"): what conflicts are checked on.
    std::string address() const;
    unsigned prefix_length() const { return prefix_; }
    std::string to_string() const;  // "10.0.0.5/24"
    // Network byte order; 4 bytes used for IPv4.
    const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

    friend auto operator<=>(const IpPrefix&, const IpPrefix&) = default;

private:
    Family family_ = Family::ipv4;
    std::array<std::uint8_t, 16> bytes_{};
    unsigned prefix_ = 0;
};

// An Ethernet unicast MAC address, lowercase "52:54:00:12:34:56".
class MacAddress {
public:
    MacAddress() = default;
    explicit MacAddress(const std::array<std::uint8_t, 6>& bytes) : bytes_(bytes) {}
    // Six ':'- or '-'-separated pairs of hex digits; not multicast, not all zero.
    static Result<MacAddress> parse(std::string_view text);
    // A random locally administered unicast address.
    static MacAddress random_local();

    std::string to_string() const;
    const std::array<std::uint8_t, 6>& bytes() const { return bytes_; }

    friend auto operator<=>(const MacAddress&, const MacAddress&) = default;

private:
    std::array<std::uint8_t, 6> bytes_{};
};

// An 802.1Q VLAN id, 1-4094.
class VlanId {
public:
    VlanId() = default;
    static Result<VlanId> parse(std::string_view text);
    static Result<VlanId> from_number(std::int64_t number);
    std::uint16_t value() const { return value_; }
    std::string to_string() const { return std::to_string(value_); }

    friend auto operator<=>(const VlanId&, const VlanId&) = default;

private:
    explicit VlanId(std::uint16_t value) : value_(value) {}
    std::uint16_t value_ = 0;
};

// What a guest may be on the RDMA network: its own addresses (realised on the host as a macvlan
// or VLAN device of the RDMA device's netdev, whose RoCE GIDs are the only ones it sees), or,
// `unisolated`, the host's whole GID table. Exactly one of the two (docs/network.md).
struct NetworkIdentity {
    bool unisolated = false;
    std::vector<IpPrefix> addresses{};
    std::optional<MacAddress> mac{};  // none: a random locally administered one (macvlan) or the parent's (VLAN)
    std::optional<VlanId> vlan{};     // none: a macvlan device; set: a VLAN device with this id

    // Neither addresses nor unisolated: what attach refuses.
    bool empty() const { return !unisolated && addresses.empty(); }
    // Refuses no identity, unisolated together with addresses/mac/vlan, and repeated addresses.
    Result<void> validate() const;
    // "10.0.0.5/24,fd00::5/64" or "unisolated" (or "none"), for tables and logs.
    std::string describe() const;

    friend bool operator==(const NetworkIdentity&, const NetworkIdentity&) = default;
};

// The host link carrying the identity of the assignment with this mdev: "hyv" + the UUID's first
// 8 hex digits (fits IFNAMSIZ). hyvd makes it; the libvirt hook names it to the mdev it creates.
std::string identity_link_name(const MdevUuid& mdev);

}  // namespace hyv

template <>
struct std::hash<hyv::Guid> {
    std::size_t operator()(const hyv::Guid& guid) const noexcept { return std::hash<std::uint64_t>{}(guid.value()); }
};

template <>
struct std::hash<hyv::VmId> {
    std::size_t operator()(const hyv::VmId& vm) const noexcept { return std::hash<std::string>{}(vm.str()); }
};
