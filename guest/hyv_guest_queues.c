// SPDX-License-Identifier: GPL-2.0-only
/*
 * CQs and QPs: forwarded to the host, where they are the host device's own
 * user objects. Their rings stay where the host provider put them; the host
 * places the ring pages in BAR2 and returns the provider's mmap info (rxe:
 * struct mminfo) with the BAR2 offset. Here each ring becomes an
 * rdma_user_mmap_entry of the process's context, whose key replaces the
 * offset before the provider sees it; the provider's mmap of that key maps
 * the BAR2 pages (rdma_user_mmap_io(), so an unplug zaps them). Polling,
 * posting receives and posting sends then never leave the guest process
 * except for rxe's send kick, a POST_SEND with no work requests.
 *
 * Only user objects: kernel consumers would need the driver to poll and
 * post, which it does not.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <rdma/ib_user_verbs.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/rdma_user_rxe.h>
#include <rdma/uverbs_ioctl.h>

#include "hyv_guest.h"

/* Rings are described in rxe's mminfo layout; other providers' are unknown. */
static bool hyv_rings_supported(struct hyv_dev *hdev)
{
	return hdev->host_driver_id == RDMA_DRIVER_RXE;
}

/*
 * A ring the host placed at BAR2 + mi->offset: registered as an mmap entry
 * of the process's context, mi->offset rewritten to the entry's key. An
 * unused mminfo (size 0) gets no entry (NULL).
 */
static struct hyv_mmap_entry *hyv_ring_insert(struct hyv_dev *hdev, struct ib_udata *udata,
					      struct mminfo *mi)
{
	struct hyv_ucontext *uctx = rdma_udata_to_drv_context(udata, struct hyv_ucontext, ibuc);
	struct hyv_mmap_entry *e;
	int ret;

	if (!mi->size)
		return NULL;
	if (!uctx || !PAGE_ALIGNED(mi->offset) || !PAGE_ALIGNED(mi->size) ||
	    mi->offset >= hdev->bar2_len || mi->size > hdev->bar2_len - mi->offset)
		return ERR_PTR(-EPROTO);
	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return ERR_PTR(-ENOMEM);
	e->hdev = hdev;
	e->host_ctx = uctx->host_ctx;
	e->bar_offset = mi->offset;
	ret = rdma_user_mmap_entry_insert(&uctx->ibuc, &e->rdma, mi->size);
	if (ret) {
		kfree(e);
		return ERR_PTR(ret);
	}
	mi->offset = rdma_user_mmap_get_offset(&e->rdma);
	return e;
}

/* A ring the object cannot do without: none (size 0) is the host's protocol error. */
int hyv_ring_insert_required(struct hyv_dev *hdev, struct ib_udata *udata, struct mminfo *mi,
			     struct hyv_mmap_entry **ring)
{
	struct hyv_mmap_entry *e = hyv_ring_insert(hdev, udata, mi);

	*ring = NULL;
	if (IS_ERR(e))
		return PTR_ERR(e);
	if (!e)
		return -EPROTO;
	*ring = e;
	return 0;
}

void hyv_ring_remove(struct hyv_mmap_entry *e)
{
	if (e)
		rdma_user_mmap_entry_remove(&e->rdma);
}

/*
 * The ring's object is destroyed and no process maps it any more: only now
 * may the host place another ring at these BAR2 pages (which another process
 * could then map).
 */
void hyv_mmap_free(struct rdma_user_mmap_entry *rdma)
{
	struct hyv_mmap_entry *e = to_hmmap(rdma);
	struct hyv_window_release r = { .offset = cpu_to_le64(e->bar_offset) };
	int ret;

	ret = hyv_cmd_exec(e->hdev, HYV_OP_WINDOW_RELEASE, e->host_ctx, &r, sizeof(r), NULL, 0,
			   NULL, NULL);
	/* Gone host or context: the host freed the range with it. */
	if (ret && ret != -ENODEV)
		dev_dbg(&e->hdev->vdev->dev, "releasing BAR2 range %#llx: %d\n", e->bar_offset, ret);
	kfree(e);
}

/*
 * BAR2 is host memory (the host's ring pages), not device registers, so
 * the mapping keeps the normal cacheable protection.
 */
