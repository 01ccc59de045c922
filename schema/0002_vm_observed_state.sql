-- hyvd schema 2: remember what reconcile last saw of each VM, so `hyvctl vms`
-- can tell "stopped" from "never checked" without asking the hypervisor.
ALTER TABLE vms ADD COLUMN observed_state TEXT NOT NULL DEFAULT 'unknown'
    CHECK (observed_state IN ('unknown', 'running', 'stopped'));
ALTER TABLE vms ADD COLUMN observed_at INTEGER;
