#include <hyv/qmp/guest_memory.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <regex>
#include <sstream>

namespace hyv::qmp {

namespace {

constexpr std::string_view kSystemAddressSpace = "memory";

std::vector<std::string_view> split_lines(std::string_view text)
{
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        auto end = text.find('\n');
        auto line = text.substr(0, end);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        lines.push_back(line);
        if (end == std::string_view::npos) {
            break;
        }
        text.remove_prefix(end + 1);
    }
    return lines;
}

std::optional<std::uint64_t> parse_hex(std::string_view text)
{
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text.remove_prefix(2);
    }
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
        return std::nullopt;
    }
    return value;
}

// "4 KiB" -> 4096; QEMU prints page sizes with size_to_str().
std::optional<std::uint64_t> parse_size(std::string_view number, std::string_view unit)
{
    static constexpr std::pair<std::string_view, unsigned> kUnits[] = {
        {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
    double value = 0;
    std::istringstream in{std::string(number)};
    if (!(in >> value)) {
        return std::nullopt;
    }
    for (const auto& [name, shift] : kUnits) {
        if (unit == name) {
            return static_cast<std::uint64_t>(value * static_cast<double>(std::uint64_t{1} << shift));
        }
    }
    return std::nullopt;
}

std::string_view trim(std::string_view text)
{
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

Error parse_error(std::string_view what, std::string_view line)
{
    return make_error("qmp-parse", fmt::format("cannot parse {} line '{:.120}'; QEMU's output format changed "
                                               "(this parser knows QEMU 7.2)",
                                               what, line));
}

}  // namespace

bool FlatRange::is_ram() const
{
    return kind == "ram" || kind.rfind("ram,", 0) == 0;
}

Result<std::vector<RamBlock>> parse_info_ramblock(std::string_view text)
{
    std::vector<RamBlock> blocks;
    bool seen_header = false;
    for (auto line : split_lines(text)) {
        if (trim(line).empty()) {
            continue;
        }
        if (!seen_header) {
            if (line.find("Block Name") == std::string_view::npos) {
                return parse_error("info ramblock header", line);
            }
            seen_header = true;
            continue;
        }
        // Columns are right-aligned and the name may be long, so read from the right:
        // <name> <psize number> <psize unit> <offset> <used> <total>
        std::vector<std::string_view> tokens;
        std::string_view rest = trim(line);
        constexpr int kNumericColumns = 5;
        for (int i = 0; i < kNumericColumns; ++i) {
            const auto space = rest.find_last_of(' ');
            if (space == std::string_view::npos) {
                return parse_error("info ramblock", line);
            }
            tokens.push_back(rest.substr(space + 1));
            rest = trim(rest.substr(0, space));
        }
        auto total = parse_hex(tokens[0]);
        auto used = parse_hex(tokens[1]);
        auto offset = parse_hex(tokens[2]);
        auto page_size = parse_size(tokens[4], tokens[3]);
        if (!total || !used || !offset || !page_size || rest.empty()) {
            return parse_error("info ramblock", line);
        }
        blocks.push_back({std::string(rest), *page_size, *offset, *used, *total});
    }
    if (!seen_header) {
        return make_error("qmp-parse", "info ramblock printed nothing; is this a QEMU with RAM?");
    }
    return blocks;
}

Result<std::vector<FlatView>> parse_info_mtree_flat(std::string_view text)
{
    static const std::regex kRange(
        R"(^\s+([0-9a-fA-F]+)-([0-9a-fA-F]+) \(prio (-?\d+), ([^)]*)\): (.*)$)");
    static const std::regex kOffsetSuffix(R"(^(.*) @([0-9a-fA-F]+)(.*)$)");
    static const std::regex kAddressSpace(R"delim(^\s*AS "(.*)", root: .*$)delim");
    constexpr std::string_view kViewHeader = "FlatView #";
    constexpr std::string_view kRootHeader = "Root memory region: ";

    std::vector<FlatView> views;
    for (auto line_view : split_lines(text)) {
        const std::string line(line_view);
        const auto trimmed = trim(line_view);
        if (trimmed.empty()) {
            continue;
        }
        if (trimmed.rfind(kViewHeader, 0) == 0) {
            views.emplace_back();
            continue;
        }
        if (views.empty()) {
            return parse_error("info mtree -f", line_view);
        }
        FlatView& view = views.back();
        std::smatch match;
        if (std::regex_match(line, match, kAddressSpace)) {
            view.address_spaces.push_back(match[1]);
        } else if (trimmed.rfind(kRootHeader, 0) == 0) {
            view.root = std::string(trimmed.substr(kRootHeader.size()));
        } else if (std::regex_match(line, match, kRange)) {
            FlatRange range;
            auto first = parse_hex(match[1].str());
            auto last = parse_hex(match[2].str());
            if (!first || !last || *last < *first) {
                return parse_error("info mtree -f", line_view);
            }
            range.first = *first;
            range.last = *last;
            range.priority = std::stoi(match[3]);
            range.kind = match[4];
            std::string name = match[5];
            std::smatch offset_match;
            if (std::regex_match(name, offset_match, kOffsetSuffix)) {
                range.region_offset = parse_hex(offset_match[2].str()).value_or(0);
                name = offset_match[1];
            }
            range.region = std::string(trim(name));
            view.ranges.push_back(std::move(range));
        } else if (trimmed == "No rendered FlatView") {
            continue;
        } else {
            return parse_error("info mtree -f", line_view);
        }
    }
    if (views.empty()) {
        return make_error("qmp-parse", "info mtree -f printed no flat views");
    }
    return views;
}

Result<std::uint64_t> parse_gpa2hva(std::string_view text)
{
    // "Host virtual address for 0x100000 (pc.ram) is 0x7fb5a3f00000"
    static const std::regex kAnswer(R"(Host virtual address for \S+ \(.*\) is (0x[0-9a-fA-F]+))");
    const std::string line(trim(split_lines(text).empty() ? text : split_lines(text).front()));
    std::smatch match;
    if (std::regex_search(line, match, kAnswer)) {
        if (auto address = parse_hex(match[1].str())) {
            return *address;
        }
    }
    if (line.find("No memory is mapped") != std::string::npos) {
        return make_error("qmp-gpa-unmapped", "QEMU: " + line);
    }
    return parse_error("gpa2hva", line);
}

Result<std::vector<GuestRamRange>> guest_ram_ranges(const std::vector<FlatView>& views,
                                                    const std::vector<RamBlock>& blocks)
{
    auto system = std::find_if(views.begin(), views.end(), [](const FlatView& view) {
        return std::find(view.address_spaces.begin(), view.address_spaces.end(), kSystemAddressSpace) !=
               view.address_spaces.end();
    });
    if (system == views.end()) {
        return make_error("qmp-parse", "info mtree -f has no flat view for address space \"memory\"");
    }
    std::vector<GuestRamRange> ranges;
    for (const auto& range : system->ranges) {
        if (!range.is_ram()) {
            continue;
        }
        GuestRamRange ram{range.first, range.size(), range.region, "", range.region_offset, std::nullopt};
        // Device-owned blocks carry their device path in front: "<pci addr>/<region name>".
        for (const auto& block : blocks) {
            const bool exact = block.name == range.region;
            const bool device_owned = block.name.size() > range.region.size() &&
                                      block.name.compare(block.name.size() - range.region.size(),
                                                         range.region.size(), range.region) == 0 &&
                                      block.name[block.name.size() - range.region.size() - 1] == '/';
            if (exact || device_owned) {
                ram.ram_block = block.name;
                break;
            }
        }
        ranges.push_back(std::move(ram));
    }
    return ranges;
}

Result<std::vector<GuestRamRange>> discover_guest_ram(Client& client)
{
    auto mtree_text = client.human_monitor_command("info mtree -f");
    if (!mtree_text) {
        return mtree_text.error();
    }
    auto ramblock_text = client.human_monitor_command("info ramblock");
    if (!ramblock_text) {
        return ramblock_text.error();
    }
    auto views = parse_info_mtree_flat(*mtree_text);
    if (!views) {
        return views.error();
    }
    auto blocks = parse_info_ramblock(*ramblock_text);
    if (!blocks) {
        return blocks.error();
    }
    auto ranges = guest_ram_ranges(*views, *blocks);
    if (!ranges) {
        return ranges.error();
    }
    for (auto& range : *ranges) {
        auto answer = client.human_monitor_command(fmt::format("gpa2hva 0x{:x}", range.guest_physical));
        if (!answer) {
            return answer.error();
        }
        auto address = parse_gpa2hva(*answer);
        if (!address) {
            return address.error();
        }
        range.host_virtual = *address;
    }
    return ranges;
}

}  // namespace hyv::qmp
