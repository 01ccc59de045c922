-- hyvd schema 1: host devices, VMs, GUID->VM assignments, append-only events.
-- Times are unix epoch milliseconds. GUIDs are in normal form 0002:c903:00a1:b2c3.

CREATE TABLE host_devices (
    guid        TEXT PRIMARY KEY CHECK (length(guid) = 19),
    ibdev       TEXT NOT NULL,
    driver      TEXT NOT NULL,
    ports       INTEGER NOT NULL CHECK (ports >= 0),
    link_layer  TEXT NOT NULL,
    mdev_parent TEXT NOT NULL,
    mdev_type   TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    vanished_at INTEGER
) STRICT;

CREATE TABLE vms (
    name       TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
    uuid       TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL CHECK (kind IN ('libvirt', 'qemu')),
    qmp_socket TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    CHECK (kind <> 'qemu' OR qmp_socket <> '')
) STRICT;

CREATE TABLE assignments (
    vm                 TEXT NOT NULL REFERENCES vms (name) ON DELETE RESTRICT,
    guid               TEXT NOT NULL REFERENCES host_devices (guid) ON DELETE RESTRICT,
    mdev_uuid          TEXT NOT NULL UNIQUE CHECK (length(mdev_uuid) = 36),
    qdev_id            TEXT NOT NULL UNIQUE,
    guest_pci_address  TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL CHECK (state IN ('attaching_intent', 'mdev_created', 'hotplugged',
                                                      'attached', 'detaching', 'detached_mdev_present',
                                                      'inactive', 'failed')),
    persistent         INTEGER NOT NULL CHECK (persistent IN (0, 1)),
    quota_qps          INTEGER NOT NULL CHECK (quota_qps >= 0),
    quota_cqs          INTEGER NOT NULL CHECK (quota_cqs >= 0),
    quota_mrs          INTEGER NOT NULL CHECK (quota_mrs >= 0),
    quota_pinned_bytes INTEGER NOT NULL CHECK (quota_pinned_bytes >= 0),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    last_error         TEXT NOT NULL DEFAULT '',
    op_id              TEXT NOT NULL,
    PRIMARY KEY (vm, guid)
) STRICT;

CREATE INDEX assignments_by_guid ON assignments (guid);

-- History outlives VMs and devices, so no foreign keys here.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    INTEGER NOT NULL,
    op_id   TEXT NOT NULL,
    vm      TEXT NOT NULL DEFAULT '',
    guid    TEXT NOT NULL DEFAULT '',
    mdev    TEXT NOT NULL DEFAULT '',
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
) STRICT;

CREATE INDEX events_by_op ON events (op_id);

CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
