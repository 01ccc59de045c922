// SPDX-License-Identifier: GPL-2.0-only
/*
 * The uverbs relay's knowledge of each command a guest may run: the
 * allow-list, each command's fixed sizes, the fields forced or checked before
 * it runs, and the queue mapping after it ran.
 *
 * Queue mapping (rxe): a command that creates a CQ, QP or SRQ returns the
 * provider's struct mminfo (offset and size of the object's ring in the host
 * uverbs file's mmap space) after the uverbs response. The host maps the
 * uverbs file at that offset into QEMU's address space for a moment (a hidden
 * mapping), takes references on the ring pages, drops the mapping and places
 * the pages in BAR2 (hyv_window.c); mminfo.offset is rewritten to the BAR2
 * byte offset before the guest sees it. Destroying the object takes the
 * pages back out of BAR2 (the range stays reserved until the guest releases
 * it); closing the context frees everything.
 */
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/slab.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/rdma_user_rxe.h>

#include "hyv_mdev.h"

/* Window pages owned by one ring of one host object. */
struct hyv_qmap {
	struct list_head entry;		/* hyv_context.qmaps */
	u32 creator;			/* the command that created the object */
	u32 handle;			/* its host uverbs handle */
	u32 first, npages;		/* BAR2 pages */
	/* The object is gone, the pages reserved until the guest releases them. */
	bool retired;
};

/**
 * struct hyv_uverbs_cmd_desc - one allow-listed uverbs write command
 * @command: IB_USER_VERBS_CMD_* number
 * @req_size: the command struct after ib_uverbs_cmd_hdr; the payload must
 *	hold at least that
 * @resp_size: the command's own response (0: the command has no response
 *	pointer); the response buffer must hold it, plus @nr_mminfo mminfos
 * @exact: the payload is exactly @req_size (no provider udata)
 * @nr_mminfo: provider mminfo structs after the response: rings the host
 *	places in BAR2
 * @destroy: for commands that create a mapped object, the command that
 *	destroys it (rollback)
 * @creator: for destroy commands, the command whose objects they destroy;
 *	the handle follows the response pointer
 * @fixup: checks or forces fields of the command before it runs
 * @fix_resp: rewrites host values in the command's response for the guest
 * @quota: the command's effect on the quota of @res
 * @res: the resource @quota counts
 */
struct hyv_uverbs_cmd_desc {
	u32 command;
	u32 req_size;
	u32 resp_size;
	bool exact;
	u32 nr_mminfo;
	u32 destroy;
	u32 creator;
	int (*fixup)(struct hyv_instance *inst, void *cmd);
	void (*fix_resp)(struct hyv_instance *inst, const void *cmd, void *resp);
	enum hyv_quota_effect quota;
	enum hyv_resource res;
};


/*
 * Only the kick of a user QP (rxe's userspace posts to its mapped ring and
 * then writes a POST_SEND with no work requests): work requests would carry
 * guest addresses. wqe_size is unused without WRs; uverbs allocates it, so it
 * is pinned to the smallest valid value.
 */
static int hyv_fixup_post_send(struct hyv_instance *inst, void *cmd)
{
	struct ib_uverbs_post_send *c = cmd;

	if (c->wr_count || c->sge_count)
		return -EOPNOTSUPP;
	c->wqe_size = sizeof(struct ib_uverbs_send_wr);
	return 0;
}

/* The limit and the size may change (a resize: hyv_uverbs_resize_srq()). */
static int hyv_fixup_modify_srq(struct hyv_instance *inst, void *cmd)
{
	struct ib_uverbs_modify_srq *c = cmd;

	return c->attr_mask & ~(IB_SRQ_LIMIT | IB_SRQ_MAX_WR) ? -EOPNOTSUPP : 0;
}

/*
 * A source GID index in an address the guest names is its own index
 * (hyv_gid.c): it becomes the host's, or the command is refused.
 */
static int hyv_sgid_to_host(struct hyv_instance *inst, u8 is_global, u8 port, __u8 *sgid_index)
{
	u32 host_index;
	int ret;

	if (!is_global)
		return 0;
	ret = hyv_gid_to_host(inst, port, *sgid_index, &host_index);
	if (ret)
		return ret;
	if (host_index > U8_MAX)	/* uverbs carries a u8 */
		return -EINVAL;
	*sgid_index = host_index;
	return 0;
}

