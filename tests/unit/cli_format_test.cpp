// hyvctl's human output: column alignment and the rendering of each API result shape.
#include "hyvctl/format.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace hyv::cli {
namespace {

using nlohmann::json;

TEST(CliTable, AlignsColumnsWithoutTrailingSpaces)
{
    const auto table = render_table({"A", "LONG-HEADER", "C"}, {{"wide-cell", "x", "z"}, {"b", "", "last"}});
    EXPECT_EQ(table, "A          LONG-HEADER  C\n"
                     "wide-cell  x            z\n"
                     "b                       last\n");
}

TEST(CliTable, EmptyTableStillShowsTheHeader)
{
    EXPECT_EQ(render_table({"GUID", "IBDEV"}, {}), "GUID  IBDEV\n");
    const std::string no_devices = format_devices(json::array());
    EXPECT_EQ(no_devices.substr(0, 4), "GUID");
    EXPECT_EQ(std::count(no_devices.begin(), no_devices.end(), '\n'), 1);
}

TEST(CliTable, ShortRowsAreFilledWithDashes)
{
    EXPECT_EQ(render_table({"A", "B"}, {{"1"}}), "A  B\n1  -\n");
}

TEST(CliFormat, Devices)
{
    const json devices = json::parse(R"([
      {"guid":"0002:c903:00a1:b2c3","ibdev":"rxe0","driver":"rdma_rxe","ports":1,"link_layer":"Ethernet",
       "mdev_parent":"/sys/class/hyv/rxe0","mdev_type":"hyv-vrdma","present":true,"first_seen":1,"last_seen":2,
       "vanished_at":null,"assigned_to":["vm1","vm2"]},
      {"guid":"0002:c903:00a1:0001","ibdev":"mlx5_0","driver":"mlx5_core","ports":2,"link_layer":"InfiniBand",
       "mdev_parent":"","mdev_type":"","present":false,"first_seen":1,"last_seen":2,"vanished_at":3,
       "assigned_to":[]}])");
    EXPECT_EQ(format_devices(devices),
              "GUID                 IBDEV   DRIVER     LINK        PORTS  PRESENT  HYV  ASSIGNED-TO\n"
              "0002:c903:00a1:b2c3  rxe0    rdma_rxe   Ethernet    1      yes      yes  vm1,vm2\n"
              "0002:c903:00a1:0001  mlx5_0  mlx5_core  InfiniBand  2      gone     no   -\n");
}

TEST(CliFormat, VmsShowRunningStateAndTheRightEndpoint)
{
    const json vms = json::parse(R"([
      {"name":"vm1","kind":"qemu","uuid":"","qmp":"/run/vm1.qmp","created_at":1,"running":true,"assignments":1,
       "note":""},
      {"name":"dom2","kind":"libvirt","uuid":"u-2","qmp":"","created_at":1,"running":null,"assignments":0,
       "note":"libvirt unreachable"}])");
    EXPECT_EQ(format_vms(vms), "NAME  KIND     RUNNING  DEVICES  QMP/UUID      NOTE\n"
                               "vm1   qemu     yes      1        /run/vm1.qmp  -\n"
                               "dom2  libvirt  unknown  0        u-2           libvirt unreachable\n");
}

