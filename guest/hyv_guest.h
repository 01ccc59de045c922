/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * virtio_hyv internals: the device (a virtio function plus the ib_device it
 * registers), the command channel to the host and the verbs.
 */
#ifndef HYV_GUEST_H
#define HYV_GUEST_H

#include <linux/kfifo.h>
#include <linux/list.h>
#include <linux/workqueue.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>
#include <linux/wait.h>
#include <linux/virtio.h>
#include <rdma/ib_verbs.h>

#include <hyv/hyv_abi.h>

/* A port or device event waiting for hyv_dev.port_work. */
struct hyv_port_event {
	u16 event;			/* enum ib_event_type */
	u16 port;
};
#define HYV_PORT_EVENTS 16		/* a power of two (kfifo) */

struct hyv_dev {
	struct ib_device ibdev;		/* first: ib_alloc_device needs it */
	struct virtio_device *vdev;
	struct device *dma_dev;		/* the PCI function */

	/* Command channel (hyv_guest_cmd.c). */
	void __iomem *ctrl;
	/* BAR2: host queue pages, mapped into processes (hyv_guest_queues.c). */
	resource_size_t bar2_start;
	resource_size_t bar2_len;
	struct mutex cmd_lock;		/* the one command buffer */
	struct hyv_cmd_hdr *cmd;
	dma_addr_t cmd_dma;
	bool dead;			/* host device gone: every command fails */

	/* Host identity (device config). */
	u64 node_guid;
	u32 host_driver_id;
	u32 host_abi;
	u32 ports;
	/* The guest's net device (hyv_guest_netdev.c); NULL: GIDs from the host. */
	struct net_device *netdev;
	/* Host context for device-wide queries, opened at probe. */
	u32 dev_ctx;

	/* Events (hyv_guest_events.c); events is NULL when the host has none. */
	struct hyv_event_ring_hdr *events;
	dma_addr_t events_dma;
	u32 events_cons;
	spinlock_t events_lock;		/* a delivery, from lookup to handler; port_events */
	/* cookie (the host's user_handle) -> object, for the events that name it */
	struct xarray cqs;		/* struct hyv_cq */
	struct xarray qps;		/* struct hyv_qp */
	struct xarray srqs;		/* struct hyv_srq */
	/* Port and device events, dispatched by port_work (ib_dispatch_event may sleep). */
	DECLARE_KFIFO(port_events, struct hyv_port_event, HYV_PORT_EVENTS);
	struct work_struct port_work;
	bool port_events_on;		/* the ib_device is registered and not going away */

	/* rdma_cm files (hyv_guest_cm.c): by host context for events, and all of them. */
	struct xarray cm_files;
	struct list_head cm_files_list;
	struct list_head cm_node;	/* in the driver's device list */

	/* User QPs, moved to error on unplug (hyv_guest_unplug.c). */
	struct mutex qp_lock;		/* user_qps, unplugging */
	struct list_head user_qps;
	wait_queue_head_t qps_gone;	/* woken when user_qps empties */
	bool unplugging;
};

struct hyv_ucontext {
	struct ib_ucontext ibuc;
	u32 host_ctx;
};

struct hyv_pd {
	struct ib_pd ibpd;
	u32 host_ctx;
	u32 host_handle;
};

/* A ring of a host object in BAR2, mappable by the owning process. */
struct hyv_mmap_entry {
	struct rdma_user_mmap_entry rdma;
	struct hyv_dev *hdev;
	u32 host_ctx;
	u64 bar_offset;			/* byte offset in BAR2 */
};

/* User CQs and QPs only: the rings live on the host and userspace polls them through BAR2. */
struct hyv_cq {
	struct ib_cq ibcq;
	u32 host_ctx;
	u32 host_handle;
	u32 cookie;			/* in hyv_dev.cqs; the host's user_handle */
	struct hyv_mmap_entry *ring;
};

static inline struct hyv_cq *to_hcq(struct ib_cq *ibcq)
{
	return container_of(ibcq, struct hyv_cq, ibcq);
}

struct hyv_qp {
	struct ib_qp ibqp;
	u32 host_ctx;
	u32 host_handle;
	struct hyv_mmap_entry *sq, *rq;
	struct list_head unplug_node;	/* in hyv_dev.user_qps */
	u32 cookie;			/* in hyv_dev.qps; the host's user_handle */
};

/* User address handles (UD): host objects, named in work requests by rxe's ah_num. */
struct hyv_ah {
	struct ib_ah ibah;
	u32 host_ctx;
	u32 host_handle;
};

/* User SRQs: like CQs, the ring is the host's and userspace posts receives to it through BAR2. */
struct hyv_srq {
	struct ib_srq ibsrq;
	u32 host_ctx;
	u32 host_handle;
	struct hyv_mmap_entry *ring;
	u32 cookie;			/* in hyv_dev.srqs; the host's user_handle */
};

static inline struct hyv_ucontext *to_huctx(struct ib_ucontext *ibuc)
{
	return container_of(ibuc, struct hyv_ucontext, ibuc);
}

static inline struct hyv_pd *to_hpd(struct ib_pd *ibpd)
{
	return container_of(ibpd, struct hyv_pd, ibpd);
}

static inline struct hyv_qp *to_hqp(struct ib_qp *ibqp)
{
	return container_of(ibqp, struct hyv_qp, ibqp);
}

static inline struct hyv_mmap_entry *to_hmmap(struct rdma_user_mmap_entry *rdma)
{
	return container_of(rdma, struct hyv_mmap_entry, rdma);
}

static inline struct hyv_ah *to_hah(struct ib_ah *ibah)
{
	return container_of(ibah, struct hyv_ah, ibah);
}

static inline struct hyv_srq *to_hsrq(struct ib_srq *ibsrq)
{
	return container_of(ibsrq, struct hyv_srq, ibsrq);
}