int hyv_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma)
{
	struct hyv_dev *hdev = to_hdev(ibuc->device);
	struct rdma_user_mmap_entry *rdma;
	struct hyv_mmap_entry *e;
	int ret;

	/* Only this context's entries, and only at their exact size. */
	rdma = rdma_user_mmap_entry_get(ibuc, vma);
	if (!rdma)
		return -EINVAL;
	e = to_hmmap(rdma);
	ret = rdma_user_mmap_io(ibuc, vma, PHYS_PFN(hdev->bar2_start + e->bar_offset),
				vma->vm_end - vma->vm_start, vma->vm_page_prot, rdma);
	rdma_user_mmap_entry_put(rdma);
	return ret;
}

static int hyv_host_destroy(struct hyv_dev *hdev, u32 ctx, u32 command, u32 handle)
{
	/* DESTROY_CQ, DESTROY_QP and DESTROY_SRQ: the handle follows the response pointer. */
	struct ib_uverbs_destroy_cq cmd = { .cq_handle = handle };
	union {
		struct ib_uverbs_destroy_cq_resp cq;
		struct ib_uverbs_destroy_qp_resp qp;
		struct ib_uverbs_destroy_srq_resp srq;
	} r;
	u32 resp_len;
	int ret;

	BUILD_BUG_ON(sizeof(struct ib_uverbs_destroy_cq) != sizeof(struct ib_uverbs_destroy_qp));
	BUILD_BUG_ON(sizeof(struct ib_uverbs_destroy_cq) != sizeof(struct ib_uverbs_destroy_srq));
	BUILD_BUG_ON(offsetof(struct ib_uverbs_destroy_cq, cq_handle) !=
		     offsetof(struct ib_uverbs_destroy_qp, qp_handle));
	BUILD_BUG_ON(offsetof(struct ib_uverbs_destroy_cq, cq_handle) !=
		     offsetof(struct ib_uverbs_destroy_srq, srq_handle));
	switch (command) {
	case IB_USER_VERBS_CMD_DESTROY_CQ:
		resp_len = sizeof(r.cq);
		break;
	case IB_USER_VERBS_CMD_DESTROY_QP:
		resp_len = sizeof(r.qp);
		break;
	default:
		resp_len = sizeof(r.srq);
		break;
	}
	ret = hyv_uverbs_cmd(hdev, ctx, command, &cmd, sizeof(cmd), NULL, &r, resp_len);
	/* A gone host destroyed everything with the context. */
	return ret == -ENODEV ? 0 : ret;
}

/*
 * A host object with one ring, whose mminfo opens the provider's response
 * (CQ, SRQ): runs the create command, places the ring in the process's mmap
 * space and hands the provider its response. On failure nothing is left on
 * the host.
 */
int hyv_create_with_ring(struct hyv_dev *hdev, u32 ctx, const struct hyv_ring_create *c,
			 struct ib_udata *udata, struct hyv_mmap_entry **ring)
{
	u32 handle;
	u8 *drv;
	int ret;

	*ring = NULL;
	if (!udata || !hyv_rings_supported(hdev)) {
		ibdev_dbg(&hdev->ibdev, "uverbs command %u refused: kernel object or rings of an unknown provider\n",
			  c->command);
		return -EOPNOTSUPP;
	}
	/* The command buffer bounds what the host can return anyway. */
	if (udata->outlen < c->drv_len || udata->outlen > HYV_CMD_MAX_LEN) {
		ibdev_dbg(&hdev->ibdev, "uverbs command %u refused: provider response of %zu bytes\n",
			  c->command, udata->outlen);
		return -EINVAL;
	}
	drv = kzalloc(udata->outlen, GFP_KERNEL);
	if (!drv)
		return -ENOMEM;
	ret = hyv_uverbs_cmd_drv(hdev, ctx, c->command, c->cmd, c->cmd_len, udata, c->resp,
				 c->resp_len, drv);
	if (ret)
		goto out;
	/* Both responses start with the new object's handle. */
	memcpy(&handle, c->resp, sizeof(handle));

	ret = hyv_ring_insert_required(hdev, udata, (struct mminfo *)drv, ring);
	if (ret)
		goto err_destroy;
	ret = ib_copy_to_udata(udata, drv, udata->outlen);
	if (ret)
		goto err_destroy;
	kfree(drv);
	return 0;

err_destroy:
	/* Host first: the entry's release is refused while the ring is live. */
	hyv_host_destroy(hdev, ctx, c->destroy, handle);
	hyv_ring_remove(*ring);
	*ring = NULL;
out:
	kfree(drv);
	return ret;
}

