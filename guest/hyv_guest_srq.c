// SPDX-License-Identifier: GPL-2.0-only
/*
 * Shared receive queues: host objects like CQs (hyv_guest_queues.c). The
 * host places the SRQ's ring in BAR2 and the provider posts receives to it
 * from the guest process, so ibv_post_srq_recv never traps.
 *
 * Resizing (IB_SRQ_MAX_WR) moves the SRQ to a new ring: the host places it in
 * BAR2 and answers with its mminfo; here it becomes a new mmap entry and the
 * provider, told through the address in its command, maps it and unmaps the
 * old one. The limit (IB_SRQ_LIMIT) is forwarded as is.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <rdma/ib_user_verbs.h>
#include <rdma/rdma_user_rxe.h>
#include <rdma/uverbs_ioctl.h>

#include "hyv_guest.h"

int hyv_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *attr, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibsrq->device);
	struct hyv_pd *pd = to_hpd(ibsrq->pd);
	struct hyv_srq *srq = to_hsrq(ibsrq);
	struct ib_uverbs_create_srq cmd = {
		.pd_handle = pd->host_handle,
		.max_wr = attr->attr.max_wr,
		.max_sge = attr->attr.max_sge,
		.srq_limit = attr->attr.srq_limit,
	};
	struct ib_uverbs_create_srq_resp r;
	const struct hyv_ring_create c = {
		.command = IB_USER_VERBS_CMD_CREATE_SRQ, .destroy = IB_USER_VERBS_CMD_DESTROY_SRQ,
		.cmd = &cmd, .cmd_len = sizeof(cmd), .resp = &r, .resp_len = sizeof(r),
		.drv_len = sizeof(struct rxe_create_srq_resp),
	};
	int ret;

	BUILD_BUG_ON(offsetof(struct ib_uverbs_create_srq_resp, srq_handle) != 0);
	BUILD_BUG_ON(offsetof(struct rxe_create_srq_resp, mi) != 0);
	if (attr->srq_type != IB_SRQT_BASIC) {
		ibdev_dbg(ibsrq->device, "create_srq refused: SRQ type %d\n", attr->srq_type);
		return -EOPNOTSUPP;
	}
	srq->host_ctx = hyv_udata_ctx(hdev, udata);
	/* Host handles name objects of one host context only. */
	if (pd->host_ctx != srq->host_ctx) {
		ibdev_dbg(ibsrq->device, "create_srq refused: PD of another context\n");
		return -EINVAL;
	}
	ret = hyv_events_track(&hdev->srqs, srq, &srq->cookie);
	if (ret)
		return ret;
	cmd.user_handle = srq->cookie;
	ret = hyv_create_with_ring(hdev, srq->host_ctx, &c, udata, &srq->ring);
	if (ret) {
		hyv_events_untrack(hdev, &hdev->srqs, srq->cookie);
		return ret;
	}
	srq->host_handle = r.srq_handle;
	attr->attr.max_wr = r.max_wr;
	attr->attr.max_sge = r.max_sge;
	return 0;
}

/*
 * The host's answer is the new ring's mminfo (rxe's layout); its offset
 * becomes the key of a new mmap entry, which the provider finds at the
 * address its command named. The old ring's entry goes once the provider
 * unmaps it (hyv_mmap_free releases its BAR2 range).
 */
static int hyv_resize_srq(struct hyv_srq *srq, struct ib_srq_attr *attr,
			  enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(srq->ibsrq.device);
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_modify_srq cmd;
		struct rxe_modify_srq_cmd rxe;	/* the host fills in the address */
	} c = {
		.hdr = { .command = IB_USER_VERBS_CMD_MODIFY_SRQ, .in_words = sizeof(c) / 4 },
		.cmd = { .srq_handle = srq->host_handle, .attr_mask = mask, .max_wr = attr->max_wr,
			 .srq_limit = attr->srq_limit },
	};
	struct rxe_modify_srq_cmd ucmd;
	struct hyv_mmap_entry *ring;
	struct mminfo mi;
	int ret;

	if (!udata || udata->inlen < sizeof(ucmd)) {
		ibdev_dbg(srq->ibsrq.device, "modify_srq refused: a resize without rxe's command\n");
		return -EINVAL;
	}
	ret = ib_copy_from_udata(&ucmd, udata, sizeof(ucmd));
	if (ret)
		return ret;
	ret = hyv_cmd_exec_exact(hdev, HYV_OP_UVERBS_WRITE, srq->host_ctx, &c, sizeof(c), &mi,
				 sizeof(mi));
	if (ret)
		return ret;
	ret = hyv_ring_insert_required(hdev, udata, &mi, &ring);
	if (ret)
		return ret;
	if (copy_to_user(u64_to_user_ptr(ucmd.mmap_info_addr), &mi, sizeof(mi))) {
		hyv_ring_remove(ring);
		return -EFAULT;
	}
	hyv_ring_remove(srq->ring);
	srq->ring = ring;
	return 0;
}

int hyv_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr, enum ib_srq_attr_mask mask,
		   struct ib_udata *udata)
{
	struct hyv_srq *srq = to_hsrq(ibsrq);
	struct ib_uverbs_modify_srq cmd = {
		.srq_handle = srq->host_handle,
		.attr_mask = mask,
		.max_wr = attr->max_wr,
		.srq_limit = attr->srq_limit,
	};
	struct ib_udata in_only;

	if (mask & IB_SRQ_MAX_WR)
		return hyv_resize_srq(srq, attr, mask, udata);
	/* MODIFY_SRQ has no response: only provider input is passed on. */
	if (udata) {
		in_only = *udata;
		in_only.outlen = 0;
	}
	return hyv_uverbs_cmd(to_hdev(ibsrq->device), srq->host_ctx, IB_USER_VERBS_CMD_MODIFY_SRQ,
			      &cmd, sizeof(cmd), udata ? &in_only : NULL, NULL, 0);
}

int hyv_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct hyv_srq *srq = to_hsrq(ibsrq);
	struct ib_uverbs_query_srq cmd = { .srq_handle = srq->host_handle };
	struct ib_uverbs_query_srq_resp r;
	int ret;

	ret = hyv_uverbs_cmd(to_hdev(ibsrq->device), srq->host_ctx, IB_USER_VERBS_CMD_QUERY_SRQ,
			     &cmd, sizeof(cmd), NULL, &r, sizeof(r));
	if (ret)
		return ret;
	attr->max_wr = r.max_wr;
	attr->max_sge = r.max_sge;
	attr->srq_limit = r.srq_limit;
	return 0;
}

int hyv_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibsrq->device);
	struct hyv_srq *srq = to_hsrq(ibsrq);
	int ret;

	ret = hyv_destroy_with_ring(hdev, srq->host_ctx, IB_USER_VERBS_CMD_DESTROY_SRQ,
				    srq->host_handle, srq->ring);
	if (!ret)
		hyv_events_untrack(hdev, &hdev->srqs, srq->cookie);
	return ret;
}
