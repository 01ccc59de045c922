/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hyv_mdev internals: parents (one per host RDMA device) and instances (one
 * virtio-hyv PCI function per VM and device, a VFIO mediated device).
 */
#ifndef HYV_MDEV_H
#define HYV_MDEV_H

#include <linux/device.h>
#include <linux/eventfd.h>
#include <linux/mdev.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <linux/xarray.h>
#include <rdma/ib_verbs.h>

#include <hyv/hyv_abi.h>

#define HYV_DRIVER_NAME "hyv_mdev"
#define HYV_CLASS_NAME "hyv"
#define HYV_TYPE_SYSFS_NAME "vrdma"
/* The type's sysfs name: stable and without spaces, for orchestrators that select by it. */
#define HYV_TYPE_PRETTY_NAME "hyv-vrdma"

#define HYV_CONFIG_SPACE_SIZE 256
/* Guest RAM unmaps remembered at once, and for how long (jiffies) they block new pins. */
#define HYV_UNMAP_SLOTS 4
#define HYV_UNMAP_BLOCK HZ
#define HYV_BAR2_PAGES (HYV_BAR2_SIZE >> PAGE_SHIFT)

/* Region offsets in the device fd, the layout vfio-pci uses and QEMU expects. */
#define HYV_REGION_SHIFT 40
#define HYV_REGION_OFFSET(index) ((u64)(index) << HYV_REGION_SHIFT)
#define HYV_REGION_MASK (HYV_REGION_OFFSET(1) - 1)
/* Largest single read/write through the fd; QEMU uses at most 256 bytes. */
#define HYV_MAX_ACCESS PAGE_SIZE

extern unsigned int hyv_max_instances;
extern struct class *hyv_class;
extern struct mdev_driver hyv_mdev_driver;
extern struct ib_client hyv_ib_client;

/* Identity of the host device, copied at add time so that instances never
 * touch the ib_device after it is gone. */
struct hyv_host_identity {
	u64 node_guid;		/* host order */
	u32 driver_id;
	u32 uverbs_abi_ver;
	u32 phys_port_cnt;
	char ibdev_name[HYV_IBDEV_NAME_MAX];
};

struct hyv_parent {
	struct device dev;		/* /sys/class/hyv/<ibdev> */
	struct mdev_parent mdev_parent;
	struct mdev_type type;
	struct mdev_type *types[1];
	struct hyv_host_identity identity;

	struct mutex lock;		/* protects instances, dead, ibdev */
	struct list_head instances;
	bool dead;
	/* Valid between the ib_client add and remove callbacks; NULL once dead. */
	struct ib_device *ibdev;
	atomic_t live_instances;
};

struct hyv_counters {
	atomic64_t trapped_reads;
	atomic64_t trapped_writes;
	atomic64_t interrupts;
	atomic64_t bad_accesses;
	atomic64_t commands;
	atomic64_t command_errors;
	atomic64_t gid_refusals;	/* source GID indices outside the instance's identity */
	atomic64_t pinned_unmaps;	/* guest RAM unmaps that met a registration's pins */
};

struct hyv_virtio_state {
	u32 device_feature_select;
	u32 guest_feature_select;
	u64 guest_features;
	u16 msix_config;
	u16 queue_select;
	u8 device_status;
	u8 config_generation;
	u8 isr;
};

struct hyv_irqs {
	struct eventfd_ctx *intx;
	bool intx_masked;
	struct eventfd_ctx *msix[HYV_MSIX_VECTORS];
	struct eventfd_ctx *req;
	/* Accepted so QEMU arms error recovery; never signalled: QEMU stops the VM on it. */
	struct eventfd_ctx *err;
};

/* Host objects under a per-instance quota (hyv_quota.c). */
enum hyv_resource {
	HYV_RES_PD,
	HYV_RES_CQ,
	HYV_RES_QP,
	HYV_RES_SRQ,
	HYV_RES_AH,
	HYV_RES_MR,
	HYV_RES_PINNED,		/* bytes of guest memory pinned by MRs */
	HYV_RES_CM_ID,		/* rdma_cm IDs (hyv_cm.c) */
	HYV_RES_COUNT,
};

/* What a relayed command does to the instance's object quota, on success. */
enum hyv_quota_effect {
	HYV_QUOTA_NONE,
	HYV_QUOTA_CREATES,	/* one more object: checked before the command runs */
	HYV_QUOTA_DESTROYS,	/* one object less */
};

/* used: under ctrl.lock (commands); limit: set through sysfs at any time. */
struct hyv_quota {
	u64 limit[HYV_RES_COUNT];
	u64 used[HYV_RES_COUNT];
};