int hyv_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibcq->device);
	struct hyv_cq *cq = to_hcq(ibcq);
	/* The host puts every CQ on the context's own completion channel. */
	struct ib_uverbs_create_cq cmd = { .cqe = attr->cqe, .comp_channel = -1 };
	struct ib_uverbs_create_cq_resp r;
	const struct hyv_ring_create c = {
		.command = IB_USER_VERBS_CMD_CREATE_CQ, .destroy = IB_USER_VERBS_CMD_DESTROY_CQ,
		.cmd = &cmd, .cmd_len = sizeof(cmd), .resp = &r, .resp_len = sizeof(r),
		.drv_len = sizeof(struct rxe_create_cq_resp),
	};
	int ret;

	BUILD_BUG_ON(offsetof(struct ib_uverbs_create_cq_resp, cq_handle) != 0);
	BUILD_BUG_ON(offsetof(struct rxe_create_cq_resp, mi) != 0);
	if (attr->flags) {
		ibdev_dbg(ibcq->device, "create_cq refused: flags %#x\n", attr->flags);
		return -EOPNOTSUPP;
	}
	cq->host_ctx = hyv_udata_ctx(hdev, udata);
	ret = hyv_events_track(&hdev->cqs, cq, &cq->cookie);
	if (ret)
		return ret;
	cmd.user_handle = cq->cookie;
	ret = hyv_create_with_ring(hdev, cq->host_ctx, &c, udata, &cq->ring);
	if (ret) {
		hyv_events_untrack(hdev, &hdev->cqs, cq->cookie);
		return ret;
	}
	cq->host_handle = r.cq_handle;
	ibcq->cqe = r.cqe;
	return 0;
}

/* The object, then its ring: the host refuses the ring's release while the object lives. */
int hyv_destroy_with_ring(struct hyv_dev *hdev, u32 ctx, u32 destroy, u32 handle,
			  struct hyv_mmap_entry *ring)
{
	int ret;

	ret = hyv_host_destroy(hdev, ctx, destroy, handle);
	if (ret)
		return ret;
	hyv_ring_remove(ring);
	return 0;
}

int hyv_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibcq->device);
	struct hyv_cq *cq = to_hcq(ibcq);
	int ret;

	ret = hyv_destroy_with_ring(hdev, cq->host_ctx, IB_USER_VERBS_CMD_DESTROY_CQ,
				    cq->host_handle, cq->ring);
	if (!ret)
		hyv_events_untrack(hdev, &hdev->cqs, cq->cookie);
	return ret;
}

