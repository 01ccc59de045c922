#include "core_fakes.hpp"
#include "hyvd/adapters/sqlite_store.hpp"
#include "store_test_support.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

namespace hyv::test {
namespace {

using adapters::SqliteStore;
using adapters::SqliteStoreOptions;

// Runs SQL on the file with a plain connection (the store must be closed).
std::string raw_exec(const std::string& path, const std::string& sql)
{
    sqlite3* raw = nullptr;
    sqlite3_open(path.c_str(), &raw);
    char* message = nullptr;
    std::string error;
    if (sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        error = message ? message : "error";
    }
    sqlite3_free(message);
    sqlite3_close(raw);
    return error;
}

int raw_user_version(const std::string& path)
{
    sqlite3* raw = nullptr;
    sqlite3_open(path.c_str(), &raw);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &stmt, nullptr);
    sqlite3_step(stmt);
    const int version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
    return version;
}

// sample_device() as a hyvd before schema 4 wrote it (this binary's upsert_device writes netdev).
std::string old_device_insert()
{
    const auto d = sample_device();
    return "INSERT INTO host_devices (guid, ibdev, driver, ports, link_layer, mdev_parent, mdev_type, first_seen, "
           "last_seen) VALUES ('" +
           d.guid.to_string() + "', '" + d.ibdev + "', '" + d.driver + "', 1, 'Ethernet', '" + d.mdev_parent + "', '" +
           d.mdev_type + "', 10, 10)";
}

TEST(SchemaMigrations, EmptyDatabaseGetsTheLatestSchema)
{
    TempDir dir;
    const std::string path = (dir.path() / "hyvd.db").string();
    auto store = SqliteStore::open(path);
    ASSERT_TRUE(store.ok()) << store.error().message;
    EXPECT_GE(SqliteStore::latest_schema_version(), 2);
    EXPECT_EQ(*(*store)->schema_version(), SqliteStore::latest_schema_version());
    store->reset();
    EXPECT_EQ(raw_user_version(path), SqliteStore::latest_schema_version());
    EXPECT_EQ(raw_exec(path, "SELECT guid, mdev_type, vanished_at FROM host_devices; "
                             "SELECT observed_state, observed_at FROM vms; "
                             "SELECT mdev_uuid, quota_pinned_bytes, last_error FROM assignments; "
                             "SELECT id, op_id, kind FROM events; "
                             "SELECT mdev_uuid, guid, created_at, op_id FROM hyvd_mdevs; "
                             "SELECT netdev FROM host_devices; SELECT address, prefix FROM assignment_addresses; "
                             "SELECT name, parent, mdev_uuid FROM hyvd_links"),
              "");
}

TEST(SchemaMigrations, UpgradesAVersion1DatabaseKeepingItsRows)
{
    TempDir dir;
    const std::string path = (dir.path() / "hyvd.db").string();
    {
        auto v1 = SqliteStore::open(path, SqliteStoreOptions{.migrate_to = 1});
        ASSERT_TRUE(v1.ok()) << v1.error().message;
        EXPECT_EQ(*(*v1)->schema_version(), 1);
        // Version 1 has no observed_state column yet; write what a version-1 hyvd could.
        EXPECT_TRUE((*v1)->append_event(core::Event{0, 10, "op-v1", "", "", "", "test", "written by v1"}).ok());
    }
    EXPECT_EQ(raw_exec(path, old_device_insert()), "");
    EXPECT_EQ(raw_exec(path, "INSERT INTO vms (name, kind, qmp_socket, created_at) VALUES ('old', 'qemu', '/q', 1)"),
              "");
    EXPECT_NE(raw_exec(path, "SELECT observed_state FROM vms"), "") << "version 1 must not have the column";

    auto latest = SqliteStore::open(path);
    ASSERT_TRUE(latest.ok()) << latest.error().message;
    EXPECT_EQ(*(*latest)->schema_version(), SqliteStore::latest_schema_version());
    auto vm = (*latest)->vm(VmId::parse("old").value());
    ASSERT_TRUE(vm.ok() && vm->has_value());
    EXPECT_EQ((*vm)->observed_state, "unknown");
    EXPECT_TRUE((*(*latest)->device(sample_device().guid)).has_value());
    EXPECT_EQ((*(*latest)->events(0, 10)).at(0).message, "written by v1");
}

TEST(SchemaMigrations, Version3CountsTheMdevsOfExistingAssignmentsAsHyvds)
{
    TempDir dir;
    const std::string path = (dir.path() / "hyvd.db").string();
    core::Assignment a;
    {
        auto v2 = SqliteStore::open(path, SqliteStoreOptions{.migrate_to = 2});
        ASSERT_TRUE(v2.ok()) << v2.error().message;
        ASSERT_EQ(raw_exec(path, old_device_insert()), "");
        ASSERT_TRUE((*v2)->insert_vm(sample_vm()).ok());
        a = sample_assignment(sample_vm(), sample_device());
    }
    // What a version-2 hyvd wrote (this binary's insert_assignment writes version-4 columns).
    EXPECT_EQ(raw_exec(path, "INSERT INTO assignments (vm, guid, mdev_uuid, qdev_id, state, persistent, quota_qps, "
                             "quota_cqs, quota_mrs, quota_pinned_bytes, created_at, updated_at, op_id) VALUES ('" +
                                 a.vm.str() + "', '" + a.guid.to_string() + "', '" + a.mdev.to_string() + "', '" +
                                 a.qdev_id + "', 'attached', 0, 1, 1, 1, 1, 1, 1, 'op-v2')"),
              "");
    EXPECT_NE(raw_exec(path, "SELECT mdev_uuid FROM hyvd_mdevs"), "") << "version 2 must not have the table";
    auto latest = SqliteStore::open(path);
    ASSERT_TRUE(latest.ok()) << latest.error().message;
    EXPECT_EQ(*(*latest)->owned_mdevs(), std::vector<MdevUuid>{a.mdev});
}

TEST(SchemaMigrations, Version4KeepsExistingAssignmentsUnisolatedAndMakesAddressesUnique)
{
    TempDir dir;
    const std::string path = (dir.path() / "hyvd.db").string();
    core::Assignment old;
    {
        auto v3 = SqliteStore::open(path, SqliteStoreOptions{.migrate_to = 3});
        ASSERT_TRUE(v3.ok()) << v3.error().message;
        ASSERT_EQ(raw_exec(path, old_device_insert()), "");
        ASSERT_TRUE((*v3)->insert_vm(sample_vm()).ok());
        ASSERT_TRUE((*v3)->insert_vm(sample_vm("vm2")).ok());
        old = sample_assignment(sample_vm(), sample_device());
    }
    EXPECT_EQ(
        raw_exec(path, "INSERT INTO assignments (vm, guid, mdev_uuid, qdev_id, state, persistent, quota_qps, "
                       "quota_cqs, quota_mrs, quota_pinned_bytes, created_at, updated_at, op_id) VALUES ('vm1', '" +
                           old.guid.to_string() + "', '" + old.mdev.to_string() + "', '" + old.qdev_id +
                           "', 'attached', 0, 1, 1, 1, 1, 1, 1, 'op-v3')"),
        "");
    auto latest = SqliteStore::open(path);
    ASSERT_TRUE(latest.ok()) << latest.error().message;
    auto upgraded = (*latest)->assignment(old.vm, old.guid);
    ASSERT_TRUE(upgraded.ok() && upgraded->has_value()) << (upgraded.ok() ? "no row" : upgraded.error().message);
    EXPECT_TRUE((*upgraded)->identity.unisolated) << "it saw the host's GIDs before: it keeps them";
    EXPECT_TRUE((*upgraded)->link.empty());
    EXPECT_TRUE((*latest)->owned_links()->empty());

    // An address is one assignment's only; the row that would share it is not written at all.
    auto first = sample_assignment(sample_vm("vm2"), sample_device());
    first.identity = NetworkIdentity{};
    first.identity.addresses = {*IpPrefix::parse("10.0.0.5/24"), *IpPrefix::parse("fd00::5/64")};
    first.identity.mac = *MacAddress::parse("52:54:00:12:34:56");
    first.identity.vlan = *VlanId::parse("7");
    first.link = identity_link_name(first.mdev);
    ASSERT_TRUE((*latest)->insert_vm(sample_vm("vm3")).ok());
    ASSERT_TRUE((*latest)->insert_assignment(first).ok());
    auto read = (*latest)->assignment(first.vm, first.guid);
    ASSERT_TRUE(read.ok() && read->has_value());
    EXPECT_EQ((*read)->identity, first.identity);
    EXPECT_EQ((*read)->link, first.link);
    auto second = sample_assignment(sample_vm("vm3"), sample_device());
    second.identity = NetworkIdentity{};
    second.identity.addresses = {*IpPrefix::parse("fd00:0::5/120")};
    auto clash = (*latest)->transaction([&] { return (*latest)->insert_assignment(second); });
    ASSERT_FALSE(clash.ok());
    EXPECT_EQ(clash.error().code, "address-in-use") << clash.error().message;
    EXPECT_FALSE((*(*latest)->assignment(second.vm, second.guid)).has_value());
    // Deleting the row frees its addresses.
    ASSERT_TRUE((*latest)->delete_assignment(first.vm, first.guid).ok());
    EXPECT_TRUE((*latest)->transaction([&] { return (*latest)->insert_assignment(second); }).ok());
}

TEST(SchemaMigrations, ReopeningIsIdempotent)
{
    TempDir dir;
    const std::string path = (dir.path() / "hyvd.db").string();
    for (int i = 0; i < 3; ++i) {
        auto store = SqliteStore::open(path);
        ASSERT_TRUE(store.ok()) << "open #" << i << ": " << store.error().message;
        EXPECT_EQ(*(*store)->schema_version(), SqliteStore::latest_schema_version());
        EXPECT_TRUE((*store)->append_event(core::Event{0, i, "op", "", "", "", "test", "x"}).ok());
    }
    auto store = SqliteStore::open(path);
    EXPECT_EQ((*store)->events(0, 100)->size(), 3u);
}

TEST(SchemaMigrations, RefusesADatabaseFromANewerHyvd)
{
    TempDir dir;
    const std::string path = (dir.path() / "hyvd.db").string();
    EXPECT_TRUE(SqliteStore::open(path).ok());
    EXPECT_EQ(raw_exec(path, "PRAGMA user_version = 999"), "");
    auto store = SqliteStore::open(path);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code, "db-too-new");
    EXPECT_NE(store.error().message.find("999"), std::string::npos);
}

TEST(SchemaMigrations, AFailingMigrationLeavesThePreviousVersionIntact)
{
    TempDir dir;
    const std::string path = (dir.path() / "hyvd.db").string();
    EXPECT_TRUE(SqliteStore::open(path, SqliteStoreOptions{.migrate_to = 1}).ok());
    // Someone added the column by hand: migration 2's ALTER TABLE will fail on it.
    EXPECT_EQ(raw_exec(path, "ALTER TABLE vms ADD COLUMN observed_at INTEGER"), "");
    auto store = SqliteStore::open(path);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code, "db-migrate");
    EXPECT_EQ(raw_user_version(path), 1);
    // The half-applied first statement of migration 2 was rolled back with it.
    EXPECT_NE(raw_exec(path, "SELECT observed_state FROM vms"), "");
}

}  // namespace
}  // namespace hyv::test
