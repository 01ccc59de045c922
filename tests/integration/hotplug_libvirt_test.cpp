// hyvd's LibvirtHotplug adapter against a real libvirtd 9.0 that this test starts privately:
// its own mount namespace (tmpfs over /run, /var/lib, /var/cache, /var/log; its own /etc/libvirt),
// its socket in a temp dir. Nothing of the machine's libvirt setup is used or changed.
#include "hyvd/adapters/libvirt_hotplug.hpp"

#include <hyv/domain_xml.hpp>

#include "qmp_test_support.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <fstream>

namespace hyv::qmp::test {
namespace {

using adapters::LibvirtHotplug;

class PrivateLibvirtd {
public:
    explicit PrivateLibvirtd(const std::string& dir) : dir_(dir)
    {
        std::filesystem::create_directories(dir_ + "/etc");
        std::filesystem::create_directories(dir_ + "/sock");
        for (const auto& entry : std::filesystem::directory_iterator("/etc/libvirt")) {
            if (entry.is_regular_file()) {
                std::filesystem::copy_file(entry.path(), dir_ + "/etc/" + entry.path().filename().string());
            }
        }
        // The settings under which libvirtd runs QEMU without systemd, cgroups or a security driver.
        std::ofstream(dir_ + "/etc/qemu.conf") << "user = \"root\"\ngroup = \"root\"\nnamespaces = [ ]\n"
                                                  "security_driver = \"none\"\ncgroup_controllers = [ ]\n"
                                                  "stdio_handler = \"file\"\n";
        std::ofstream(dir_ + "/etc/libvirtd.conf", std::ios::trunc)
            << "unix_sock_dir = \"" << dir_ << "/sock\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n";
        std::ofstream(dir_ + "/run.sh")
            << "set -e\n"
               "mount --bind "
            << dir_
            << "/etc /etc/libvirt\n"
               "for d in /run /var/lib /var/cache /var/log; do mount -t tmpfs tmpfs $d; done\n"
               "exec /usr/sbin/libvirtd\n";
        const int log_fd = ::open((dir_ + "/libvirtd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) {
                ::_exit(1);
            }
            ::dup2(log_fd, STDOUT_FILENO);
            ::dup2(log_fd, STDERR_FILENO);
            const std::string script = dir_ + "/run.sh";
            ::execlp("unshare", "unshare", "--mount", "--propagation", "private", "sh", script.c_str(),
                     static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(log_fd);
    }

    ~PrivateLibvirtd()
    {
        // Domains first: QEMU would outlive a killed libvirtd.
        if (virConnectPtr connection = virConnectOpen(uri().c_str())) {
            virDomainPtr* domains = nullptr;
            const int count = virConnectListAllDomains(connection, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
            for (int i = 0; i < count; ++i) {
                virDomainDestroy(domains[i]);
                virDomainFree(domains[i]);
            }
            std::free(domains);
            virConnectClose(connection);
        }
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            for (int i = 0; i < 50 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
                std::this_thread::sleep_for(100ms);
            }
            if (::waitpid(pid_, &status, WNOHANG) == 0) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
            }
        }
    }
    PrivateLibvirtd(const PrivateLibvirtd&) = delete;
    PrivateLibvirtd& operator=(const PrivateLibvirtd&) = delete;

    std::string uri() const { return "qemu:///system?socket=" + dir_ + "/sock/libvirt-sock"; }
    std::string log() const
    {
        std::ifstream in(dir_ + "/libvirtd.log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

    bool wait_ready(std::chrono::milliseconds timeout) const
    {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            if (virConnectPtr connection = virConnectOpen(uri().c_str())) {
                virConnectClose(connection);
                return true;
            }
            std::this_thread::sleep_for(200ms);
        }
        return false;
    }

private:
    std::string dir_;
    pid_t pid_ = -1;
};

constexpr const char* kDomainName = "hyv-libvirt-test";
constexpr const char* kGuestReady = "HYV-LIBVIRT-GUEST-READY";

class LibvirtHotplugTest : public ::testing::Test {
protected:
    static void SetUpTestSuite()
    {
        virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
        dir_ = new ScopedTempDir("hyv-libvirt");
        libvirtd_ = new PrivateLibvirtd(dir_->path());
        ASSERT_TRUE(libvirtd_->wait_ready(30s)) << "private libvirtd did not come up:\n" << libvirtd_->log();
        auto guest = testing::build_sleeping_guest(dir_->path(), kGuestReady);
        ASSERT_TRUE(guest) << guest.error().message;
        const auto& args = *guest;  // -kernel K -initrd I -append A
        const std::string xml =
            fmt::format("<domain type='qemu'><name>{}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>"
                        "<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{}</kernel><initrd>{}</initrd>"
                        "<cmdline>{}</cmdline></os>"
                        // Without <acpi/> libvirt passes -no-acpi, and Linux then never takes over PCIe hot-plug.
                        "<features><acpi/><apic/></features><devices><emulator>{}</emulator>"
                        "<controller type='pci' model='pcie-root'/>"
                        "<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>"
                        "<serial type='file'><source path='{}/console.log'/><target port='0'/></serial>"
                        "<memballoon model='none'/></devices></domain>",
                        kDomainName, args[1], args[3], args[5], testing::find_qemu_binary(), dir_->path());
        virConnectPtr connection = virConnectOpen(libvirtd_->uri().c_str());
        ASSERT_NE(connection, nullptr);
        virDomainPtr domain = virDomainCreateXML(connection, xml.c_str(), 0);
        ASSERT_NE(domain, nullptr) << virGetLastErrorMessage() << "\n" << libvirtd_->log();
        virDomainFree(domain);
        virConnectClose(connection);
    }

    static void TearDownTestSuite()
    {
        delete libvirtd_;
        libvirtd_ = nullptr;
        delete dir_;
        dir_ = nullptr;
    }

    static core::VmRecord vm(const std::string& name = kDomainName)
    {
        core::VmRecord record;
        record.name = *VmId::parse(name);
        record.kind = VmKind::libvirt;
        return record;
    }

    static bool wait_for_guest(std::chrono::milliseconds timeout)
    {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            std::ifstream console(dir_->path() + "/console.log");
            if (std::string(std::istreambuf_iterator<char>(console), {}).find(kGuestReady) != std::string::npos) {
                return true;
            }
            std::this_thread::sleep_for(200ms);
        }
        return false;
    }

    LibvirtHotplug hotplug{{.uri = libvirtd_->uri()}};

    static ScopedTempDir* dir_;
    static PrivateLibvirtd* libvirtd_;
};

ScopedTempDir* LibvirtHotplugTest::dir_ = nullptr;
PrivateLibvirtd* LibvirtHotplugTest::libvirtd_ = nullptr;

TEST_F(LibvirtHotplugTest, TellsRunningDomainsFromUnknownOnes)
{
    auto running = hotplug.is_running(vm());
    ASSERT_TRUE(running) << running.error().message;
    EXPECT_TRUE(*running);
    auto unknown = hotplug.is_running(vm("no-such-domain"));
    ASSERT_TRUE(unknown) << unknown.error().message;
    EXPECT_FALSE(*unknown);
}

TEST_F(LibvirtHotplugTest, AttachOfAnAbsentMdevFailsWithLibvirtsReason)
{
    const auto mdev = *MdevUuid::parse("7d3c2b1a-0f9e-4d8c-b7a6-112233445566");
    auto added = hotplug.hot_add(vm(), mdev, "hyv-" + mdev.to_string());
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().code, "libvirt-attach-failed");
    EXPECT_NE(added.error().message.find(mdev.to_string()), std::string::npos) << added.error().message;
    auto listed = hotplug.list_hyv_devices(vm());
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_TRUE(listed->empty());
}

TEST_F(LibvirtHotplugTest, DetachOfAnAbsentDeviceSucceeds)
{
    auto removed = hotplug.hot_remove(vm(), "hyv-never-attached", 1s);
    EXPECT_TRUE(removed) << removed.error().message;
}

TEST_F(LibvirtHotplugTest, DetachWaitsForTheGuestAndTheDeviceRemovedEvent)
{
    ASSERT_TRUE(wait_for_guest(180s)) << "guest did not boot";
    virConnectPtr connection = virConnectOpen(libvirtd_->uri().c_str());
    ASSERT_NE(connection, nullptr);
    virDomainPtr domain = virDomainLookupByName(connection, kDomainName);
    ASSERT_NE(domain, nullptr);
    // vfio needs a live mdev, so a virtio-rng stands in: same PCIe hot-plug path, same alias scheme.
    const std::string rng = "<rng model='virtio'><backend model='random'>/dev/urandom</backend>"
                            "<alias name='" +
                            domain_xml::alias_for("hyv-probe") + "'/></rng>";
    const int attached = virDomainAttachDeviceFlags(domain, rng.c_str(), VIR_DOMAIN_AFFECT_LIVE);
    char* xml_with = virDomainGetXMLDesc(domain, 0);
    const std::string with(xml_with != nullptr ? xml_with : "");
    std::free(xml_with);
    virDomainFree(domain);
    virConnectClose(connection);
    ASSERT_EQ(attached, 0) << virGetLastErrorMessage();
    auto has = domain_xml::has_device_alias(with, "ua-hyv-probe");
    ASSERT_TRUE(has);
    ASSERT_TRUE(*has);

    auto removed = hotplug.hot_remove(vm(), "hyv-probe", 60s);
    ASSERT_TRUE(removed) << removed.error().message;

    connection = virConnectOpen(libvirtd_->uri().c_str());
    domain = virDomainLookupByName(connection, kDomainName);
    char* xml_after = virDomainGetXMLDesc(domain, 0);
    auto still = domain_xml::has_device_alias(xml_after, "ua-hyv-probe");
    std::free(xml_after);
    virDomainFree(domain);
    virConnectClose(connection);
    ASSERT_TRUE(still);
    EXPECT_FALSE(*still);
}

}  // namespace
}  // namespace hyv::qmp::test