int hyv_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *attr, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibqp->device);
	struct hyv_qp *qp = to_hqp(ibqp);
	struct hyv_pd *pd = to_hpd(ibqp->pd);
	struct ib_uverbs_create_qp cmd = {};
	struct ib_uverbs_create_qp_resp r;
	struct rxe_create_qp_resp *ur;
	struct hyv_cq *scq, *rcq;
	struct hyv_srq *srq;
	u8 *drv;
	int ret;

	if (!udata || !hyv_rings_supported(hdev) || attr->create_flags || attr->rwq_ind_tbl ||
	    attr->xrcd) {
		ibdev_dbg(ibqp->device, "create_qp refused: kernel QP, create flags %#x, RSS or XRC\n",
			  attr->create_flags);
		return -EOPNOTSUPP;
	}
	switch (attr->qp_type) {
	case IB_QPT_RC:
	case IB_QPT_UC:
	case IB_QPT_UD:
		break;
	default:
		ibdev_dbg(ibqp->device, "create_qp refused: QP type %d\n", attr->qp_type);
		return -EOPNOTSUPP;
	}
	if (!attr->send_cq || !attr->recv_cq || udata->outlen < sizeof(*ur) ||
	    udata->outlen > HYV_CMD_MAX_LEN) {
		ibdev_dbg(ibqp->device, "create_qp refused: no CQs, or provider response of %zu bytes\n",
			  udata->outlen);
		return -EINVAL;
	}
	qp->host_ctx = hyv_udata_ctx(hdev, udata);
	scq = to_hcq(attr->send_cq);
	rcq = to_hcq(attr->recv_cq);
	srq = attr->srq ? to_hsrq(attr->srq) : NULL;
	/* Host handles name objects of one host context only. */
	if (pd->host_ctx != qp->host_ctx || scq->host_ctx != qp->host_ctx ||
	    rcq->host_ctx != qp->host_ctx || (srq && srq->host_ctx != qp->host_ctx)) {
		ibdev_dbg(ibqp->device, "create_qp refused: PD, CQs or SRQ of another context\n");
		return -EINVAL;
	}
	if (srq) {
		/* Receives come from the SRQ: the host QP gets no receive ring (rq_mi size 0). */
		cmd.srq_handle = srq->host_handle;
		cmd.is_srq = 1;
	}

	cmd.pd_handle = pd->host_handle;
	cmd.send_cq_handle = scq->host_handle;
	cmd.recv_cq_handle = rcq->host_handle;
	cmd.max_send_wr = attr->cap.max_send_wr;
	cmd.max_recv_wr = attr->cap.max_recv_wr;
	cmd.max_send_sge = attr->cap.max_send_sge;
	cmd.max_recv_sge = attr->cap.max_recv_sge;
	cmd.max_inline_data = attr->cap.max_inline_data;
	cmd.sq_sig_all = attr->sq_sig_type == IB_SIGNAL_ALL_WR;
	cmd.qp_type = attr->qp_type;

	drv = kzalloc(udata->outlen, GFP_KERNEL);
	if (!drv)
		return -ENOMEM;
	ret = hyv_events_track(&hdev->qps, qp, &qp->cookie);
	if (ret)
		goto out;
	cmd.user_handle = qp->cookie;
	ret = hyv_uverbs_cmd_drv(hdev, qp->host_ctx, IB_USER_VERBS_CMD_CREATE_QP, &cmd, sizeof(cmd),
				 udata, &r, sizeof(r), drv);
	if (ret)
		goto err_untrack;
	qp->host_handle = r.qp_handle;
	/* The host's QP number: the one peers must address. */
	ibqp->qp_num = r.qpn;
	attr->cap.max_send_wr = r.max_send_wr;
	attr->cap.max_recv_wr = r.max_recv_wr;
	attr->cap.max_send_sge = r.max_send_sge;
	attr->cap.max_recv_sge = r.max_recv_sge;
	attr->cap.max_inline_data = r.max_inline_data;

	ur = (struct rxe_create_qp_resp *)drv;
	qp->rq = hyv_ring_insert(hdev, udata, &ur->rq_mi);
	if (IS_ERR(qp->rq)) {
		ret = PTR_ERR(qp->rq);
		qp->rq = NULL;
		goto err_destroy;
	}
	ret = hyv_ring_insert_required(hdev, udata, &ur->sq_mi, &qp->sq);
	if (ret)
		goto err_destroy;
	ret = ib_copy_to_udata(udata, drv, udata->outlen);
	if (ret)
		goto err_destroy;
	ret = hyv_unplug_track_qp(hdev, qp);
	if (ret)
		goto err_destroy;
	kfree(drv);
	return 0;

err_destroy:
	/* Host first: the entries' release is refused while the rings are live. */
	hyv_host_destroy(hdev, qp->host_ctx, IB_USER_VERBS_CMD_DESTROY_QP, qp->host_handle);
	hyv_ring_remove(qp->sq);
	hyv_ring_remove(qp->rq);
err_untrack:
	hyv_events_untrack(hdev, &hdev->qps, qp->cookie);
out:
	kfree(drv);
	return ret;
}

int hyv_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibqp->device);
	struct hyv_qp *qp = to_hqp(ibqp);
	int ret;

	/*
	 * Untracked first, whatever the host says: ib_core frees a QP whose
	 * destroy failed during cleanup, and neither the unplug flush nor an
	 * event may touch it.
	 */
	hyv_unplug_untrack_qp(hdev, qp);
	hyv_events_untrack(hdev, &hdev->qps, qp->cookie);
	ret = hyv_host_destroy(hdev, qp->host_ctx, IB_USER_VERBS_CMD_DESTROY_QP,
			       qp->host_handle);
	if (ret)
		return ret;
	hyv_ring_remove(qp->sq);
	hyv_ring_remove(qp->rq);
	return 0;
}

/*
 * Address vectors: ib_core hands over IB-type attributes (the port mirrors
 * the host's GIDs) or RoCE ones (the guest's net device, whose MAC the guest
 * resolved; docs/control-path.md, "GIDs"). The host rebuilds them for its
 * RoCE port from the uverbs dest (GID index, DGID, ...), maps the guest's GID
 * index to its own and resolves the destination MAC itself.
 */