/*
 * ib_core checks the rest of an address handle on the host: the port, the
 * GRH a RoCE port needs, the GID entry; it resolves the destination MAC
 * itself. The reserved fields are zeroed for uverbs.
 */
static int hyv_fixup_create_ah(struct hyv_instance *inst, void *cmd)
{
	struct ib_uverbs_create_ah *c = cmd;

	c->reserved = 0;
	c->attr.reserved = 0;
	c->attr.grh.reserved = 0;
	return hyv_sgid_to_host(inst, c->attr.is_global, c->attr.port_num, &c->attr.grh.sgid_index);
}

static int hyv_fixup_modify_qp(struct hyv_instance *inst, void *cmd)
{
	struct ib_uverbs_modify_qp *c = cmd;
	int ret;

	if (c->attr_mask & IB_QP_AV) {
		ret = hyv_sgid_to_host(inst, c->dest.is_global, c->dest.port_num,
				       &c->dest.sgid_index);
		if (ret)
			return ret;
	}
	if (c->attr_mask & IB_QP_ALT_PATH)
		return hyv_sgid_to_host(inst, c->alt_dest.is_global, c->alt_dest.port_num,
					&c->alt_dest.sgid_index);
	return 0;
}

/* The host index in a path the guest reads back becomes the guest's again. */
static void hyv_sgid_to_guest(struct hyv_instance *inst, struct ib_uverbs_qp_dest *dest)
{
	u32 guest_index;

	if (!dest->is_global)
		return;
	if (hyv_gid_to_guest(inst, dest->port_num, dest->sgid_index, &guest_index))
		guest_index = 0;	/* the identity changed since: no index of its own */
	dest->sgid_index = guest_index;
}

static void hyv_fix_resp_query_qp(struct hyv_instance *inst, const void *cmd, void *resp)
{
	struct ib_uverbs_query_qp_resp *r = resp;

	hyv_sgid_to_guest(inst, &r->dest);
	hyv_sgid_to_guest(inst, &r->alt_dest);
}

