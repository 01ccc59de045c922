#include "qemu_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace hyv::qmp::testing {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(20);

// Ready means the monitor greets: the socket file appears at bind(), and QEMU may still drop
// connections it accepted during start-up. QEMU takes the next client once this probe hangs up.
bool monitor_greets(const std::string& socket_path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(address.sun_path)) {
        return false;
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    bool greeted = false;
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
        constexpr int kGreetingWaitMs = 1000;
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, kGreetingWaitMs) == 1) {
            char greeting[16] = {};
            greeted = ::read(fd, greeting, sizeof(greeting) - 1) > 0 && std::strstr(greeting, "QMP") != nullptr;
        }
    }
    ::close(fd);
    return greeted;
}

}  // namespace

std::string find_qemu_binary()
{
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const auto candidate = std::filesystem::path(dir) / "qemu-system-x86_64";
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
    }
    return {};
}

Result<std::unique_ptr<QemuProcess>> QemuProcess::start(const QemuOptions& options)
{
    const std::string binary = find_qemu_binary();
    if (binary.empty()) {
        return make_error("qemu-missing",
                          "qemu-system-x86_64 is not on PATH; install qemu-system-x86 (tools/bootstrap.sh)");
    }
    std::string dir_template = (std::filesystem::temp_directory_path() / "hyv-qemu-XXXXXX").string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
        return make_error("qemu-start", std::string("cannot create a temp dir: ") + std::strerror(errno));
    }
    std::unique_ptr<QemuProcess> qemu(new QemuProcess());
    qemu->directory_ = dir_template;
    qemu->qmp_socket_ = options.qmp_socket_path.empty() ? qemu->directory_ + "/qmp.sock" : options.qmp_socket_path;
    qemu->log_path_ = qemu->directory_ + "/qemu.log";

    std::vector<std::string> args = {binary,
                                     "-accel",
                                     "tcg",
                                     "-machine",
                                     "q35",
                                     "-nodefaults",
                                     "-display",
                                     "none",
                                     "-m",
                                     options.memory,
                                     "-no-user-config",
                                     "-qmp",
                                     "unix:" + qemu->qmp_socket_ + ",server=on,wait=off",
                                     "-serial",
                                     "file:" + qemu->console_path()};
    for (int port = 0; port < options.hotplug_root_ports; ++port) {
        args.push_back("-device");
        args.push_back("pcie-root-port,id=hp" + std::to_string(port) + ",chassis=" + std::to_string(port + 1) +
                       ",slot=" + std::to_string(port + 1));
    }
    if (options.start_paused) {
        args.push_back("-S");
    }
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());

    std::vector<char*> argv;
    for (auto& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);

    // A stale socket from an earlier QEMU would look like this one being ready.
    ::unlink(qemu->qmp_socket_.c_str());
    const int log_fd = ::open(qemu->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        return make_error("qemu-start", "cannot create " + qemu->log_path_ + ": " + std::strerror(errno));
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
        // If the test process dies without unwinding, QEMU must not outlive it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(1);
        }
        const int null_fd = ::open("/dev/null", O_RDONLY);
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(log_fd, STDOUT_FILENO);
        ::dup2(log_fd, STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(log_fd);
    if (pid < 0) {
        return make_error("qemu-start", std::string("fork failed: ") + std::strerror(errno));
    }
    qemu->pid_ = pid;

    const auto deadline = std::chrono::steady_clock::now() + options.startup_timeout;
    while (!monitor_greets(qemu->qmp_socket_)) {
        if (!qemu->running()) {
            return make_error("qemu-start", "QEMU exited during start-up: " + qemu->log());
        }
        if (std::chrono::steady_clock::now() > deadline) {
            return make_error("qemu-start", "QEMU did not create its QMP socket in time: " + qemu->log());
        }
        std::this_thread::sleep_for(kPollInterval);
    }
    return qemu;
}

QemuProcess::~QemuProcess()
{
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
}

std::string QemuProcess::console() const
{
    std::ifstream in(console_path());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string QemuProcess::log() const
{
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

bool QemuProcess::running()
{
    if (pid_ <= 0) {
        return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

bool QemuProcess::wait_for_exit(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(kPollInterval);
    }
    return true;
}

void QemuProcess::kill()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

Result<std::vector<std::string>> build_sleeping_guest(const std::string& directory, const std::string& ready_marker)
{
    namespace fs = std::filesystem;
    std::vector<fs::path> kernels;
    for (const auto& entry : fs::directory_iterator("/boot")) {
        if (entry.path().filename().string().rfind("vmlinuz-", 0) == 0) {
            kernels.push_back(entry.path());
        }
    }
    if (kernels.empty()) {
        return make_error("guest-kernel-missing", "no /boot/vmlinuz-*; install linux-image-amd64 (tools/bootstrap.sh)");
    }
    std::sort(kernels.begin(), kernels.end());
    if (::access("/bin/busybox", X_OK) != 0) {
        return make_error("busybox-missing", "/bin/busybox is missing; install busybox-static (tools/bootstrap.sh)");
    }
    const fs::path root = fs::path(directory) / "initramfs-root";
    fs::create_directories(root / "bin");
    fs::create_directories(root / "proc");
    fs::create_directories(root / "sys");
    fs::create_directories(root / "dev");
    fs::copy_file("/bin/busybox", root / "bin/busybox", fs::copy_options::overwrite_existing);
    {
        std::ofstream init(root / "init");
        init << "#!/bin/busybox sh\n"
                "/bin/busybox mount -t proc proc /proc\n"
                "/bin/busybox mount -t sysfs sysfs /sys\n"
                "/bin/busybox mount -t devtmpfs dev /dev\n"
                "echo "
             << ready_marker
             << " > /dev/ttyS0\n"
                "exec /bin/busybox sleep 1000000\n";
    }
    fs::permissions(root / "init", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                       fs::perms::others_read | fs::perms::others_exec);
    const std::string initramfs = (fs::path(directory) / "initramfs.cpio").string();
    const std::string command = "cd '" + root.string() + "' && find . | cpio -o -H newc --quiet > '" + initramfs + "'";
    if (std::system(command.c_str()) != 0) {
        return make_error("initramfs", "building the test initramfs failed (" + command + "); is cpio installed?");
    }
    // Inside the test host the guest is nested: its kernel and options are tools/vm.sh's (an ELF
    // vmlinux, none of the boot work that costs minutes under two levels of TCG).
    const char* kernel = std::getenv("HYV_GUEST_KERNEL");
    const char* options = std::getenv("HYV_GUEST_BOOT_OPTIONS");
    return std::vector<std::string>{"-kernel",
                                    kernel && *kernel ? std::string(kernel) : kernels.back().string(),
                                    "-initrd",
                                    initramfs,
                                    "-append",
                                    std::string("console=ttyS0 panic=-1 quiet") +
                                        (options && *options ? std::string(" ") + options : std::string())};
}

}  // namespace hyv::qmp::testing