TEST(CliFormat, AssignmentsAndOperations)
{
    const json assignment = json::parse(R"({"vm":"vm1","guid":"0002:c903:00a1:b2c3",
      "mdev":"3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10","qdev_id":"hyv-3b5f","guest_pci_address":"0000:01:00.0",
      "state":"attached","persistent":false,"quota":{"qps":8,"cqs":16,"mrs":32,"pinned_bytes":1073741824},
      "identity":{"unisolated":false,"addresses":["10.0.0.5/24","fd00::5/64"],"mac":"52:54:00:12:34:56","vlan":7,
                  "link":"hyv3b5f1f6e"},
      "created_at":1,"updated_at":2,"last_error":"","op_id":"op-1"})");
    json shared = assignment;
    shared["identity"] = {{"unisolated", true}, {"addresses", json::array()}, {"mac", ""}, {"vlan", 0}, {"link", ""}};
    json older = assignment;
    older.erase("identity");
    const auto table = format_assignments(json::array({assignment, shared, older}));
    EXPECT_NE(table.find("10.0.0.5/24,fd00::5/64 vlan 7 on hyv3b5f1f6e"), std::string::npos) << table;
    EXPECT_NE(table.find("  unisolated  "), std::string::npos) << table;
    EXPECT_NE(table.find("vm1  0002:c903:00a1:b2c3  attached  3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10  0000:01:00.0  no"),
              std::string::npos)
        << table;
    EXPECT_NE(table.find("qps=8 cqs=16 mrs=32 pinned=1 GiB"), std::string::npos) << table;
    EXPECT_EQ(format_operation("attached", json{{"op_id", "op-1"}, {"assignment", assignment}}),
              "attached 0002:c903:00a1:b2c3 to vm1: state attached, mdev 3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10, "
              "guest PCI 0000:01:00.0, identity 10.0.0.5/24,fd00::5/64 vlan 7 on hyv3b5f1f6e (op op-1)\n");
}

TEST(CliFormat, StatusListsAssignmentsThatNeedAttention)
{
    const json status = json::parse(R"({"version":"0.1.0","devices_present":1,"devices_vanished":0,"vms":2,
      "assignments_by_state":{"attached":1,"failed":1},"needs_attention":[{"vm":"vm2","guid":"0002:c903:00a1:b2c3",
      "state":"failed","last_error":"device_add timed out"}],"last_event_id":42})");
    const auto text = format_status(status);
    EXPECT_NE(text.find("assignments:        attached=1 failed=1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("needs attention"), std::string::npos);
    EXPECT_NE(text.find("device_add timed out"), std::string::npos);
    const auto quiet = format_status(json{{"assignments_by_state", json::object()}});
    EXPECT_NE(quiet.find("assignments:        none"), std::string::npos);
    EXPECT_EQ(quiet.find("needs attention"), std::string::npos);
}

TEST(CliFormat, EventsAndReconcile)
{
    const json events = json::parse(R"([{"id":3,"time":0,"op_id":"op-9","vm":"vm1","guid":"",
      "mdev":"","kind":"vm.add","message":"qemu VM added"}])");
    EXPECT_EQ(format_events(events), "ID  TIME  OP    KIND    VM   GUID  MESSAGE\n"
                                     "3   -     op-9  vm.add  vm1  -     qemu VM added\n");
    EXPECT_EQ(format_reconcile(json{{"op_id", "op-2"}, {"actions", json::array()}}),
              "reconcile op op-2\n  nothing to do\n");
    EXPECT_EQ(format_reconcile(json{{"op_id", "op-3"}, {"notes", json::array({"libvirtd unreachable"})}}),
              "reconcile op op-3\n  nothing to do\n  note: libvirtd unreachable\n");
    const json foreign = json::array({"3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10"});
    EXPECT_EQ(format_reconcile(json{{"op_id", "op-4"}, {"foreign_mdevs", foreign}}),
              "reconcile op op-4\n  nothing to do\n  note: mdev 3b5f1f6e-8f39-4a53-9c1e-2b7d0c4a9e10 was not made by "
              "hyvd; left alone\n");
}

TEST(CliFormat, BytesInExactBinaryUnits)
{
    EXPECT_EQ(format_bytes(0), "0 B");
    EXPECT_EQ(format_bytes(1000), "1000 B");
    EXPECT_EQ(format_bytes(4096), "4 KiB");
    EXPECT_EQ(format_bytes(1ull << 30), "1 GiB");
    EXPECT_EQ(format_bytes((1ull << 40) * 3), "3 TiB");
}

TEST(CliFormat, MalformedResultsDoNotCrash)
{
    EXPECT_EQ(format_devices(json("oops")), "GUID  IBDEV  DRIVER  LINK  PORTS  PRESENT  HYV  ASSIGNED-TO\n");
    EXPECT_NO_THROW(format_vms(json::array({42, "x", nullptr})));
    EXPECT_NO_THROW(format_status(json::array()));
}

}  // namespace
}  // namespace hyv::cli