static const struct hyv_uverbs_cmd_desc hyv_uverbs_allowed[] = {
	{ .command = IB_USER_VERBS_CMD_GET_CONTEXT, .req_size = sizeof(struct ib_uverbs_get_context),
	  .resp_size = sizeof(struct ib_uverbs_get_context_resp) },
	{ .command = IB_USER_VERBS_CMD_QUERY_DEVICE, .req_size = sizeof(struct ib_uverbs_query_device),
	  .resp_size = sizeof(struct ib_uverbs_query_device_resp) },
	{ .command = IB_USER_VERBS_CMD_QUERY_PORT, .req_size = sizeof(struct ib_uverbs_query_port),
	  .resp_size = sizeof(struct ib_uverbs_query_port_resp) },
	{ .command = IB_USER_VERBS_CMD_ALLOC_PD, .req_size = sizeof(struct ib_uverbs_alloc_pd),
	  .resp_size = sizeof(struct ib_uverbs_alloc_pd_resp),
	  .quota = HYV_QUOTA_CREATES, .res = HYV_RES_PD },
	{ .command = IB_USER_VERBS_CMD_DEALLOC_PD, .req_size = sizeof(struct ib_uverbs_dealloc_pd),
	  .exact = true, .quota = HYV_QUOTA_DESTROYS, .res = HYV_RES_PD },
	{ .command = IB_USER_VERBS_CMD_CREATE_CQ, .req_size = sizeof(struct ib_uverbs_create_cq),
	  .resp_size = sizeof(struct ib_uverbs_create_cq_resp), .nr_mminfo = 1,
	  .destroy = IB_USER_VERBS_CMD_DESTROY_CQ,
	  .quota = HYV_QUOTA_CREATES, .res = HYV_RES_CQ },
	/* Arms the CQ: its next completion is an event on the context's channel (hyv_events.c). */
	{ .command = IB_USER_VERBS_CMD_REQ_NOTIFY_CQ, .req_size = sizeof(struct ib_uverbs_req_notify_cq),
	  .exact = true },
	{ .command = IB_USER_VERBS_CMD_DESTROY_CQ, .req_size = sizeof(struct ib_uverbs_destroy_cq),
	  .resp_size = sizeof(struct ib_uverbs_destroy_cq_resp), .exact = true,
	  .creator = IB_USER_VERBS_CMD_CREATE_CQ, .quota = HYV_QUOTA_DESTROYS, .res = HYV_RES_CQ },
	{ .command = IB_USER_VERBS_CMD_CREATE_QP, .req_size = sizeof(struct ib_uverbs_create_qp),
	  .resp_size = sizeof(struct ib_uverbs_create_qp_resp), .nr_mminfo = 2,
	  .destroy = IB_USER_VERBS_CMD_DESTROY_QP, .quota = HYV_QUOTA_CREATES, .res = HYV_RES_QP },
	{ .command = IB_USER_VERBS_CMD_DESTROY_QP, .req_size = sizeof(struct ib_uverbs_destroy_qp),
	  .resp_size = sizeof(struct ib_uverbs_destroy_qp_resp), .exact = true,
	  .creator = IB_USER_VERBS_CMD_CREATE_QP, .quota = HYV_QUOTA_DESTROYS, .res = HYV_RES_QP },
	{ .command = IB_USER_VERBS_CMD_MODIFY_QP, .req_size = sizeof(struct ib_uverbs_modify_qp),
	  .fixup = hyv_fixup_modify_qp },
	/* rxe returns the AH's number in its udata; the guest's UD work requests carry it. */
	{ .command = IB_USER_VERBS_CMD_CREATE_AH, .req_size = sizeof(struct ib_uverbs_create_ah),
	  .resp_size = sizeof(struct ib_uverbs_create_ah_resp), .fixup = hyv_fixup_create_ah,
	  .quota = HYV_QUOTA_CREATES, .res = HYV_RES_AH },
	{ .command = IB_USER_VERBS_CMD_DESTROY_AH, .req_size = sizeof(struct ib_uverbs_destroy_ah),
	  .exact = true, .quota = HYV_QUOTA_DESTROYS, .res = HYV_RES_AH },
	{ .command = IB_USER_VERBS_CMD_CREATE_SRQ, .req_size = sizeof(struct ib_uverbs_create_srq),
	  .resp_size = sizeof(struct ib_uverbs_create_srq_resp), .nr_mminfo = 1,
	  .destroy = IB_USER_VERBS_CMD_DESTROY_SRQ, .quota = HYV_QUOTA_CREATES, .res = HYV_RES_SRQ },
	{ .command = IB_USER_VERBS_CMD_DESTROY_SRQ, .req_size = sizeof(struct ib_uverbs_destroy_srq),
	  .resp_size = sizeof(struct ib_uverbs_destroy_srq_resp), .exact = true,
	  .creator = IB_USER_VERBS_CMD_CREATE_SRQ, .quota = HYV_QUOTA_DESTROYS, .res = HYV_RES_SRQ },
	{ .command = IB_USER_VERBS_CMD_MODIFY_SRQ, .req_size = sizeof(struct ib_uverbs_modify_srq),
	  .fixup = hyv_fixup_modify_srq },
	{ .command = IB_USER_VERBS_CMD_QUERY_SRQ, .req_size = sizeof(struct ib_uverbs_query_srq),
	  .resp_size = sizeof(struct ib_uverbs_query_srq_resp) },
	{ .command = IB_USER_VERBS_CMD_QUERY_QP, .req_size = sizeof(struct ib_uverbs_query_qp),
	  .resp_size = sizeof(struct ib_uverbs_query_qp_resp), .fix_resp = hyv_fix_resp_query_qp },
	/*
	 * REG_MR is HYV_OP_REG_MR (hyv_mr.c): the guest never names the range.
	 * DEREG_MR gives back the region's pinned bytes too (hyv_mr_forget).
	 */
	{ .command = IB_USER_VERBS_CMD_DEREG_MR, .req_size = sizeof(struct ib_uverbs_dereg_mr),
	  .exact = true },
	{ .command = IB_USER_VERBS_CMD_POST_SEND, .req_size = sizeof(struct ib_uverbs_post_send),
	  .resp_size = sizeof(struct ib_uverbs_post_send_resp), .exact = true,
	  .fixup = hyv_fixup_post_send },
};