void hyv_ah_to_dest(const struct rdma_ah_attr *ah, struct ib_uverbs_qp_dest *d)
{
	const struct ib_global_route *grh;

	d->dlid = rdma_ah_get_dlid(ah);
	d->sl = rdma_ah_get_sl(ah);
	d->src_path_bits = rdma_ah_get_path_bits(ah);
	d->static_rate = rdma_ah_get_static_rate(ah);
	d->port_num = rdma_ah_get_port_num(ah);
	d->is_global = !!(rdma_ah_get_ah_flags(ah) & IB_AH_GRH);
	if (!d->is_global)
		return;
	grh = rdma_ah_read_grh(ah);
	memcpy(d->dgid, grh->dgid.raw, sizeof(d->dgid));
	d->flow_label = grh->flow_label;
	d->sgid_index = grh->sgid_index;
	d->hop_limit = grh->hop_limit;
	d->traffic_class = grh->traffic_class;
}

static void hyv_dest_to_ah(struct ib_device *ibdev, const struct ib_uverbs_qp_dest *d,
			   struct rdma_ah_attr *ah)
{
	union ib_gid dgid;

	memset(ah, 0, sizeof(*ah));
	/* A QP in RESET has port 0, which has no protocol. */
	ah->type = rdma_is_port_valid(ibdev, d->port_num) ? rdma_ah_find_type(ibdev, d->port_num) :
							     RDMA_AH_ATTR_TYPE_IB;
	/* On a RoCE port the union holds the MAC instead (zero: the host resolves it). */
	if (ah->type == RDMA_AH_ATTR_TYPE_IB) {
		rdma_ah_set_dlid(ah, d->dlid);
		rdma_ah_set_path_bits(ah, d->src_path_bits);
	}
	rdma_ah_set_sl(ah, d->sl);
	rdma_ah_set_static_rate(ah, d->static_rate);
	rdma_ah_set_port_num(ah, d->port_num);
	if (d->is_global) {
		memcpy(dgid.raw, d->dgid, sizeof(dgid.raw));
		rdma_ah_set_grh(ah, &dgid, d->flow_label, d->sgid_index, d->hop_limit,
				d->traffic_class);
	}
}

int hyv_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask, struct ib_udata *udata)
{
	struct hyv_qp *qp = to_hqp(ibqp);
	struct ib_uverbs_modify_qp cmd = {
		.qp_handle = qp->host_handle,
		.attr_mask = mask,
		.qkey = attr->qkey,
		.rq_psn = attr->rq_psn,
		.sq_psn = attr->sq_psn,
		.dest_qp_num = attr->dest_qp_num,
		.qp_access_flags = attr->qp_access_flags,
		.pkey_index = attr->pkey_index,
		.alt_pkey_index = attr->alt_pkey_index,
		.qp_state = attr->qp_state,
		.cur_qp_state = attr->cur_qp_state,
		.path_mtu = attr->path_mtu,
		.path_mig_state = attr->path_mig_state,
		.en_sqd_async_notify = attr->en_sqd_async_notify,
		.max_rd_atomic = attr->max_rd_atomic,
		.max_dest_rd_atomic = attr->max_dest_rd_atomic,
		.min_rnr_timer = attr->min_rnr_timer,
		.port_num = attr->port_num,
		.timeout = attr->timeout,
		.retry_cnt = attr->retry_cnt,
		.rnr_retry = attr->rnr_retry,
		.alt_port_num = attr->alt_port_num,
		.alt_timeout = attr->alt_timeout,
	};
	struct ib_udata in_only;

	if (mask & IB_QP_AV)
		hyv_ah_to_dest(&attr->ah_attr, &cmd.dest);
	if (mask & IB_QP_ALT_PATH)
		hyv_ah_to_dest(&attr->alt_ah_attr, &cmd.alt_dest);
	/* MODIFY_QP has no response: only provider input is passed on. */
	if (udata) {
		in_only = *udata;
		in_only.outlen = 0;
	}
	return hyv_uverbs_cmd(to_hdev(ibqp->device), qp->host_ctx, IB_USER_VERBS_CMD_MODIFY_QP,
			      &cmd, sizeof(cmd), udata ? &in_only : NULL, NULL, 0);
}

