// Every `Error::code` hyvd, hyvctl and the libvirt hook produce. Codes reach clients as the API's
// `error.code` and hyvctl's `[code]`, and scripts match on them, so they never change once
// released. docs/api.md ("Error codes") has one row per constant here; tests/unit/error_codes_test
// keeps the two lists equal.
#pragma once

namespace hyv::errc {

// The API protocol and socket (hyvd/api).
inline constexpr const char* request_too_large = "request-too-large";
inline constexpr const char* malformed_json = "malformed-json";
inline constexpr const char* bad_request = "bad-request";
inline constexpr const char* unsupported_api = "unsupported-api";
inline constexpr const char* unknown_command = "unknown-command";
inline constexpr const char* bad_args = "bad-args";
inline constexpr const char* invalid_guid = "invalid-guid";
inline constexpr const char* invalid_vm_name = "invalid-vm-name";
inline constexpr const char* permission_denied = "permission-denied";
inline constexpr const char* too_many_connections = "too-many-connections";
inline constexpr const char* internal = "internal";

// Parsing the value types (common/hyv/types.cpp).
inline constexpr const char* bad_guid = "bad-guid";
inline constexpr const char* bad_uuid = "bad-uuid";
inline constexpr const char* bad_vm_name = "bad-vm-name";
inline constexpr const char* bad_vm_kind = "bad-vm-kind";
inline constexpr const char* bad_state = "bad-state";
inline constexpr const char* bad_ip = "bad-ip";
inline constexpr const char* bad_mac = "bad-mac";
inline constexpr const char* bad_vlan = "bad-vlan";
inline constexpr const char* bad_identity = "bad-identity";

// The service (hyvd/core) and the rules the store enforces for it.
inline constexpr const char* unknown_vm = "unknown-vm";
inline constexpr const char* vm_exists = "vm-exists";
inline constexpr const char* vm_has_assignments = "vm-has-assignments";
inline constexpr const char* unknown_guid = "unknown-guid";
inline constexpr const char* unknown_vm_or_device = "unknown-vm-or-device";
inline constexpr const char* already_attached = "already-attached";
inline constexpr const char* already_assigned = "already-assigned";
inline constexpr const char* not_attached = "not-attached";
inline constexpr const char* vm_not_running = "vm-not-running";
inline constexpr const char* bad_quota = "bad-quota";
inline constexpr const char* bad_qmp_socket = "bad-qmp-socket";
inline constexpr const char* no_hypervisor = "no-hypervisor";
inline constexpr const char* state_conflict = "state-conflict";
inline constexpr const char* invalid_transition = "invalid-transition";
inline constexpr const char* verify_failed = "verify-failed";
inline constexpr const char* mdevs_external = "mdevs-external";
inline constexpr const char* identity_required = "identity-required";
inline constexpr const char* address_in_use = "address-in-use";
inline constexpr const char* no_netdev = "no-netdev";

// The sqlite store (hyvd/adapters/sqlite_store*).
inline constexpr const char* db_open = "db-open";
inline constexpr const char* db_locked = "db-locked";
inline constexpr const char* db_error = "db-error";
inline constexpr const char* db_corrupt = "db-corrupt";
inline constexpr const char* db_too_new = "db-too-new";
inline constexpr const char* db_migrate = "db-migrate";

// mdevs in sysfs and the RDMA device inventory (hyvd/adapters/sysfs_mdev.*, ibverbs_inventory.*).
inline constexpr const char* sysfs_open = "sysfs-open";
inline constexpr const char* sysfs_read = "sysfs-read";
inline constexpr const char* sysfs_write = "sysfs-write";
inline constexpr const char* mdev_type = "mdev-type";
inline constexpr const char* mdev_parent_absent = "mdev-parent-absent";
inline constexpr const char* mdev_exists = "mdev-exists";
inline constexpr const char* mdev_no_capacity = "mdev-no-capacity";
inline constexpr const char* mdev_create = "mdev-create";
inline constexpr const char* mdev_absent = "mdev-absent";
inline constexpr const char* mdev_quota = "mdev-quota";
inline constexpr const char* mdev_busy = "mdev-busy";
inline constexpr const char* mdev_remove = "mdev-remove";
inline constexpr const char* mdev_identity = "mdev-identity";
inline constexpr const char* inventory = "inventory";

// The host links that carry a guest's network identity (hyvd/adapters/netlink_identity.*).
inline constexpr const char* netlink = "netlink";
inline constexpr const char* link_exists = "link-exists";
inline constexpr const char* link_absent = "link-absent";

// The QMP client and hot-plug helpers (qmp/). QEMU's own errors are "qmp-<class>" with
// QEMU's error class; only the class hyv acts on has a constant.
inline constexpr const char* qmp_config = "qmp-config";
inline constexpr const char* qmp_io = "qmp-io";
inline constexpr const char* qmp_connect = "qmp-connect";
inline constexpr const char* qmp_timeout = "qmp-timeout";
inline constexpr const char* qmp_disconnected = "qmp-disconnected";
inline constexpr const char* qmp_protocol = "qmp-protocol";
inline constexpr const char* qmp_device_not_found = "qmp-DeviceNotFound";
inline constexpr const char* qmp_no_free_slot = "qmp-no-free-slot";
inline constexpr const char* qmp_device_not_visible = "qmp-device-not-visible";
inline constexpr const char* invalid_mdev_uuid = "invalid-mdev-uuid";
inline constexpr const char* invalid_argument = "invalid-argument";

// The hot-plug adapters (hyvd/adapters/qmp_hotplug.*, libvirt_*) and libvirt domain XML.
inline constexpr const char* vm_no_qmp_socket = "vm-no-qmp-socket";
inline constexpr const char* qdev_id_in_use = "qdev-id-in-use";
inline constexpr const char* hot_remove_timeout = "hot-remove-timeout";
inline constexpr const char* vm_not_found = "vm-not-found";
inline constexpr const char* libvirt_connect = "libvirt-connect";
inline constexpr const char* libvirt_error = "libvirt-error";
inline constexpr const char* libvirt_attach_failed = "libvirt-attach-failed";
inline constexpr const char* libvirt_detach_failed = "libvirt-detach-failed";
inline constexpr const char* libvirt_transient_domain = "libvirt-transient-domain";
inline constexpr const char* domain_xml = "domain-xml";
inline constexpr const char* hyv_metadata = "hyv-metadata";

// hyvd's start-up: configuration and the API socket. hyvd logs them and exits.
inline constexpr const char* config = "config";
inline constexpr const char* bad_socket_path = "bad-socket-path";
inline constexpr const char* socket = "socket";
inline constexpr const char* socket_dir = "socket-dir";
inline constexpr const char* socket_path_taken = "socket-path-taken";
inline constexpr const char* socket_in_use = "socket-in-use";
inline constexpr const char* socket_bind = "socket-bind";
inline constexpr const char* socket_group = "socket-group";
inline constexpr const char* socket_mode = "socket-mode";
inline constexpr const char* socket_listen = "socket-listen";

// hyvctl's own, when no daemon answer came back (hyvctl/client.*).
inline constexpr const char* daemon_unreachable = "daemon-unreachable";
inline constexpr const char* bad_reply = "bad-reply";
inline constexpr const char* unknown = "unknown";

}  // namespace hyv::errc