static const struct hyv_uverbs_cmd_desc *hyv_uverbs_lookup(u32 command)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(hyv_uverbs_allowed); i++)
		if (hyv_uverbs_allowed[i].command == command)
			return &hyv_uverbs_allowed[i];
	return NULL;
}

/* The handle a destroy command names: right after its response pointer. */
struct hyv_uverbs_destroy_cmd {
	struct ib_uverbs_cmd_hdr hdr;
	__aligned_u64 response;
	__u32 handle;
	__u32 reserved;
};
static_assert(sizeof(struct hyv_uverbs_destroy_cmd) ==
	      sizeof(struct ib_uverbs_cmd_hdr) + sizeof(struct ib_uverbs_destroy_cq));
static_assert(sizeof(struct hyv_uverbs_destroy_cmd) ==
	      sizeof(struct ib_uverbs_cmd_hdr) + sizeof(struct ib_uverbs_destroy_qp));
static_assert(sizeof(struct hyv_uverbs_destroy_cmd) ==
	      sizeof(struct ib_uverbs_cmd_hdr) + sizeof(struct ib_uverbs_destroy_srq));
/* The create responses start with the new object's handle. */
static_assert(offsetof(struct ib_uverbs_create_cq_resp, cq_handle) == 0);
static_assert(offsetof(struct ib_uverbs_create_qp_resp, qp_handle) == 0);
static_assert(offsetof(struct ib_uverbs_create_srq_resp, srq_handle) == 0);

static void hyv_qmap_free(struct hyv_instance *inst, struct hyv_qmap *qm)
{
	list_del(&qm->entry);
	if (!qm->retired)
		hyv_window_retire(inst, qm->first, qm->npages);
	hyv_window_unreserve(inst, qm->first, qm->npages);
	kfree(qm);
}

/* Rollback: the guest never saw these rings, their window pages are free at once. */
static void hyv_qmaps_free_object(struct hyv_instance *inst, struct hyv_context *ctx, u32 creator,
				  u32 handle)
{
	struct hyv_qmap *qm, *tmp;

	list_for_each_entry_safe(qm, tmp, &ctx->qmaps, entry)
		if (!qm->retired && qm->creator == creator && qm->handle == handle)
			hyv_qmap_free(inst, qm);
}

/*
 * The guest destroyed the object: its rings leave the window, but the
 * window pages stay reserved until the guest releases them
 * (HYV_OP_WINDOW_RELEASE), when no guest process maps them any more.
 * Otherwise a process that kept its mapping of a destroyed CQ would see the
 * ring of the next object placed there, maybe another process's.
 */
static void hyv_qmaps_retire_object(struct hyv_instance *inst, struct hyv_context *ctx,
				    u32 creator, u32 handle)
{
	struct hyv_qmap *qm;

	list_for_each_entry(qm, &ctx->qmaps, entry) {
		if (!qm->retired && qm->creator == creator && qm->handle == handle) {
			hyv_window_retire(inst, qm->first, qm->npages);
			qm->retired = true;
		}
	}
}

/* Every ring of a closing context, retired or not. */
void hyv_uverbs_context_release(struct hyv_instance *inst, struct hyv_context *ctx)
{
	struct hyv_qmap *qm, *tmp;

	list_for_each_entry_safe(qm, tmp, &ctx->qmaps, entry)
		hyv_qmap_free(inst, qm);
}

/* HYV_OP_WINDOW_RELEASE: the retired range at BAR2 byte offset goes back to the window. */
int hyv_uverbs_window_release(struct hyv_instance *inst, struct hyv_context *ctx, u64 offset)
{
	struct hyv_qmap *qm;

	if (!PAGE_ALIGNED(offset) || offset >= HYV_BAR2_SIZE)
		return -EINVAL;
	list_for_each_entry(qm, &ctx->qmaps, entry) {
		if (qm->first != offset >> PAGE_SHIFT)
			continue;
		if (!qm->retired)
			return -EBUSY;
		hyv_qmap_free(inst, qm);
		return 0;
	}
	return -EINVAL;
}

/*
 * Pins the npages ring pages mapped at addr, the hidden mapping of the
 * context's uverbs file at offset. Another QEMU thread may have unmapped the
 * range and mapped something else there since vm_mmap() (its own memory, say):
 * those pages must never reach BAR2, so the mapping is checked under the lock
 * the pin holds.
 */
