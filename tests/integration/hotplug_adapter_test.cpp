// hyvd's QmpHotplug adapter (core::Hypervisor for raw QEMU) against real QEMU 7.2 processes.
#include "hyvd/adapters/qmp_hotplug.hpp"

#include <hyv/qmp/pci.hpp>

#include "qmp_test_support.hpp"

#include <atomic>
#include <thread>

namespace hyv::qmp::test {
namespace {

using adapters::QmpHotplug;

core::VmRecord vm_record(const std::string& name, const std::string& socket)
{
    core::VmRecord vm;
    vm.name = *VmId::parse(name);
    vm.kind = VmKind::qemu;
    vm.qmp_socket = socket;
    return vm;
}

TEST(QmpHotplugAdapter, ReportsRunningPausedAndAbsentVms)
{
    QemuOptions options;
    options.hotplug_root_ports = 1;
    options.start_paused = true;
    auto qemu = start_qemu(options);
    ASSERT_NE(qemu, nullptr);
    QmpHotplug hotplug;
    const auto vm = vm_record("vm1", qemu->qmp_socket());
    auto paused = hotplug.is_running(vm);
    ASSERT_TRUE(paused) << paused.error().message;
    EXPECT_TRUE(*paused);

    auto absent = hotplug.is_running(vm_record("gone", qemu->directory() + "/nobody.sock"));
    ASSERT_TRUE(absent) << absent.error().message;
    EXPECT_FALSE(*absent);

    // The adapter let go of the socket: QEMU takes one client at a time, and this one gets in.
    Client operator_client(client_options(*qemu));
    ASSERT_TRUE(operator_client.connect());
    ASSERT_TRUE(operator_client.execute("quit"));
    ASSERT_TRUE(qemu->wait_for_exit(5s));
    auto after_quit = hotplug.is_running(vm);
    ASSERT_TRUE(after_quit) << after_quit.error().message;
    EXPECT_FALSE(*after_quit);
}

TEST(QmpHotplugAdapter, AHoldLendsOneConnectionToThisThreadUntilItEnds)
{
    auto qemu = start_qemu();
    ASSERT_NE(qemu, nullptr);
    QmpHotplug hotplug;
    const auto vm = vm_record("vm6", qemu->qmp_socket());
    auto held = hotplug.hold(vm);
    ASSERT_NE(held, nullptr);
    EXPECT_EQ(hotplug.hold(vm), nullptr) << "a second hold by the same thread must borrow, not nest";
    // These calls borrow the held connection: one of their own would wait for the socket forever.
    for (int call = 0; call < 3; ++call) {
        auto running = hotplug.is_running(vm);
        ASSERT_TRUE(running) << running.error().message;
        EXPECT_TRUE(*running);
    }
    // Another thread's call waits until the hold ends.
    std::atomic<bool> other_done = false;
    std::thread other([&] {
        (void)hotplug.is_running(vm);
        other_done = true;
    });
    std::this_thread::sleep_for(500ms);
    EXPECT_FALSE(other_done);
    held.reset();
    other.join();
    EXPECT_TRUE(other_done);
    // Nothing is kept once the hold has ended: an operator's client gets in.
    Client operator_client(client_options(*qemu));
    auto connected = operator_client.connect();
    EXPECT_TRUE(connected) << connected.error().message;
}

TEST(QmpHotplugAdapter, VmWithoutSocketIsAnErrorNamingTheFix)
{
    QmpHotplug hotplug;
    auto running = hotplug.is_running(vm_record("nosock", ""));
    ASSERT_FALSE(running);
    EXPECT_EQ(running.error().code, "vm-no-qmp-socket");
}

TEST(QmpHotplugAdapter, HotAddOfAnAbsentMdevFailsWithQemusReasonAndListsNothing)
{
    QemuOptions options;
    options.hotplug_root_ports = 2;
    auto qemu = start_qemu(options);
    ASSERT_NE(qemu, nullptr);
    QmpHotplug hotplug;
    const auto vm = vm_record("vm2", qemu->qmp_socket());
    const auto mdev = *MdevUuid::parse("5f0c1a8e-2b7d-4c59-8f3e-0a1b2c3d4e5f");
    auto added = hotplug.hot_add(vm, mdev, "hyv-" + mdev.to_string());
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().code, "qmp-GenericError");
    EXPECT_NE(added.error().message.find("VM vm2"), std::string::npos) << added.error().message;
    EXPECT_NE(added.error().message.find(mdev.to_string()), std::string::npos) << added.error().message;

