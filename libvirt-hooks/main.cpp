// hyv-libvirt-hook: installed as /etc/libvirt/hooks/qemu.d/hyv (docs/libvirt.md). libvirt runs it as
//   qemu.d/hyv DOMAIN OPERATION SUB-OPERATION EXTRA   with the domain XML on stdin.
// Exit status 0 lets libvirt go on; non-zero refuses a start (prepare) or an incoming migration
// (migrate), and libvirt reports the one line written to stderr.
#include "hyvd/adapters/ibverbs_inventory.hpp"
#include "hyvd/adapters/sysfs_mdev.hpp"
#include "libvirt-hooks/hook.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <iterator>

int main(int argc, char** argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s DOMAIN OPERATION SUB-OPERATION [EXTRA] < domain.xml (run by libvirt)\n",
                     argc > 0 ? argv[0] : "hyv-libvirt-hook");
        return 2;
    }
    // Adapters log through spdlog: warnings and errors to stderr, nothing else.
    spdlog::set_default_logger(spdlog::stderr_logger_st("hyv-hook"));
    spdlog::set_level(spdlog::level::warn);
    spdlog::set_pattern("hyv: %v");

    hyv::hook::Request request{argv[1], argv[2], argv[3], {}};
    request.xml.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());

    const char* sysfs_root = "/sys";
    hyv::adapters::SysfsMdev mdevs(sysfs_root);
    const auto parent_of = [&](const hyv::Guid& guid) -> std::optional<hyv::hook::Parent> {
        auto parent = hyv::adapters::find_hyv_parent(sysfs_root, guid);
        if (!parent) {
            return std::nullopt;
        }
        return hyv::hook::Parent{parent->path, parent->type};
    };
    const auto outcome = hyv::hook::run(request, mdevs, parent_of);
    if (!outcome.message.empty()) {
        std::fprintf(stderr, "%s\n", outcome.message.c_str());
    }
    return outcome.exit_code;
}
