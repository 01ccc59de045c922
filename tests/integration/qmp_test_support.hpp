// Shared by the qmp_* and hotplug_* integration tests: real QEMU processes and small waits.
#pragma once

#include <hyv/qmp/client.hpp>

#include "qemu_process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

namespace hyv::qmp::test {

using testing::QemuOptions;
using testing::QemuProcess;
using namespace std::chrono_literals;

// A directory removed with everything in it when the test ends. Declare it before the QemuProcess
// that reads files from it: QEMU loads -kernel/-initrd lazily, at its first machine reset.
class ScopedTempDir {
public:
    explicit ScopedTempDir(const std::string& name)
        : path_(::testing::TempDir() + name + "-" + std::to_string(::getpid()))
    {
        std::filesystem::create_directories(path_);
    }
    ~ScopedTempDir()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScopedTempDir(const ScopedTempDir&) = delete;
    ScopedTempDir& operator=(const ScopedTempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline std::unique_ptr<QemuProcess> start_qemu(const QemuOptions& options = {})
{
    auto qemu = QemuProcess::start(options);
    if (!qemu) {
        ADD_FAILURE() << qemu.error().code << ": " << qemu.error().message;
        return nullptr;
    }
    return std::move(*qemu);
}

inline ClientOptions client_options(const QemuProcess& qemu)
{
    ClientOptions options;
    options.socket_path = qemu.qmp_socket();
    options.label = "test";
    options.command_timeout = 10s;
    return options;
}

// SeaBIOS numbers the root ports' secondary buses; query-pci sees below a port only after that.
inline bool wait_for_firmware_enumeration(Client& client, std::chrono::milliseconds timeout = 20s)
{
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        auto pci = client.execute("query-pci");
        if (!pci) {
            return false;
        }
        bool all_numbered = true;
        bool any_bridge = false;
        for (const auto& device : (*pci)[0]["devices"]) {
            if (device.contains("pci_bridge")) {
                any_bridge = true;
                all_numbered = all_numbered && device["pci_bridge"]["bus"].value("secondary", 0) != 0;
            }
        }
        if (any_bridge && all_numbered) {
            return true;
        }
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

inline bool wait_for_console(const QemuProcess& qemu, const std::string& marker, std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (qemu.console().find(marker) != std::string::npos) {
            return true;
        }
        std::this_thread::sleep_for(100ms);
    }
    return false;
}

}  // namespace hyv::qmp::test