static inline struct hyv_dev *to_hdev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct hyv_dev, ibdev);
}

/* hyv_guest_cmd.c */
int hyv_cmd_init(struct hyv_dev *hdev, struct pci_dev *pdev);
void hyv_cmd_cleanup(struct hyv_dev *hdev, struct pci_dev *pdev);
void hyv_cmd_mark_dead(struct hyv_dev *hdev);
int hyv_cmd_exec(struct hyv_dev *hdev, u32 op, u32 ctx, const void *in, u32 in_len, void *out,
		 u32 out_len, u32 *resp_len, u64 *value);
int hyv_ctx_open(struct hyv_dev *hdev, u32 *ctx);
void hyv_ctx_close(struct hyv_dev *hdev, u32 ctx);
int hyv_device_ctx_open(struct hyv_dev *hdev);
int hyv_cmd_exec_exact(struct hyv_dev *hdev, u32 op, u32 ctx, const void *in, u32 in_len,
		       void *out, u32 out_len);
int hyv_uverbs_cmd(struct hyv_dev *hdev, u32 ctx, u32 command, const void *body, u32 body_len,
		   struct ib_udata *udata, void *resp, u32 resp_len);
int hyv_uverbs_cmd_drv(struct hyv_dev *hdev, u32 ctx, u32 command, const void *body, u32 body_len,
		       struct ib_udata *udata, void *resp, u32 resp_len, void *drv_out);

/* How to create a host object with one ring (CQ, SRQ): hyv_create_with_ring(). */
struct hyv_ring_create {
	u32 command;		/* the uverbs create command */
	u32 destroy;		/* the command that destroys it again (rollback) */
	const void *cmd;
	u32 cmd_len;
	void *resp;		/* the uverbs response, starting with the new object's handle */
	u32 resp_len;
	u32 drv_len;		/* the least provider response: rxe's, starting with its mminfo */
};

/* hyv_guest_queues.c */
u32 hyv_udata_ctx(struct hyv_dev *hdev, struct ib_udata *udata);
int hyv_create_with_ring(struct hyv_dev *hdev, u32 ctx, const struct hyv_ring_create *c,
			 struct ib_udata *udata, struct hyv_mmap_entry **ring);
struct mminfo;
int hyv_ring_insert_required(struct hyv_dev *hdev, struct ib_udata *udata, struct mminfo *mi,
			     struct hyv_mmap_entry **ring);
void hyv_ring_remove(struct hyv_mmap_entry *e);
int hyv_destroy_with_ring(struct hyv_dev *hdev, u32 ctx, u32 destroy, u32 handle,
			  struct hyv_mmap_entry *ring);
int hyv_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr, struct ib_udata *udata);
int hyv_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int hyv_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *attr, struct ib_udata *udata);
int hyv_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask, struct ib_udata *udata);
int hyv_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		 struct ib_qp_init_attr *init_attr);
int hyv_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
struct ib_uverbs_qp_dest;
void hyv_ah_to_dest(const struct rdma_ah_attr *ah, struct ib_uverbs_qp_dest *d);
int hyv_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		  const struct ib_send_wr **bad_wr);
int hyv_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma);
void hyv_mmap_free(struct rdma_user_mmap_entry *entry);

/* hyv_guest_events.c */
int hyv_events_init(struct hyv_dev *hdev);
void hyv_events_cleanup(struct hyv_dev *hdev);
int hyv_events_track(struct xarray *objects, void *obj, u32 *cookie);
void hyv_events_untrack(struct hyv_dev *hdev, struct xarray *objects, u32 cookie);
void hyv_events_process(struct hyv_dev *hdev);
void hyv_events_port_start(struct hyv_dev *hdev);
void hyv_events_port_stop(struct hyv_dev *hdev);
void hyv_events_device_fatal(struct hyv_dev *hdev);
int hyv_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);

/* hyv_guest_cm.c */
void hyv_cm_register(void);
void hyv_cm_unregister(void);
void hyv_cm_add_device(struct hyv_dev *hdev);
void hyv_cm_remove_device(struct hyv_dev *hdev);
void hyv_cm_event(struct hyv_dev *hdev, u32 host_ctx);
void hyv_cm_event_all(struct hyv_dev *hdev);

/* hyv_guest_mr.c */
struct ib_mr *hyv_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length, u64 virt, int access,
			      struct ib_udata *udata);
int hyv_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);

/* hyv_guest_ah.c */
int hyv_create_user_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init_attr,
		       struct ib_udata *udata);
int hyv_destroy_ah(struct ib_ah *ibah, u32 flags);

/* hyv_guest_srq.c */
int hyv_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *attr, struct ib_udata *udata);
int hyv_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr, enum ib_srq_attr_mask mask,
		   struct ib_udata *udata);
int hyv_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int hyv_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);

/* hyv_guest_unplug.c */
void hyv_unplug_init(struct hyv_dev *hdev);
int hyv_unplug_track_qp(struct hyv_dev *hdev, struct hyv_qp *qp);
void hyv_unplug_untrack_qp(struct hyv_dev *hdev, struct hyv_qp *qp);
void hyv_unplug_flush(struct hyv_dev *hdev);

/* hyv_guest_netdev.c */
int hyv_netdev_add(struct hyv_dev *hdev);
void hyv_netdev_remove(struct hyv_dev *hdev);
int hyv_add_gid(const struct ib_gid_attr *attr, void **context);
int hyv_del_gid(const struct ib_gid_attr *attr, void **context);
/* hyv_guest_verbs.c */
int hyv_ib_register(struct hyv_dev *hdev);
void hyv_ib_unregister(struct hyv_dev *hdev);

#endif /* HYV_GUEST_H */