static int hyv_ring_pin(struct hyv_context *ctx, unsigned long addr, u64 offset, u32 npages,
			struct page **pages)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	long got = -EFAULT;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (vma && vma->vm_file == ctx->file && vma->vm_start == addr &&
	    vma->vm_end - vma->vm_start == (unsigned long)npages << PAGE_SHIFT &&
	    vma->vm_pgoff == offset >> PAGE_SHIFT)
		got = get_user_pages(addr, npages, FOLL_WRITE, pages, NULL);
	mmap_read_unlock(mm);
	return got;
}

/*
 * Places the ring that mi describes (offset in the host uverbs file's mmap
 * space) in BAR2 and rewrites mi->offset to its BAR2 byte offset. An unused
 * mminfo (size 0: the RQ of a QP on an SRQ) is left alone.
 */
static int hyv_map_ring(struct hyv_instance *inst, struct hyv_context *ctx, u32 creator,
			u32 handle, struct mminfo *mi)
{
	u64 offset = mi->offset;
	u32 size = mi->size, npages, first;
	struct page **pages;
	struct hyv_qmap *qm;
	unsigned long addr;
	int got, ret;

	if (!size)
		return 0;
	if (!PAGE_ALIGNED(size) || !PAGE_ALIGNED(offset))
		return -EPROTO;
	/* Larger than the whole window: the guest asked for a ring it cannot have. */
	if (size > HYV_BAR2_SIZE)
		return -ENOSPC;
	npages = size >> PAGE_SHIFT;

	qm = kzalloc(sizeof(*qm), GFP_KERNEL);
	pages = kcalloc(npages, sizeof(*pages), GFP_KERNEL);
	if (!qm || !pages) {
		ret = -ENOMEM;
		goto err_free;
	}

	/* The hidden mapping: the provider's own mmap of the ring, in QEMU's mm. */
	addr = vm_mmap(ctx->file, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, offset);
	if (IS_ERR_VALUE(addr)) {
		ret = (int)addr;
		goto err_free;
	}
	got = hyv_ring_pin(ctx, addr, offset, npages, pages);
	/* The page references keep the ring; the provider frees it when both are gone. */
	vm_munmap(addr, size);
	if (got != npages) {
		ret = got < 0 ? got : -EFAULT;
		goto err_put;
	}

	ret = hyv_window_alloc(inst, pages, npages, &first);
	if (ret)
		goto err_put;
	qm->creator = creator;
	qm->handle = handle;
	qm->first = first;
	qm->npages = npages;
	list_add(&qm->entry, &ctx->qmaps);
	mi->offset = (u64)first << PAGE_SHIFT;
	kfree(pages);
	return 0;

err_put:
	while (got > 0)
		put_page(pages[--got]);
err_free:
	kfree(pages);
	kfree(qm);
	return ret;
}

/* Rollback of a create whose rings could not be mapped. */
static void hyv_uverbs_destroy(struct hyv_instance *inst, struct hyv_context *ctx,
			       const struct hyv_uverbs_cmd_desc *create, u32 handle)
{
	const struct hyv_uverbs_cmd_desc *desc = hyv_uverbs_lookup(create->destroy);
	struct hyv_uverbs_destroy_cmd c = {
		.hdr = { .command = create->destroy, .in_words = sizeof(c) / 4,
			 .out_words = desc->resp_size / 4 },
		.handle = handle,
	};
	u8 resp[sizeof(struct ib_uverbs_destroy_cq_resp)];
	ssize_t ret;

	BUILD_BUG_ON(sizeof(resp) < sizeof(struct ib_uverbs_destroy_qp_resp));
	BUILD_BUG_ON(sizeof(resp) < sizeof(struct ib_uverbs_destroy_srq_resp));
	ret = hyv_context_run(ctx, (u8 *)&c, sizeof(c), resp, desc->resp_size);
	if (ret < 0)
		dev_warn(&inst->mdev->dev, "rollback of uverbs command %u: destroy of handle %u failed: %zd\n",
			 create->command, handle, ret);
	hyv_qmaps_free_object(inst, ctx, create->command, handle);
}