    auto listed = hotplug.list_hyv_devices(vm);
    ASSERT_TRUE(listed) << listed.error().message;
    EXPECT_TRUE(listed->empty());
}

TEST(QmpHotplugAdapter, HotAddRefusesAnIdHeldByAnotherDevice)
{
    QemuOptions options;
    options.hotplug_root_ports = 2;
    auto qemu = start_qemu(options);
    ASSERT_NE(qemu, nullptr);
    const auto mdev = *MdevUuid::parse("1e2d3c4b-5a69-4788-9a0b-c1d2e3f40516");
    const std::string qdev_id = qdev_id_for_mdev(mdev.to_string());
    {
        Client client(client_options(*qemu));
        ASSERT_TRUE(client.connect());
        ASSERT_TRUE(plug_device(client, {{"driver", "pci-testdev"}, {"id", qdev_id}}));
    }
    QmpHotplug hotplug;
    auto added = hotplug.hot_add(vm_record("vm5", qemu->qmp_socket()), mdev, qdev_id);
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().code, "qdev-id-in-use");
    // That device is no hyv function: looking the assignment up finds nothing, and is no error.
    auto found = hotplug.find_hyv_device(vm_record("vm5", qemu->qmp_socket()), mdev, qdev_id);
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_FALSE(found->has_value());
}

TEST(QmpHotplugAdapter, HotRemoveOfAnAbsentDeviceSucceeds)
{
    auto qemu = start_qemu();
    ASSERT_NE(qemu, nullptr);
    QmpHotplug hotplug;
    auto removed = hotplug.hot_remove(vm_record("vm3", qemu->qmp_socket()), "hyv-never-added", 1s);
    EXPECT_TRUE(removed) << removed.error().message;
}

TEST(QmpHotplugAdapter, HotRemoveWithoutGuestCooperationTimesOutThenSucceedsOnceReleased)
{
    QemuOptions options;
    options.hotplug_root_ports = 1;
    options.memory = "256M";
    ScopedTempDir dir("hyv-adapter-guest");
    const std::string marker = "HYV-ADAPTER-GUEST-READY";
    auto guest = testing::build_sleeping_guest(dir.path(), marker);
    ASSERT_TRUE(guest) << guest.error().message;
    options.extra_args = *guest;
    // Cold-plugged on the hot-pluggable port: the guest's ACPI hot-plug (q35's default in QEMU 7.2) owns
    // the slot once booted. (A device_del sent before the guest's ACPI is up may go unanswered until
    // the retry; that is a guest-boot race, not what this test is about.)
    options.extra_args.insert(options.extra_args.end(), {"-device", "pci-testdev,id=hyv-test,bus=hp0"});
    auto qemu = start_qemu(options);
    ASSERT_NE(qemu, nullptr);
    const auto vm = vm_record("vm4", qemu->qmp_socket());
    ASSERT_TRUE(wait_for_console(*qemu, marker, 120s)) << qemu->console();
    {
        Client client(client_options(*qemu));
        auto connected = client.connect();
        ASSERT_TRUE(connected) << connected.error().message << "\nQEMU log:\n" << qemu->log();
        ASSERT_TRUE(client.execute("stop"));
    }
    QmpHotplug hotplug;
    // Paused guest: nobody acknowledges the unplug.
    auto pending = hotplug.hot_remove(vm, "hyv-test", 1500ms);
    ASSERT_FALSE(pending);
    EXPECT_EQ(pending.error().code, "hot-remove-timeout");
    EXPECT_NE(pending.error().message.find("retry"), std::string::npos);
    {
        Client client(client_options(*qemu));
        ASSERT_TRUE(client.connect());
        ASSERT_TRUE(client.execute("cont"));
    }
    // The retry finds the request still pending (or already done) and waits for the guest.
    auto retried = hotplug.hot_remove(vm, "hyv-test", 60s);
    ASSERT_TRUE(retried) << retried.error().message;
    Client client(client_options(*qemu));
    ASSERT_TRUE(client.connect());
    auto exists = device_exists(client, "hyv-test");
    ASSERT_TRUE(exists);
    EXPECT_FALSE(*exists);
}

}  // namespace
}  // namespace hyv::qmp::test
