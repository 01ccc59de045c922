#include "hyv/types.hpp"

#include "hyv/error_codes.hpp"

#include <cctype>
#include <random>
#include <string>

namespace hyv {
namespace {

int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    const char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower >= 'a' && lower <= 'f') {
        return lower - 'a' + 10;
    }
    return -1;
}

// Reads exactly `digits` hex digits from `text` at `pos` into `out`; false on anything else.
bool read_hex(std::string_view text, std::size_t pos, std::size_t digits, std::uint64_t& out)
{
    if (pos + digits > text.size()) {
        return false;
    }
    for (std::size_t i = 0; i < digits; ++i) {
        const int v = hex_value(text[pos + i]);
        if (v < 0) {
            return false;
        }
        out = (out << 4) | static_cast<std::uint64_t>(v);
    }
    return true;
}

// Parses groups of `group_digits` hex digits separated by ':' that together make 16 digits.
bool parse_grouped(std::string_view text, std::size_t group_digits, std::uint64_t& out)
{
    const std::size_t groups = 16 / group_digits;
    if (text.size() != 16 + (groups - 1)) {
        return false;
    }
    std::size_t pos = 0;
    for (std::size_t g = 0; g < groups; ++g) {
        if (g > 0) {
            if (text[pos] != ':') {
                return false;
            }
            ++pos;
        }
        if (!read_hex(text, pos, group_digits, out)) {
            return false;
        }
        pos += group_digits;
    }
    return true;
}

constexpr char hex_digits[] = "0123456789abcdef";
constexpr std::size_t uuid_text_length = 36;
constexpr std::size_t uuid_hyphen_positions[] = {8, 13, 18, 23};

}  // namespace

Result<Guid> Guid::parse(std::string_view text)
{
    std::uint64_t value = 0;
    bool parsed = false;
    if (text.size() == 19) {
        parsed = parse_grouped(text, 4, value);
    } else if (text.size() == 23) {
        parsed = parse_grouped(text, 2, value);
    } else {
        std::string_view digits = text;
        if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
            digits.remove_prefix(2);
        }
        parsed = digits.size() == 16 && read_hex(digits, 0, 16, value);
    }
    if (!parsed) {
        return make_error(errc::bad_guid, "'" + std::string(text) +
                                              "' is not a node GUID; write it as 0002:c903:00a1:b2c3 "
                                              "(ibv_devinfo form), 0x0002c90300a1b2c3 or 00:02:c9:03:00:a1:b2:c3");
    }
    return Guid(value);
}

std::string Guid::to_string() const
{
    std::string out;
    out.reserve(19);
    for (int digit = 15; digit >= 0; --digit) {
        out.push_back(hex_digits[(value_ >> (digit * 4)) & 0xf]);
        if (digit % 4 == 0 && digit != 0) {
            out.push_back(':');
        }
    }
    return out;
}

Result<MdevUuid> MdevUuid::parse(std::string_view text)
{
    auto bad = [&] {
        return make_error(errc::bad_uuid, "'" + std::string(text) +
                                              "' is not a UUID; write it as 8-4-4-4-12 hex digits, "
                                              "e.g. 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001");
    };
    if (text.size() != uuid_text_length) {
        return bad();
    }
    std::array<std::uint8_t, 16> bytes{};
    std::size_t byte = 0;
    for (std::size_t pos = 0; pos < text.size();) {
        bool is_hyphen_position = false;
        for (std::size_t h : uuid_hyphen_positions) {
            is_hyphen_position = is_hyphen_position || h == pos;
        }
        if (is_hyphen_position) {
            if (text[pos] != '-') {
                return bad();
            }
            ++pos;
            continue;
        }
        const int high = hex_value(text[pos]);
        const int low = pos + 1 < text.size() ? hex_value(text[pos + 1]) : -1;
        if (high < 0 || low < 0 || byte >= bytes.size()) {
            return bad();
        }
        bytes[byte++] = static_cast<std::uint8_t>((high << 4) | low);
        pos += 2;
    }
    return MdevUuid(bytes);
}

MdevUuid MdevUuid::generate()
{
    std::random_device entropy;  // /dev/urandom (getrandom) on Linux with libstdc++
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < bytes.size(); i += 4) {
        const std::uint32_t word = entropy();
        for (std::size_t j = 0; j < 4; ++j) {
            bytes[i + j] = static_cast<std::uint8_t>(word >> (j * 8));
        }
    }
    constexpr std::uint8_t version_4 = 0x40;
    constexpr std::uint8_t rfc4122_variant = 0x80;
    bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0f) | version_4);
    bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3f) | rfc4122_variant);
    return MdevUuid(bytes);
}

std::string MdevUuid::to_string() const
{
    std::string out;
    out.reserve(uuid_text_length);
    for (std::size_t i = 0; i < bytes_.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out.push_back('-');
        }
        out.push_back(hex_digits[bytes_[i] >> 4]);
        out.push_back(hex_digits[bytes_[i] & 0xf]);
    }
    return out;
}

bool MdevUuid::is_nil() const
{
    for (std::uint8_t b : bytes_) {
        if (b != 0) {
            return false;
        }
    }
    return true;
}

Result<VmId> VmId::parse(std::string_view text)
{
    auto bad = [&](const std::string& why) {
        return make_error(errc::bad_vm_name, "VM name '" + std::string(text) + "' " + why +
                                                 "; use 1-64 printable characters without spaces or '/'");
    };
    if (text.empty() || text.size() > max_length) {
        return bad("has the wrong length");
    }
    if (text == "." || text == "..") {
        return bad("is a path component");
    }
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '/') {
            return bad("contains a forbidden character");
        }
    }
    return VmId(std::string(text));
}

std::string_view to_string(VmKind kind)
{
    switch (kind) {
    case VmKind::libvirt: return "libvirt";
    case VmKind::qemu: return "qemu";
    }
    return "unknown";
}

Result<VmKind> parse_vm_kind(std::string_view text)
{
    if (text == "libvirt") {
        return VmKind::libvirt;
    }
    if (text == "qemu") {
        return VmKind::qemu;
    }
    return make_error(errc::bad_vm_kind, "VM kind '" + std::string(text) + "' is unknown; use 'libvirt' or 'qemu'");
}

namespace {
constexpr std::pair<AssignmentState, std::string_view> state_names[] = {
    {AssignmentState::attaching_intent, "attaching_intent"},
    {AssignmentState::mdev_created, "mdev_created"},
    {AssignmentState::hotplugged, "hotplugged"},
    {AssignmentState::attached, "attached"},
    {AssignmentState::detaching, "detaching"},
    {AssignmentState::detached_mdev_present, "detached_mdev_present"},
    {AssignmentState::inactive, "inactive"},
    {AssignmentState::failed, "failed"},
    {AssignmentState::removed, "removed"},
};
}  // namespace

std::string_view to_string(AssignmentState state)
{
    for (const auto& [s, name] : state_names) {
        if (s == state) {
            return name;
        }
    }
    return "unknown";
}

Result<AssignmentState> parse_assignment_state(std::string_view text)
{
    for (const auto& [s, name] : state_names) {
        if (name == text) {
            return s;
        }
    }
    return make_error(errc::bad_state,
                      "assignment state '" + std::string(text) + "' is unknown (database newer than hyvd?)");
}

}  // namespace hyv