static int hyv_map_rings(struct hyv_instance *inst, struct hyv_context *ctx,
			 const struct hyv_uverbs_cmd_desc *desc, u8 *resp)
{
	struct mminfo *mi = (struct mminfo *)(resp + desc->resp_size);
	u32 handle, i;
	int ret;

	memcpy(&handle, resp, sizeof(handle));
	for (i = 0; i < desc->nr_mminfo; i++) {
		ret = hyv_map_ring(inst, ctx, desc->command, handle, &mi[i]);
		if (ret) {
			hyv_uverbs_destroy(inst, ctx, desc, handle);
			return ret;
		}
	}
	return 0;
}

/* Every refusal of a guest command is logged (dynamic debug), so a refused verb can be traced. */
static ssize_t hyv_uverbs_refuse(struct hyv_instance *inst, u32 command, int err, const char *why)
{
	dev_dbg(&inst->mdev->dev, "uverbs command %u refused: %s (%d)\n", command, why, err);
	return err;
}

/*
 * MODIFY_SRQ with IB_SRQ_MAX_WR: rxe moves the SRQ to a new, larger ring and
 * writes the new ring's mminfo to the userspace address in its udata. That
 * address is forced into the context's scratch page, right after the command
 * (no guest value is an address here). The old ring leaves BAR2 (retired:
 * reserved until the guest releases it), the new one is placed like a
 * created ring, and its mminfo, with the BAR2 offset, is the response; the
 * write ABI gives MODIFY_SRQ none of its own. If the new ring finds no room
 * in BAR2 the SRQ is resized on the host but has no ring in the guest: the
 * guest's posts then reach a private page, never the host's ring.
 */
static ssize_t hyv_uverbs_resize_srq(struct hyv_instance *inst, struct hyv_context *ctx,
				     u8 *payload, u32 in_len, u8 *resp, u32 out_len)
{
	struct ib_uverbs_modify_srq *c = (void *)(payload + sizeof(struct ib_uverbs_cmd_hdr));
	struct rxe_modify_srq_cmd *rc = (void *)(c + 1);
	u32 mi_off = ALIGN(in_len, HYV_CMD_ALIGN);
	struct mminfo mi;
	ssize_t ret;

	if (inst->parent->identity.driver_id != RDMA_DRIVER_RXE)
		return hyv_uverbs_refuse(inst, IB_USER_VERBS_CMD_MODIFY_SRQ, -EOPNOTSUPP,
					 "an SRQ resize of a provider whose rings cannot be mapped");
	if (in_len < sizeof(struct ib_uverbs_cmd_hdr) + sizeof(*c) + sizeof(*rc) ||
	    out_len < sizeof(mi) || mi_off + sizeof(mi) > HYV_CONTEXT_SCRATCH_SIZE)
		return hyv_uverbs_refuse(inst, IB_USER_VERBS_CMD_MODIFY_SRQ, -EINVAL,
					 "an SRQ resize without rxe's command or room for the new ring's mminfo");
	rc->mmap_info_addr = ctx->scratch + mi_off;
	ret = hyv_context_run(ctx, payload, in_len, NULL, 0);
	if (ret < 0)
		return ret;
	if (copy_from_user(&mi, u64_to_user_ptr(rc->mmap_info_addr), sizeof(mi)))
		return -EFAULT;
	hyv_qmaps_retire_object(inst, ctx, IB_USER_VERBS_CMD_CREATE_SRQ, c->srq_handle);
	ret = hyv_map_ring(inst, ctx, IB_USER_VERBS_CMD_CREATE_SRQ, c->srq_handle, &mi);
	if (ret) {
		dev_dbg(&inst->mdev->dev, "context %u: SRQ %u resized, its new ring not placed: %zd\n",
			ctx->handle, c->srq_handle, ret);
		return ret;
	}
	memcpy(resp, &mi, sizeof(mi));
	return sizeof(mi);
}

/*
 * payload: in_len bytes in the uverbs write ABI, from the guest; resp:
 * out_len bytes. Returns the response length or a negative errno.
 */