enum hyv_event_source {
	HYV_EVENTS_COMPLETION,	/* a completion channel */
	HYV_EVENTS_ASYNC,	/* a uverbs async event file */
	HYV_EVENTS_CM,		/* an rdma_cm file: only readiness is announced */
};

/*
 * A host event file of a context whose events go to the guest
 * (hyv_events.c): its completion channel, opened at its first CREATE_CQ, its
 * async event file, from GET_CONTEXT, or an rdma_cm context's own file. file
 * is NULL until opened. buf: a page in QEMU's address space to read events
 * into (not for HYV_EVENTS_CM, whose events the guest fetches).
 */
struct hyv_event_file {
	struct hyv_context *ctx;
	enum hyv_event_source source;
	struct file *file;
	unsigned long buf;
	wait_queue_head_t *wqh;
	struct wait_queue_entry wait;
	poll_table pt;
	struct work_struct work;
};

/* An entry of the guest's own GID table, port HYV_SET_GID_PORT's. */
struct hyv_guest_gid {
	u8 raw[16];
	u32 type;			/* enum ib_gid_type */
	bool set;
};

/*
 * The instance's network identity (hyv_gid.c): the host net device whose
 * GIDs it sees, or the whole host table when unisolated; neither: no GID.
 */
struct hyv_gid_view {
	struct mutex lock;		/* everything below; taken outside parent->lock */
	struct net *net;		/* referenced; NULL: no device */
	int ifindex;
	char ifname[IFNAMSIZ];
	bool unisolated;
	/* The guest declared a table of its own (HYV_OP_SET_GID, hyv_gid_guest.c). */
	bool guest_table;
	struct hyv_guest_gid guest[HYV_GID_TABLE_LEN];
};

/* Where the host writes events for the guest (HYV_OP_EVENT_RING); ring_addr 0: none. */
struct hyv_events {
	struct mutex lock;		/* everything below; inside inst->lock, never around it */
	u64 ring_addr;
	u32 entries;
	u32 prod;
};

enum hyv_context_kind {
	HYV_CONTEXT_VERBS,	/* HYV_OP_CTX_OPEN: the host device's uverbs file */
	HYV_CONTEXT_CM,		/* HYV_OP_CM_OPEN: the host's rdma_cm file (hyv_cm.c) */
};

/*
 * A host context: the host device's uverbs file (or the rdma_cm file) opened
 * in QEMU's context for one guest context, and a scratch page in QEMU's
 * address space that carries each command and its response (uverbs and
 * rdma_ucm want user pointers).
 */
struct hyv_context {
	struct hyv_instance *inst;
	u32 handle;			/* its index in ctrl.contexts, the guest's name for it */
	enum hyv_context_kind kind;
	struct list_head qmaps;		/* struct hyv_qmap: rings in BAR2; under ctrl.lock */
	struct file *file;		/* uverbs or rdma_cm */
	struct mm_struct *mm;		/* QEMU's, mmgrab()ed; scratch lives there */
	unsigned long scratch;		/* user address, HYV_CONTEXT_SCRATCH_SIZE bytes */
	u64 used[HYV_RES_COUNT];	/* this context's share of the instance's quota */
	struct xarray mrs;		/* MR handle -> xa_mk_value(pinned bytes) */
	struct hyv_event_file comp;
	struct hyv_event_file async;
	struct hyv_event_file cm;
	/* rdma_cm: the CM IDs created for UD QPs, whose events carry an address handle. */
	struct xarray cm_ud_ids;
};

/*
 * BAR2 (hyv_window.c): each page is a host queue page or, when unowned, a
 * zeroed page private to the instance. lock is taken inside mmap_lock (fault).
 */
struct hyv_window {
	struct mutex lock;		/* everything below */
	struct list_head vmas;		/* struct hyv_window_vma: every mapping of BAR2 */
	u64 zap_gen;
	DECLARE_BITMAP(used, HYV_BAR2_PAGES);
	u32 used_pages;
	struct page *queue[HYV_BAR2_PAGES];	/* referenced while the queue owns the page */
	struct page *private[HYV_BAR2_PAGES];
};

#define HYV_CONTEXT_SCRATCH_SIZE PAGE_ALIGN(HYV_CMD_MAX_LEN)

/* The command channel in BAR0's control area. */
struct hyv_ctrl {
	struct mutex lock;		/* everything below; never held with inst->lock */
	u64 cmd_addr;
	u32 cmd_len;
	u32 status;
	u32 commands;
	u32 failed;
	struct hyv_context *contexts[HYV_MAX_CONTEXTS];
};

struct hyv_instance {
	struct vfio_device vdev;	/* first: vfio_alloc_device needs it */
	struct mdev_device *mdev;
	struct hyv_parent *parent;
	struct list_head parent_entry;	/* under parent->lock */

