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
    int hotplug_root_ports = 4;      // pcie-root-port devices hp0..hpN-1
    std::string memory = "128M";
    bool start_paused = false;       // -S: no firmware runs, so bridges keep secondary bus 0
    std::vector<std::string> extra_args;
    std::chrono::milliseconds startup_timeout{10000};
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

}  // namespace hyv::qmp::testing
