-- hyvd schema 3: the mdevs hyvd made (or is about to make) for its own assignments, so that
-- reconcile removes only those and leaves alone mdevs of mdevctl, KubeVirt, Nova or an operator.
-- A row is written together with the assignment that chose the UUID, before the mdev is created,
-- and deleted only once the mdev is gone; it outlives the assignment row in between.
CREATE TABLE hyvd_mdevs (
    mdev_uuid  TEXT PRIMARY KEY CHECK (length(mdev_uuid) = 36),
    guid       TEXT NOT NULL CHECK (length(guid) = 19),
    created_at INTEGER NOT NULL,
    op_id      TEXT NOT NULL
) STRICT;

-- Every mdev an existing assignment names is hyvd's. (Orphans a version-2 hyvd left behind have
-- no row anywhere and are left alone from now on; remove them by hand, docs/operations.md.)
INSERT INTO hyvd_mdevs (mdev_uuid, guid, created_at, op_id)
    SELECT mdev_uuid, guid, created_at, op_id FROM assignments;