	struct mutex lock;		/* everything below */
	bool dead;
	/* The guest wrote virtio status 0: its host objects go once inst->lock is dropped. */
	bool reset_pending;
	u8 config[HYV_CONFIG_SPACE_SIZE];
	u8 config_wmask[HYV_CONFIG_SPACE_SIZE];
	struct hyv_virtio_state virtio;
	struct hyv_device_config device_config;
	struct hyv_irqs irqs;

	struct hyv_window window;	/* own lock */
	struct hyv_ctrl ctrl;
	struct hyv_quota quota;
	struct hyv_events events;	/* own lock */
	struct hyv_gid_view gids;	/* own lock */
	/*
	 * Held while an MR registration holds VFIO pins on guest pages; VFIO's
	 * dma_unmap callback waits on it, so a guest RAM unmap never finds pins.
	 */
	struct mutex pin_lock;
	/*
	 * Guest RAM ranges VFIO was unmapping (dma_unmap), under pin_lock: no
	 * registration pins there for HYV_UNMAP_BLOCK after the callback. VFIO
	 * re-checks for pins right after it and calls again if it finds any;
	 * 6.1 gives up with BUG_ON after 10 rounds that all found a new pin.
	 */
	struct hyv_unmapping {
		u64 iova;
		u64 length;		/* 0: a free slot */
		unsigned long until;	/* jiffies */
	} unmapping[HYV_UNMAP_SLOTS];
	unsigned int unmapping_next;
	struct hyv_counters counters;
};

/* A guest-named port that rdma_is_port_valid() accepted, clamped under speculation too. */
static inline struct ib_port_data *hyv_port_data(struct ib_device *ibdev, u32 port)
{
	return &ibdev->port_data[array_index_nospec(port, rdma_end_port(ibdev) + 1)];
}

static inline struct hyv_instance *to_hyv_instance(struct vfio_device *vdev)
{
	return container_of(vdev, struct hyv_instance, vdev);
}

/* hyv_main.c */
void hyv_module_instances_add(int delta);

/* hyv_parent.c */
int hyv_parent_add(struct ib_device *ibdev);
int hyv_parent_query_gid(struct hyv_parent *parent, u32 port, u32 index, struct hyv_gid_entry *out);
int hyv_parent_query_pkey(struct hyv_parent *parent, u32 port, u32 index, u16 *pkey);
int hyv_parent_ibdev_name(struct hyv_parent *parent, char *name, size_t size);
void hyv_parent_remove(struct ib_device *ibdev, void *client_data);
void hyv_parent_rename(struct ib_device *ibdev, void *client_data);
extern const struct attribute_group *hyv_parent_groups[];

/* hyv_instance.c */
u64 hyv_region_size(u32 index);
extern const struct attribute_group *hyv_instance_groups[];
void hyv_instance_mark_dead(struct hyv_instance *inst);
void hyv_instance_reset(struct hyv_instance *inst);

/* hyv_pci_config.c */
void hyv_pci_config_init(struct hyv_instance *inst);
u32 hyv_pci_config_read(struct hyv_instance *inst, u32 offset, u32 size);
void hyv_pci_config_write(struct hyv_instance *inst, u32 offset, u32 size, u32 value);

/* hyv_bar.c */
void hyv_virtio_reset(struct hyv_instance *inst);
int hyv_bar0_read(struct hyv_instance *inst, u32 offset, u32 size, u32 *value);
int hyv_bar0_write(struct hyv_instance *inst, u32 offset, u32 size, u32 value);

/* hyv_window.c: BAR2 */
void hyv_window_init(struct hyv_instance *inst);
int hyv_window_mmap(struct hyv_instance *inst, struct vm_area_struct *vma, u64 region_offset);
int hyv_window_alloc(struct hyv_instance *inst, struct page **pages, u32 npages, u32 *first);
void hyv_window_retire(struct hyv_instance *inst, u32 first, u32 npages);
void hyv_window_unreserve(struct hyv_instance *inst, u32 first, u32 npages);
u32 hyv_window_used_pages(struct hyv_instance *inst);
void hyv_window_release(struct hyv_instance *inst);

/* hyv_ctrl.c: the command channel */
void hyv_ctrl_init(struct hyv_instance *inst);
void hyv_ctrl_release(struct hyv_instance *inst);
ssize_t hyv_ctrl_access(struct hyv_instance *inst, u32 offset, u8 *buf, size_t count,
			bool is_write);

/* hyv_context.c: host contexts and the relay */
int hyv_context_open(struct hyv_instance *inst, enum hyv_context_kind kind,
		     struct hyv_context **out);
void hyv_context_close(struct hyv_context *ctx);
ssize_t hyv_context_relay(struct hyv_context *ctx, u8 *payload, u32 in_len, u32 resp_ptr_off,
			  u8 *resp, u32 resp_size);
