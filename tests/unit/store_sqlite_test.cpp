#include "core_fakes.hpp"
#include "hyvd/adapters/sqlite_store.hpp"
#include "store_test_support.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <set>

namespace hyv::test {
namespace {

using adapters::SqliteStore;
using S = AssignmentState;

class SqliteStoreTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        auto opened = SqliteStore::open(db_path());
        ASSERT_TRUE(opened.ok()) << opened.error().message;
        store = std::move(*opened);
    }
    std::string db_path() const { return (dir.path() / "hyvd.db").string(); }

    TempDir dir;
    std::unique_ptr<SqliteStore> store;
};

TEST_F(SqliteStoreTest, DevicesUpsertAndVanish)
{
    ASSERT_TRUE(store->upsert_device(sample_device(), 100).ok());
    auto changed = sample_device();
    changed.ports = 2;
    ASSERT_TRUE(store->upsert_device(changed, 200).ok());
    ASSERT_TRUE(store->mark_device_vanished(changed.guid, 300).ok());
    auto record = store->device(changed.guid);
    ASSERT_TRUE(record.ok() && record->has_value());
    EXPECT_EQ((*record)->device.ports, 2u);
    EXPECT_EQ((*record)->first_seen, 100);
    EXPECT_EQ((*record)->last_seen, 200);
    EXPECT_EQ((*record)->vanished_at, 300);
    ASSERT_TRUE(store->upsert_device(changed, 400).ok());  // it came back
    EXPECT_FALSE((*store->device(changed.guid))->vanished_at.has_value());
    EXPECT_FALSE(store->device(Guid(42))->has_value());
}

TEST_F(SqliteStoreTest, VmsInsertDuplicateAndDelete)
{
    ASSERT_TRUE(store->insert_vm(sample_vm()).ok());
    auto again = store->insert_vm(sample_vm());
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, "vm-exists");
    auto vm = store->vm(VmId::parse("vm1").value());
    ASSERT_TRUE(vm.ok() && vm->has_value());
    EXPECT_EQ((*vm)->qmp_socket, "/run/hyv/vm1.qmp");
    EXPECT_EQ((*vm)->observed_state, "unknown");
    ASSERT_TRUE(store->set_vm_observed_state((*vm)->name, true, 5).ok());
    EXPECT_EQ((*store->vm((*vm)->name))->observed_state, "running");
    ASSERT_TRUE(store->delete_vm((*vm)->name).ok());
    auto missing = store->delete_vm((*vm)->name);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, "unknown-vm");
}

TEST_F(SqliteStoreTest, AssignmentsAreUniquePerVmAndGuidAndGuardedByForeignKeys)
{
    const auto vm = sample_vm();
    const auto device = sample_device();
    auto a = sample_assignment(vm, device);
    auto orphan = store->insert_assignment(a);
    ASSERT_FALSE(orphan.ok());
    EXPECT_EQ(orphan.error().code, "unknown-vm-or-device");

    ASSERT_TRUE(store->insert_vm(vm).ok());
    ASSERT_TRUE(store->upsert_device(device, 1).ok());
    ASSERT_TRUE(store->insert_assignment(a).ok());
    auto twice = sample_assignment(vm, device);
    auto duplicate = store->insert_assignment(twice);
    ASSERT_FALSE(duplicate.ok());
    EXPECT_EQ(duplicate.error().code, "already-assigned");

    auto busy = store->delete_vm(vm.name);
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().code, "vm-has-assignments");

    auto read = store->assignment(vm.name, device.guid);
    ASSERT_TRUE(read.ok() && read->has_value());
    EXPECT_EQ((*read)->mdev, a.mdev);
    EXPECT_EQ((*read)->quota, a.quota);
    EXPECT_EQ((*read)->state, S::attaching_intent);
}

TEST_F(SqliteStoreTest, UpdateIsCompareAndSetOnState)
{
    const auto vm = sample_vm();
    const auto device = sample_device();
    ASSERT_TRUE(store->insert_vm(vm).ok());
    ASSERT_TRUE(store->upsert_device(device, 1).ok());
    auto a = sample_assignment(vm, device);
    ASSERT_TRUE(store->insert_assignment(a).ok());

    a.state = S::mdev_created;
    ASSERT_TRUE(store->update_assignment(a, S::attaching_intent).ok());
    a.state = S::hotplugged;
    auto stale = store->update_assignment(a, S::attaching_intent);
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.error().code, "state-conflict");
    EXPECT_EQ((*store->assignment(vm.name, device.guid))->state, S::mdev_created);
}

