// SPDX-License-Identifier: GPL-2.0-only
/*
 * Completion events. The driver gives the host an event ring in its memory
 * (HYV_OP_EVENT_RING). Every CQ carries a cookie, its index in hdev->cqs, as
 * the user_handle of its host CREATE_CQ; an armed host CQ that completes
 * makes the host write (context, cookie) to the ring and raise the
 * configuration interrupt, whose handler (hard IRQ) calls the CQ's completion
 * handler, which guest uverbs turns into an event on the process's channel.
 *
 * events_lock covers a delivery from the lookup to the handler's return, so
 * once a CQ's cookie is erased and the lock was taken once, no handler can
 * still be running for it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <rdma/ib_user_verbs.h>

#include "hyv_guest.h"

#define HYV_GUEST_EVENT_RING_SIZE PAGE_SIZE
#define HYV_GUEST_EVENT_ENTRIES \
	((HYV_GUEST_EVENT_RING_SIZE - sizeof(struct hyv_event_ring_hdr)) / sizeof(struct hyv_event))

static struct hyv_event *hyv_event_slot(struct hyv_dev *hdev, u32 index)
{
	struct hyv_event *first = (struct hyv_event *)(hdev->events + 1);

	return &first[index % HYV_GUEST_EVENT_ENTRIES];
}

/*
 * Gives the host the ring. A host without events (an older hyv_mdev) leaves
 * hdev->events NULL: CQs then refuse to be armed, everything else works.
 */
int hyv_events_init(struct hyv_dev *hdev)
{
	struct hyv_event_ring r = {};
	int ret;

	spin_lock_init(&hdev->events_lock);
	xa_init_flags(&hdev->cqs, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	hdev->events = dma_alloc_coherent(hdev->dma_dev, HYV_GUEST_EVENT_RING_SIZE,
					  &hdev->events_dma, GFP_KERNEL);
	if (!hdev->events)
		return -ENOMEM;
	r.addr = cpu_to_le64(hdev->events_dma);
	r.entries = cpu_to_le32(HYV_GUEST_EVENT_ENTRIES);
	ret = hyv_cmd_exec_exact(hdev, HYV_OP_EVENT_RING, 0, &r, sizeof(r), NULL, 0);
	if (ret) {
		dev_warn(hdev->dma_dev, "the host takes no event ring (%d): completion events are off\n",
			 ret);
		hyv_events_cleanup(hdev);
	}
	return 0;
}

/* After the device reset: the host no longer writes to the ring. */
void hyv_events_cleanup(struct hyv_dev *hdev)
{
	if (hdev->events)
		dma_free_coherent(hdev->dma_dev, HYV_GUEST_EVENT_RING_SIZE, hdev->events,
				  hdev->events_dma);
	hdev->events = NULL;
}

int hyv_events_add_cq(struct hyv_dev *hdev, struct hyv_cq *cq)
{
	return xa_alloc_irq(&hdev->cqs, &cq->cookie, cq, xa_limit_31b, GFP_KERNEL);
}

/* After this returns no event is delivered to cq. */
void hyv_events_del_cq(struct hyv_dev *hdev, struct hyv_cq *cq)
{
	xa_erase_irq(&hdev->cqs, cq->cookie);
	spin_lock_irq(&hdev->events_lock);
	spin_unlock_irq(&hdev->events_lock);
}

static void hyv_cq_notify(struct hyv_cq *cq)
{
	struct ib_cq *ibcq = &cq->ibcq;

	if (ibcq->comp_handler)
		ibcq->comp_handler(ibcq, ibcq->cq_context);
}

static void hyv_event_deliver(struct hyv_dev *hdev, const struct hyv_event *ev)
{
	struct hyv_cq *cq;

	if (le32_to_cpu(ev->type) != HYV_EVENT_COMPLETION ||
	    le64_to_cpu(ev->cookie) > U32_MAX)
		return;
	cq = xa_load(&hdev->cqs, (u32)le64_to_cpu(ev->cookie));
	/* Destroyed meanwhile, or another context's cookie: dropped. */
	if (cq && cq->host_ctx == le32_to_cpu(ev->ctx))
		hyv_cq_notify(cq);
}

/* The configuration interrupt: hard IRQ context. */
void hyv_events_process(struct hyv_dev *hdev)
{
	struct hyv_event_ring_hdr *hdr = hdev->events;
	unsigned long flags, index;
	struct hyv_cq *cq;
	u32 prod, cons;

	if (!hdr)
		return;
	spin_lock_irqsave(&hdev->events_lock, flags);
	if (READ_ONCE(hdr->overflow)) {
		/* Some events were not written: every CQ may have one. */
		WRITE_ONCE(hdr->overflow, 0);
		xa_for_each(&hdev->cqs, index, cq)
			hyv_cq_notify(cq);
	}
	prod = le32_to_cpu(READ_ONCE(hdr->prod));
	/* The events before prod are complete once prod is seen. */
	dma_rmb();
	cons = hdev->events_cons;
	if (prod - cons > HYV_GUEST_EVENT_ENTRIES) {
		dev_warn_ratelimited(hdev->dma_dev, "event ring: host wrote %u events past %u\n",
				     prod - cons, cons);
		cons = prod;
	}
	for (; cons != prod; cons++)
		hyv_event_deliver(hdev, hyv_event_slot(hdev, cons));
	hdev->events_cons = cons;
	WRITE_ONCE(hdr->cons, cpu_to_le32(cons));
	spin_unlock_irqrestore(&hdev->events_lock, flags);
}

/*
 * ibv_req_notify_cq: arms the host CQ. uverbs asks only for next or solicited;
 * whether events were missed is not reported through the write ABI.
 */
int hyv_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct hyv_dev *hdev = to_hdev(ibcq->device);
	struct hyv_cq *cq = to_hcq(ibcq);
	struct ib_uverbs_req_notify_cq cmd = {
		.cq_handle = cq->host_handle,
		.solicited_only = (flags & IB_CQ_SOLICITED_MASK) == IB_CQ_SOLICITED,
	};

	if (!hdev->events) {
		ibdev_dbg(ibcq->device, "req_notify_cq refused: the host takes no event ring\n");
		return -EOPNOTSUPP;
	}
	return hyv_uverbs_cmd(hdev, cq->host_ctx, IB_USER_VERBS_CMD_REQ_NOTIFY_CQ, &cmd,
			      sizeof(cmd), NULL, NULL, 0);
}
