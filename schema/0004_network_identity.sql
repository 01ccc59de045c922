-- hyvd schema 4: a network identity per assignment (docs/network.md). Either the guest's own
-- addresses, realised as a host link (macvlan or VLAN device of the RDMA device's netdev) whose
-- RoCE GIDs are the only ones the guest sees, or `unisolated`: the host's whole GID table.
ALTER TABLE assignments ADD COLUMN identity_unisolated INTEGER NOT NULL DEFAULT 0
    CHECK (identity_unisolated IN (0, 1));
ALTER TABLE assignments ADD COLUMN identity_mac TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN identity_vlan INTEGER NOT NULL DEFAULT 0
    CHECK (identity_vlan BETWEEN 0 AND 4094);
-- The host link carrying the identity ("hyv" + the mdev UUID's first 8 hex digits); '' when unisolated.
ALTER TABLE assignments ADD COLUMN identity_link TEXT NOT NULL DEFAULT '';

-- The netdev of each RDMA device's port 1, on which identity links are made ('' for InfiniBand).
ALTER TABLE host_devices ADD COLUMN netdev TEXT NOT NULL DEFAULT '';

-- Assignments made before identities existed saw the host's whole GID table: keep that.
UPDATE assignments SET identity_unisolated = 1;

-- The addresses of each identity. The primary key makes an address one assignment's only.
CREATE TABLE assignment_addresses (
    address  TEXT PRIMARY KEY,   -- canonical text of the address alone, "10.0.0.5", "fd00::5"
    prefix   INTEGER NOT NULL CHECK (prefix BETWEEN 1 AND 128),
    position INTEGER NOT NULL,   -- order given at attach
    vm       TEXT NOT NULL,
    guid     TEXT NOT NULL,
    FOREIGN KEY (vm, guid) REFERENCES assignments (vm, guid) ON DELETE CASCADE
) STRICT;

CREATE INDEX assignment_addresses_by_assignment ON assignment_addresses (vm, guid);

-- The host links hyvd made (or is about to make), like hyvd_mdevs for mdevs: reconcile removes
-- only these. A row is written with the assignment that named the link, before the link exists,
-- and deleted once the link is gone.
CREATE TABLE hyvd_links (
    name       TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 15),
    parent     TEXT NOT NULL,    -- the RDMA device's netdev it was made on
    mdev_uuid  TEXT NOT NULL CHECK (length(mdev_uuid) = 36),
    created_at INTEGER NOT NULL,
    op_id      TEXT NOT NULL
) STRICT;
