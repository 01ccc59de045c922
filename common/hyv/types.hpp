// Value types shared by hyvd, hyvctl, the QEMU/libvirt adapters and the libvirt hook.
// Every type here is validated at construction (parse) so code holding one can trust it.
#pragma once

#include "hyv/result.hpp"

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

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

}  // namespace hyv

template <>
struct std::hash<hyv::Guid> {
    std::size_t operator()(const hyv::Guid& guid) const noexcept { return std::hash<std::uint64_t>{}(guid.value()); }
};

template <>
struct std::hash<hyv::VmId> {
    std::size_t operator()(const hyv::VmId& vm) const noexcept { return std::hash<std::string>{}(vm.str()); }
};
