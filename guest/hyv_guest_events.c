// SPDX-License-Identifier: GPL-2.0-only
/*
 * Events. The driver gives the host an event ring in its memory
 * (HYV_OP_EVENT_RING). Every CQ, QP and SRQ carries a cookie, its index in
 * hdev->cqs, ->qps or ->srqs, as the user_handle of its host create command;
 * the host writes (context, cookie) to the ring when an armed CQ completes
 * or a QP, SRQ or CQ has an async event, and raises the configuration
 * interrupt, whose handler (hard IRQ) calls the object's completion or event
 * handler; guest uverbs turns those into events on the process's channel or
 * async file. An rdma_cm context's event wakes its file (hyv_guest_cm.c). Port and device events (GID change, port up and down, device
 * fatal) are dispatched by a work item: ib_dispatch_event may sleep.
 *
 * events_lock covers a delivery from the lookup to the handler's return, so
 * once a cookie is erased and the lock was taken once, no handler can still
 * be running for its object.
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

int hyv_events_track(struct xarray *objects, void *obj, u32 *cookie)
{
	return xa_alloc_irq(objects, cookie, obj, xa_limit_31b, GFP_KERNEL);
}

/* After this returns no event is delivered to the object. */
void hyv_events_untrack(struct hyv_dev *hdev, struct xarray *objects, u32 cookie)
{
	xa_erase_irq(objects, cookie);
	spin_lock_irq(&hdev->events_lock);
	spin_unlock_irq(&hdev->events_lock);
}

static void hyv_cq_notify(struct hyv_cq *cq)
{
	struct ib_cq *ibcq = &cq->ibcq;

	if (ibcq->comp_handler)
		ibcq->comp_handler(ibcq, ibcq->cq_context);
}

/* The object an event's cookie names, if it is of the event's context; under events_lock. */
static void *hyv_event_object(const struct hyv_event *ev, struct xarray *objects)
{
	u64 cookie = le64_to_cpu(ev->cookie);

	return cookie <= U32_MAX ? xa_load(objects, (u32)cookie) : NULL;
}

static void hyv_port_event_queue(struct hyv_dev *hdev, u16 event, u16 port)
{
	struct hyv_port_event pe = { .event = event, .port = port };

	lockdep_assert_held(&hdev->events_lock);
	if (!hdev->port_events_on)
		return;
	if (!kfifo_put(&hdev->port_events, pe))
		dev_warn_ratelimited(hdev->dma_dev, "port event %u dropped: %u waiting\n", event,
				     HYV_PORT_EVENTS);
	schedule_work(&hdev->port_work);
}

static void hyv_async_deliver(struct hyv_dev *hdev, const struct hyv_event *ev)
{
	u32 ctx = le32_to_cpu(ev->ctx);
	struct ib_event ie = { .device = &hdev->ibdev, .event = le16_to_cpu(ev->async_event) };
	struct hyv_qp *qp;
	struct hyv_cq *cq;
	struct hyv_srq *srq;

	switch (ie.event) {
	case IB_EVENT_QP_FATAL:
	case IB_EVENT_QP_REQ_ERR:
	case IB_EVENT_QP_ACCESS_ERR:
	case IB_EVENT_COMM_EST:
	case IB_EVENT_SQ_DRAINED:
	case IB_EVENT_PATH_MIG:
	case IB_EVENT_PATH_MIG_ERR:
	case IB_EVENT_QP_LAST_WQE_REACHED:
		qp = hyv_event_object(ev, &hdev->qps);
		if (!qp || qp->host_ctx != ctx || !qp->ibqp.event_handler)
			return;
		ie.element.qp = &qp->ibqp;
		qp->ibqp.event_handler(&ie, qp->ibqp.qp_context);
		return;
	case IB_EVENT_CQ_ERR:
		cq = hyv_event_object(ev, &hdev->cqs);
		if (!cq || cq->host_ctx != ctx || !cq->ibcq.event_handler)
			return;
		ie.element.cq = &cq->ibcq;
		cq->ibcq.event_handler(&ie, cq->ibcq.cq_context);
		return;
	case IB_EVENT_SRQ_ERR:
	case IB_EVENT_SRQ_LIMIT_REACHED:
		srq = hyv_event_object(ev, &hdev->srqs);
		if (!srq || srq->host_ctx != ctx || !srq->ibsrq.event_handler)
			return;
		ie.element.srq = &srq->ibsrq;
		srq->ibsrq.event_handler(&ie, srq->ibsrq.srq_context);
		return;
	case IB_EVENT_PORT_ACTIVE:
	case IB_EVENT_PORT_ERR:
	case IB_EVENT_LID_CHANGE:
	case IB_EVENT_PKEY_CHANGE:
	case IB_EVENT_SM_CHANGE:
	case IB_EVENT_CLIENT_REREGISTER:
	case IB_EVENT_GID_CHANGE:
	case IB_EVENT_DEVICE_FATAL:
		/* Every host context gets these; the device context's copy stands for the device. */
		if (ctx != hdev->dev_ctx || le64_to_cpu(ev->cookie) > hdev->ports)
			return;
		hyv_port_event_queue(hdev, ie.event, (u16)le64_to_cpu(ev->cookie));
		return;
	default:
		dev_dbg(hdev->dma_dev, "async event %u of context %u ignored\n", ie.event, ctx);
	}
}

