// Captures real QEMU output for the parser tests: run `ninja -C <build> capture-qmp-fixtures`
// after a QEMU upgrade and review the diff of tests/fixtures/.
#include <hyv/qmp/client.hpp>
#include <hyv/qmp/pci.hpp>

#include "qemu_process.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

namespace {

using hyv::qmp::Client;
using hyv::qmp::Json;
using hyv::qmp::testing::QemuOptions;
using hyv::qmp::testing::QemuProcess;

[[noreturn]] void fail(const std::string& what)
{
    std::cerr << "capture-qmp-fixtures: " << what << "\n";
    std::exit(1);
}

template <typename T>
T need(hyv::Result<T> result, const std::string& what)
{
    if (!result) {
        fail(what + ": " + result.error().message);
    }
    return std::move(*result);
}

void write(const std::filesystem::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary);
    out << text;
    if (!out) {
        fail("cannot write " + path.string());
    }
    std::cout << "wrote " << path.string() << "\n";
}

// SeaBIOS numbers the root ports' secondary buses; until then query-pci cannot see below them.
void wait_for_firmware_enumeration(Client& client)
{
    for (int attempt = 0; attempt < 200; ++attempt) {
        auto pci = need(client.execute("query-pci"), "query-pci");
        for (const auto& device : pci[0]["devices"]) {
            if (device.value("qdev_id", "") == "hp0" && device["pci_bridge"]["bus"].value("secondary", 0) != 0) {
                return;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    fail("firmware did not number the root ports' buses in 10 s");
}

}  // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        fail("usage: capture_qmp_fixtures FIXTURES_DIR");
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);

    QemuOptions options;
    options.hotplug_root_ports = 3;
    auto qemu = need(QemuProcess::start(options), "start QEMU");
    Client client({.socket_path = qemu->qmp_socket(), .label = "capture"});
    need(client.connect(), "connect");
    wait_for_firmware_enumeration(client);
    need(client.execute("device_add", {{"driver", "virtio-net-pci"}, {"id", "net0"}, {"bus", "hp0"}}),
         "device_add virtio-net-pci");
    need(client.execute("device_add", {{"driver", "pci-testdev"}, {"id", "test0"}, {"bus", "hp2"}}),
         "device_add pci-testdev");
    write(dir / "q35_128m.query_pci.json", need(client.execute("query-pci"), "query-pci").dump(2) + "\n");
    return 0;
}
