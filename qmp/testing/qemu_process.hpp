// A real QEMU for tests: started in a private temp dir, killed and reaped when the object dies.
#pragma once

#include <hyv/result.hpp>

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace hyv::qmp::testing {

struct QemuOptions {
    int hotplug_root_ports = 4;  // pcie-root-port devices hp0..hpN-1
    std::string memory = "128M";
    bool start_paused = false;  // -S: no firmware runs, so bridges keep secondary bus 0
    std::vector<std::string> extra_args;
    std::chrono::milliseconds startup_timeout{10000};
    // Default: qmp.sock in the process's temp dir. Set it to restart QEMU on the same socket.
    std::string qmp_socket_path;
};

class QemuProcess {
public:
    static Result<std::unique_ptr<QemuProcess>> start(const QemuOptions& options);
    ~QemuProcess();
    QemuProcess(const QemuProcess&) = delete;
    QemuProcess& operator=(const QemuProcess&) = delete;

    pid_t pid() const { return pid_; }
    const std::string& qmp_socket() const { return qmp_socket_; }
    const std::string& directory() const { return directory_; }
    // The guest's first serial port is written here.
    std::string console_path() const { return directory_ + "/console.log"; }
    std::string console() const;
    // QEMU's stdout+stderr so far (for failure messages).
    std::string log() const;
    bool running();
    // Waits for QEMU to exit on its own; returns false on timeout.
    bool wait_for_exit(std::chrono::milliseconds timeout);
    void kill();

private:
    QemuProcess() = default;

    pid_t pid_ = -1;
    std::string directory_;
    std::string qmp_socket_;
    std::string log_path_;
};

// The first qemu-system-x86_64 on PATH, or "" when QEMU is not installed.
std::string find_qemu_binary();

// A minimal Linux guest for tests that need a cooperating OS (PCIe hot-unplug acknowledgement):
// the host's newest /boot/vmlinuz-* and an initramfs with static busybox whose /init mounts
// /proc and /sys, prints `ready_marker` on ttyS0 and sleeps. Returns the QEMU arguments to boot it.
// HYV_GUEST_KERNEL and HYV_GUEST_BOOT_OPTIONS, when set, name another kernel and add kernel options.
Result<std::vector<std::string>> build_sleeping_guest(const std::string& directory, const std::string& ready_marker);

}  // namespace hyv::qmp::testing