static void hyv_event_deliver(struct hyv_dev *hdev, const struct hyv_event *ev)
{
	struct hyv_cq *cq;

	switch (le16_to_cpu(ev->type)) {
	case HYV_EVENT_COMPLETION:
		cq = hyv_event_object(ev, &hdev->cqs);
		/* Destroyed meanwhile, or another context's cookie: dropped. */
		if (cq && cq->host_ctx == le32_to_cpu(ev->ctx))
			hyv_cq_notify(cq);
		break;
	case HYV_EVENT_ASYNC:
		hyv_async_deliver(hdev, ev);
		break;
	case HYV_EVENT_CM:
		hyv_cm_event(hdev, le32_to_cpu(ev->ctx));
		break;
	}
}

static void hyv_port_work(struct work_struct *work)
{
	struct hyv_dev *hdev = container_of(work, struct hyv_dev, port_work);
	struct hyv_port_event pe;

	while (kfifo_out_spinlocked(&hdev->port_events, &pe, 1, &hdev->events_lock)) {
		struct ib_event ie = {
			.device = &hdev->ibdev,
			.event = pe.event,
			.element.port_num = pe.port,
		};

		ib_dispatch_event(&ie);
	}
}

/* Once the ib_device is registered: port events reach its clients from now on. */
void hyv_events_port_start(struct hyv_dev *hdev)
{
	spin_lock_irq(&hdev->events_lock);
	hdev->port_events_on = true;
	spin_unlock_irq(&hdev->events_lock);
}

/* Before the ib_device is unregistered: no port event is dispatched after this returns. */
void hyv_events_port_stop(struct hyv_dev *hdev)
{
	spin_lock_irq(&hdev->events_lock);
	hdev->port_events_on = false;
	spin_unlock_irq(&hdev->events_lock);
	cancel_work_sync(&hdev->port_work);
	kfifo_reset(&hdev->port_events);
}

/* The host device is gone (interrupt context). */
void hyv_events_device_fatal(struct hyv_dev *hdev)
{
	unsigned long flags;

	spin_lock_irqsave(&hdev->events_lock, flags);
	hyv_port_event_queue(hdev, IB_EVENT_DEVICE_FATAL, 1);
	spin_unlock_irqrestore(&hdev->events_lock, flags);
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
	xa_init_flags(&hdev->qps, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	xa_init_flags(&hdev->srqs, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	xa_init_flags(&hdev->cm_files, XA_FLAGS_LOCK_IRQ);
	INIT_KFIFO(hdev->port_events);
	INIT_WORK(&hdev->port_work, hyv_port_work);
	hdev->events = dma_alloc_coherent(hdev->dma_dev, HYV_GUEST_EVENT_RING_SIZE,
					  &hdev->events_dma, GFP_KERNEL);
	if (!hdev->events)
		return -ENOMEM;
	r.addr = cpu_to_le64(hdev->events_dma);
	r.entries = cpu_to_le32(HYV_GUEST_EVENT_ENTRIES);
	ret = hyv_cmd_exec_exact(hdev, HYV_OP_EVENT_RING, 0, &r, sizeof(r), NULL, 0);
	if (ret) {
		dev_warn(hdev->dma_dev, "the host takes no event ring (%d): events are off\n",
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
		/* Some events were not written: every CQ and rdma_cm file may have one. */
		WRITE_ONCE(hdr->overflow, 0);
		xa_for_each(&hdev->cqs, index, cq)
			hyv_cq_notify(cq);
		hyv_cm_event_all(hdev);
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