int hyv_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		 struct ib_qp_init_attr *init_attr)
{
	struct hyv_qp *qp = to_hqp(ibqp);
	struct ib_uverbs_query_qp cmd = { .qp_handle = qp->host_handle, .attr_mask = mask };
	struct ib_uverbs_query_qp_resp r;
	int ret;

	ret = hyv_uverbs_cmd(to_hdev(ibqp->device), qp->host_ctx, IB_USER_VERBS_CMD_QUERY_QP, &cmd,
			     sizeof(cmd), NULL, &r, sizeof(r));
	if (ret)
		return ret;

	memset(attr, 0, sizeof(*attr));
	attr->qp_state = r.qp_state;
	attr->cur_qp_state = r.cur_qp_state;
	attr->path_mtu = r.path_mtu;
	attr->path_mig_state = r.path_mig_state;
	attr->qkey = r.qkey;
	attr->rq_psn = r.rq_psn;
	attr->sq_psn = r.sq_psn;
	attr->dest_qp_num = r.dest_qp_num;
	attr->qp_access_flags = r.qp_access_flags;
	attr->cap.max_send_wr = r.max_send_wr;
	attr->cap.max_recv_wr = r.max_recv_wr;
	attr->cap.max_send_sge = r.max_send_sge;
	attr->cap.max_recv_sge = r.max_recv_sge;
	attr->cap.max_inline_data = r.max_inline_data;
	hyv_dest_to_ah(ibqp->device, &r.dest, &attr->ah_attr);
	hyv_dest_to_ah(ibqp->device, &r.alt_dest, &attr->alt_ah_attr);
	attr->pkey_index = r.pkey_index;
	attr->alt_pkey_index = r.alt_pkey_index;
	attr->en_sqd_async_notify = 0;
	attr->sq_draining = r.sq_draining;
	attr->max_rd_atomic = r.max_rd_atomic;
	attr->max_dest_rd_atomic = r.max_dest_rd_atomic;
	attr->min_rnr_timer = r.min_rnr_timer;
	attr->port_num = r.port_num;
	attr->timeout = r.timeout;
	attr->retry_cnt = r.retry_cnt;
	attr->rnr_retry = r.rnr_retry;
	attr->alt_port_num = r.alt_port_num;
	attr->alt_timeout = r.alt_timeout;

	memset(init_attr, 0, sizeof(*init_attr));
	init_attr->qp_type = ibqp->qp_type;
	init_attr->send_cq = ibqp->send_cq;
	init_attr->recv_cq = ibqp->recv_cq;
	init_attr->cap = attr->cap;
	init_attr->sq_sig_type = r.sq_sig_all ? IB_SIGNAL_ALL_WR : IB_SIGNAL_REQ_WR;
	return 0;
}

/*
 * rxe's userspace writes work requests into the mapped send ring and then
 * kicks the host with a POST_SEND that carries none; that kick is forwarded.
 * Work requests through the driver (kernel QPs, or a userspace that passes
 * them) are not supported.
 */
int hyv_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		  const struct ib_send_wr **bad_wr)
{
	struct hyv_dev *hdev = to_hdev(ibqp->device);
	struct hyv_qp *qp = to_hqp(ibqp);
	struct ib_uverbs_post_send cmd = {
		.qp_handle = qp->host_handle,
		.wqe_size = sizeof(struct ib_uverbs_send_wr),
	};
	struct ib_uverbs_post_send_resp r;

	if (wr) {
		ibdev_dbg(ibqp->device, "post_send refused: work requests from a kernel consumer\n");
		*bad_wr = wr;
		return -EOPNOTSUPP;
	}
	if (READ_ONCE(hdev->dead))
		return -ENODEV;
	/* The data path's one trap: a single write, nothing read back (hyv_abi.h). */
	if (qp->host_handle <= HYV_KICK_HANDLE_MASK && qp->host_ctx < HYV_MAX_CONTEXTS) {
		iowrite32(qp->host_ctx << HYV_KICK_CTX_SHIFT | qp->host_handle,
			  hdev->ctrl + HYV_CTRL_SEND_KICK);
		return 0;
	}
	return hyv_uverbs_cmd(hdev, qp->host_ctx, IB_USER_VERBS_CMD_POST_SEND, &cmd, sizeof(cmd),
			      NULL, &r, sizeof(r));
}