ssize_t hyv_uverbs_write(struct hyv_instance *inst, struct hyv_context *ctx, u8 *payload,
			 u32 in_len, u8 *resp, u32 out_len)
{
	const struct hyv_uverbs_cmd_desc *desc;
	struct ib_uverbs_cmd_hdr hdr;
	u32 body_len, resp_size;
	u32 handle;
	ssize_t ret;
	int err;

	if (current->mm != ctx->mm)
		return -EPERM;
	if (in_len < sizeof(hdr))
		return -EINVAL;
	memcpy(&hdr, payload, sizeof(hdr));
	desc = hyv_uverbs_lookup(hdr.command);
	if (!desc)
		return hyv_uverbs_refuse(inst, hdr.command, -EOPNOTSUPP, "not in the allow-list");
	/* Rings are mapped from rxe's mminfo; other providers' layouts are unknown. */
	if (desc->nr_mminfo && inst->parent->identity.driver_id != RDMA_DRIVER_RXE)
		return hyv_uverbs_refuse(inst, hdr.command, -EOPNOTSUPP,
					 "the host provider's rings cannot be mapped");
	/* Non-extended commands: in_words counts the whole write, header included. */
	body_len = in_len - sizeof(hdr);
	resp_size = (u32)hdr.out_words * 4;
	if ((u32)hdr.in_words * 4 != in_len || resp_size > out_len)
		return hyv_uverbs_refuse(inst, hdr.command, -EINVAL,
					 "in_words/out_words do not match the command's buffers");
	if (body_len < desc->req_size || (desc->exact && body_len != desc->req_size))
		return hyv_uverbs_refuse(inst, hdr.command, -EINVAL, "wrong command size");
	if (desc->resp_size) {
		if (resp_size < desc->resp_size + desc->nr_mminfo * sizeof(struct mminfo))
			return hyv_uverbs_refuse(inst, hdr.command, -EINVAL, "response buffer too small");
	} else if (resp_size) {
		return hyv_uverbs_refuse(inst, hdr.command, -EINVAL,
					 "a response buffer for a command without response");
	}
	if (desc->fixup) {
		err = desc->fixup(inst, payload + sizeof(hdr));
		if (err)
			return hyv_uverbs_refuse(inst, hdr.command, err, "a field the host checks");
	}
	if (desc->quota == HYV_QUOTA_CREATES) {
		err = hyv_quota_check(inst, desc->res, 1);
		if (err)
			return hyv_uverbs_refuse(inst, hdr.command, err, "the instance's quota is used up");
	}

	if (hdr.command == IB_USER_VERBS_CMD_MODIFY_SRQ) {
		struct ib_uverbs_modify_srq *c = (void *)(payload + sizeof(hdr));

		if (c->attr_mask & IB_SRQ_MAX_WR)
			return hyv_uverbs_resize_srq(inst, ctx, payload, in_len, resp, out_len);
	}

	if (hdr.command == IB_USER_VERBS_CMD_CREATE_CQ) {
		/*
		 * Every CQ of the context is created on the context's completion
		 * channel, whatever the guest named: no guest value is an fd here.
		 */
		struct ib_uverbs_create_cq *c = (void *)(payload + sizeof(hdr));
		int fd = hyv_events_get_fd(ctx);

		if (fd < 0)
			return fd;
		c->comp_channel = fd;
		ret = hyv_context_run(ctx, payload, in_len, resp, resp_size);
		close_fd(fd);
	} else {
		ret = hyv_context_run(ctx, payload, in_len, resp, resp_size);
	}
	if (ret < 0)
		return ret;

	if (desc->fix_resp)
		desc->fix_resp(inst, payload + sizeof(hdr), resp);
	if (desc->nr_mminfo) {
		err = hyv_map_rings(inst, ctx, desc, resp);
		if (err)
			return err;
	}
	hyv_quota_apply(ctx, desc->res, desc->quota);
	if (hdr.command == IB_USER_VERBS_CMD_DEREG_MR) {
		struct ib_uverbs_dereg_mr *c = (void *)(payload + sizeof(hdr));

		hyv_mr_forget(ctx, c->mr_handle);
	}
	if (desc->creator) {
		memcpy(&handle, payload + offsetof(struct hyv_uverbs_destroy_cmd, handle),
		       sizeof(handle));
		hyv_qmaps_retire_object(inst, ctx, desc->creator, handle);
	}
	if (hdr.command == IB_USER_VERBS_CMD_GET_CONTEXT) {
		struct ib_uverbs_get_context_resp *r = (void *)resp;

		/* Its events reach the guest through the event ring; the fd is no guest's business. */
		err = hyv_events_open_async(ctx, r->async_fd);
		r->async_fd = 0;
		if (err)
			return err;
	}
	return resp_size;
}