ssize_t hyv_context_run(struct hyv_context *ctx, u8 *payload, u32 in_len, u8 *resp,
			u32 resp_size);

/* hyv_cm.c: the rdma_cm relay */
ssize_t hyv_cm_write(struct hyv_instance *inst, struct hyv_context *ctx, u8 *payload,
		     u32 in_len, u8 *resp, u32 out_len);

/* hyv_uverbs.c: the allow-list and the queue mapping */
ssize_t hyv_uverbs_write(struct hyv_instance *inst, struct hyv_context *ctx, u8 *payload,
			 u32 in_len, u8 *resp, u32 out_len);
void hyv_uverbs_context_release(struct hyv_instance *inst, struct hyv_context *ctx);
int hyv_uverbs_window_release(struct hyv_instance *inst, struct hyv_context *ctx, u64 offset);

/* hyv_events.c: completion events */
void hyv_events_init(struct hyv_instance *inst);
void hyv_events_reset(struct hyv_instance *inst);
int hyv_events_set_ring(struct hyv_instance *inst, const struct hyv_event_ring *r);
int hyv_events_get_fd(struct hyv_context *ctx);
int hyv_events_open_async(struct hyv_context *ctx, int fd);
int hyv_events_watch_cm(struct hyv_context *ctx);
void hyv_events_context_release(struct hyv_context *ctx);

/* hyv_gid.c: the GIDs the instance sees and may use */
void hyv_gid_init(struct hyv_instance *inst);
void hyv_gid_release(struct hyv_instance *inst);
int hyv_gid_to_host(struct hyv_instance *inst, u32 port, u32 guest_index, u32 *host_index);
int hyv_gid_to_guest(struct hyv_instance *inst, u32 port, u32 host_index, u32 *guest_index);
int hyv_gid_query(struct hyv_instance *inst, u32 port, u32 guest_index, struct hyv_gid_entry *out);
bool hyv_gid_unisolated(struct hyv_instance *inst);
bool hyv_gid_owns(struct hyv_instance *inst, const u8 raw[16]);
int hyv_gid_first_addr(struct hyv_instance *inst, bool ipv4, u8 raw[16]);
extern const struct attribute_group hyv_gid_group;
int hyv_gid_view(struct hyv_instance *inst, u32 port, u32 host[HYV_GID_TABLE_LEN]);
typedef bool (*hyv_gid_visit_fn)(u32 host_index, const struct hyv_gid_entry *gid, void *arg);
int hyv_gid_walk(struct hyv_instance *inst, u32 port, hyv_gid_visit_fn fn, void *arg);

/* hyv_gid_guest.c: a GID table the guest keeps itself (HYV_OP_SET_GID) */
int hyv_gid_declare(struct hyv_instance *inst, const struct hyv_set_gid *req);
void hyv_gid_forget_guest(struct hyv_instance *inst);
int hyv_gid_guest_to_host(struct hyv_instance *inst, u32 port, u32 guest_index, u32 *host_index);
int hyv_gid_host_to_guest(struct hyv_instance *inst, u32 port, u32 host_index, u32 *guest_index);
void hyv_gid_identity(struct hyv_instance *inst, struct hyv_identity *out);

/* hyv_quota.c */
void hyv_quota_init(struct hyv_instance *inst);
int hyv_quota_check(struct hyv_instance *inst, enum hyv_resource res, u64 amount);
void hyv_quota_add(struct hyv_context *ctx, enum hyv_resource res, u64 amount);
void hyv_quota_sub(struct hyv_context *ctx, enum hyv_resource res, u64 amount);
void hyv_quota_apply(struct hyv_context *ctx, enum hyv_resource res, enum hyv_quota_effect effect);
void hyv_quota_release_context(struct hyv_context *ctx);
extern const struct attribute_group hyv_quota_group;

/* hyv_mr.c: zero-copy memory registration */
int hyv_mr_register(struct hyv_instance *inst, struct hyv_context *ctx, const u8 *payload,
		    u32 in_len, u8 *resp, u32 out_len);
void hyv_mr_forget(struct hyv_context *ctx, u32 handle);
void hyv_mr_unmapping(struct hyv_instance *inst, u64 iova, u64 length);

/* hyv_irq.c */
long hyv_ioctl(struct vfio_device *vdev, unsigned int cmd, unsigned long arg);
void hyv_raise_config_interrupt(struct hyv_instance *inst);
void hyv_intx_update(struct hyv_instance *inst);
void hyv_irqs_release(struct hyv_instance *inst);
void hyv_request_release(struct hyv_instance *inst, unsigned int count);

#endif /* HYV_MDEV_H */