TEST_F(SqliteStoreTest, TransactionRollsBackOnErrorIncludingNested)
{
    ASSERT_TRUE(store->insert_vm(sample_vm("kept")).ok());
    auto failed = store->transaction([&]() -> Result<void> {
        EXPECT_TRUE(store->insert_vm(sample_vm("lost1")).ok());
        auto inner = store->transaction([&]() -> Result<void> {
            EXPECT_TRUE(store->insert_vm(sample_vm("lost2")).ok());
            return {};
        });
        EXPECT_TRUE(inner.ok());
        return make_error("test", "abort the outer transaction");
    });
    EXPECT_FALSE(failed.ok());
    auto inner_only = store->transaction([&]() -> Result<void> {
        EXPECT_TRUE(store->insert_vm(sample_vm("outer")).ok());
        auto inner = store->transaction([&]() -> Result<void> {
            EXPECT_TRUE(store->insert_vm(sample_vm("inner")).ok());
            return make_error("test", "abort the inner one only");
        });
        EXPECT_FALSE(inner.ok());
        return {};
    });
    EXPECT_TRUE(inner_only.ok());
    std::vector<std::string> names;
    auto vms = store->vms();
    ASSERT_TRUE(vms.ok());
    for (const auto& vm : *vms) {
        names.push_back(vm.name.str());
    }
    EXPECT_EQ(names, (std::vector<std::string>{"kept", "outer"}));
}

TEST_F(SqliteStoreTest, EventsAreOrderedAndPaged)
{
    for (int i = 0; i < 5; ++i) {
        auto id = store->append_event(core::Event{0, i, "op-" + std::to_string(i), "vm1", "", "", "test", "m"});
        ASSERT_TRUE(id.ok());
        EXPECT_EQ(*id, i + 1);
    }
    auto page = store->events(2, 2);
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->size(), 2u);
    EXPECT_EQ((*page)[0].id, 3);
    EXPECT_EQ((*page)[1].op_id, "op-3");
}

TEST_F(SqliteStoreTest, EventsCannotBeChangedOrDeletedEvenWithRawSql)
{
    ASSERT_TRUE(store->append_event(core::Event{0, 1, "op-1", "", "", "", "test", "original"}).ok());
    store.reset();  // release the file so a second connection can write
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &raw), SQLITE_OK);
    char* message = nullptr;
    EXPECT_NE(sqlite3_exec(raw, "UPDATE events SET message = 'forged'", nullptr, nullptr, &message), SQLITE_OK);
    ASSERT_NE(message, nullptr);
    EXPECT_NE(std::string(message).find("append-only"), std::string::npos);
    sqlite3_free(message);
    EXPECT_NE(sqlite3_exec(raw, "DELETE FROM events", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);

    auto reopened = SqliteStore::open(db_path());
    ASSERT_TRUE(reopened.ok());
    auto events = (*reopened)->events(0, 10);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ((*events)[0].message, "original");
}

TEST_F(SqliteStoreTest, SecondInstanceOnTheSameDatabaseIsRefused)
{
    auto second = SqliteStore::open(db_path());
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, "db-locked");
    store.reset();
    EXPECT_TRUE(SqliteStore::open(db_path()).ok());
}

TEST_F(SqliteStoreTest, DatabaseIsInWalMode)
{
    store.reset();
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db_path().c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");  // persistent setting
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
}

TEST_F(SqliteStoreTest, OwnedMdevsAreRecordedOnceAndForgotten)
{
    const MdevUuid a = MdevUuid::generate();
    const MdevUuid b = MdevUuid::generate();
    ASSERT_TRUE(store->own_mdev(a, sample_device().guid, 10, "op-1").ok());
    ASSERT_TRUE(store->own_mdev(a, sample_device().guid, 20, "op-2").ok()) << "owning twice is no error";
    ASSERT_TRUE(store->own_mdev(b, sample_device().guid, 30, "op-3").ok());
    auto owned = store->owned_mdevs();
    ASSERT_TRUE(owned.ok());
    EXPECT_EQ(std::set<MdevUuid>(owned->begin(), owned->end()), (std::set<MdevUuid>{a, b}));
    ASSERT_TRUE(store->disown_mdev(a).ok());
    ASSERT_TRUE(store->disown_mdev(a).ok()) << "disowning an unknown mdev is no error";
    EXPECT_EQ(*store->owned_mdevs(), std::vector<MdevUuid>{b});
}

}  // namespace
}  // namespace hyv::test
