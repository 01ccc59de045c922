// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory regions, registered in place: the process's buffer is pinned here
 * (ib_umem_get, as any RDMA driver does), its pages' DMA addresses are listed
 * in list pages and HYV_OP_REG_MR hands the lists to the host, which
 * registers those very guest pages with the host device. No data is ever
 * copied; the host device reads and writes the guest buffer itself. The
 * guest pin lasts as long as the MR, so the pages cannot move under the
 * host device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_user_verbs.h>
/* The umem block iterator moved there; Debian's 6.1 has the move backported. */
#if __has_include(<rdma/iter.h>)
#include <rdma/iter.h>
#endif

#include "hyv_guest.h"

struct hyv_mr {
	struct ib_mr ibmr;
	u32 host_ctx;
	u32 host_handle;
	struct ib_umem *umem;
};

static struct hyv_mr *to_hmr(struct ib_mr *ibmr)
{
	return container_of(ibmr, struct hyv_mr, ibmr);
}

/* The page lists of one registration, DMA-coherent pages the host reads. */
struct hyv_mr_lists {
	u32 count;
	__le64 *va[HYV_MR_MAX_LISTS];
	dma_addr_t dma[HYV_MR_MAX_LISTS];
};

static void hyv_mr_lists_free(struct hyv_dev *hdev, struct hyv_mr_lists *l)
{
	u32 i;

	for (i = 0; i < l->count; i++)
		dma_free_coherent(hdev->dma_dev, HYV_PAGE_SIZE, l->va[i], l->dma[i]);
	kfree(l);
}

static struct hyv_mr_lists *hyv_mr_lists_fill(struct hyv_dev *hdev, struct ib_umem *umem,
					      u32 npages)
{
	struct ib_block_iter biter;
	struct hyv_mr_lists *l;
	u32 i = 0;

	l = kzalloc(sizeof(*l), GFP_KERNEL);
	if (!l)
		return ERR_PTR(-ENOMEM);
	for (l->count = 0; l->count < DIV_ROUND_UP(npages, HYV_MR_LIST_ENTRIES); l->count++) {
		l->va[l->count] = dma_alloc_coherent(hdev->dma_dev, HYV_PAGE_SIZE,
						     &l->dma[l->count], GFP_KERNEL);
		if (!l->va[l->count]) {
			hyv_mr_lists_free(hdev, l);
			return ERR_PTR(-ENOMEM);
		}
	}
	rdma_umem_for_each_dma_block(umem, &biter, HYV_PAGE_SIZE) {
		l->va[i / HYV_MR_LIST_ENTRIES][i % HYV_MR_LIST_ENTRIES] =
			cpu_to_le64(rdma_block_iter_dma_address(&biter));
		i++;
	}
	return l;
}

/* HYV_OP_REG_MR for umem's pages; the response's keys and handle go to mr. */
static int hyv_mr_host_register(struct hyv_dev *hdev, struct hyv_pd *pd, struct hyv_mr *mr,
				u64 start, u64 length, u64 virt, int access)
{
	u32 npages = ib_umem_num_dma_blocks(mr->umem, HYV_PAGE_SIZE);
	struct hyv_reg_mr_resp resp;
	struct hyv_mr_lists *lists;
	struct hyv_reg_mr *req;
	u32 in_len, i;
	int ret;

	if (npages > HYV_MR_MAX_PAGES)
		return -EINVAL;
	lists = hyv_mr_lists_fill(hdev, mr->umem, npages);
	if (IS_ERR(lists))
		return PTR_ERR(lists);
	in_len = struct_size(req, lists, lists->count);
	req = kzalloc(in_len, GFP_KERNEL);
	if (!req) {
		ret = -ENOMEM;
		goto out_lists;
	}
	req->start = cpu_to_le64(start);
	req->length = cpu_to_le64(length);
	req->hca_va = cpu_to_le64(virt);
	req->pd_handle = cpu_to_le32(pd->host_handle);
	req->access_flags = cpu_to_le32(access);
	req->npages = cpu_to_le32(npages);
	req->nr_lists = cpu_to_le32(lists->count);
	for (i = 0; i < lists->count; i++)
		req->lists[i] = cpu_to_le64(lists->dma[i]);

	ret = hyv_cmd_exec_exact(hdev, HYV_OP_REG_MR, pd->host_ctx, req, in_len, &resp,
				 sizeof(resp));
	if (!ret) {
		mr->host_handle = le32_to_cpu(resp.mr_handle);
		mr->ibmr.lkey = le32_to_cpu(resp.lkey);
		mr->ibmr.rkey = le32_to_cpu(resp.rkey);
	}
	kfree(req);
out_lists:
	hyv_mr_lists_free(hdev, lists);
	return ret;
}

struct ib_mr *hyv_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length, u64 virt, int access,
			      struct ib_udata *udata)
{
	struct hyv_dev *hdev = to_hdev(ibpd->device);
	struct hyv_pd *pd = to_hpd(ibpd);
	struct hyv_mr *mr;
	int ret;

	/* The host pins the pages for the MR's lifetime; paging on demand is not offered. */
	if (access & IB_ACCESS_ON_DEMAND)
		return ERR_PTR(-EOPNOTSUPP);
	mr = kzalloc(sizeof(*mr), GFP_KERNEL);
	if (!mr)
		return ERR_PTR(-ENOMEM);
	mr->host_ctx = pd->host_ctx;
	mr->umem = ib_umem_get(ibpd->device, start, length, access);
	if (IS_ERR(mr->umem)) {
		ret = PTR_ERR(mr->umem);
		goto err_free;
	}
	ret = hyv_mr_host_register(hdev, pd, mr, start, length, virt, access);
	if (ret)
		goto err_umem;
	return &mr->ibmr;

err_umem:
	ib_umem_release(mr->umem);
err_free:
	kfree(mr);
	return ERR_PTR(ret);
}

int hyv_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct hyv_mr *mr = to_hmr(ibmr);
	struct ib_uverbs_dereg_mr cmd = { .mr_handle = mr->host_handle };
	int ret;

	ret = hyv_uverbs_cmd(to_hdev(ibmr->device), mr->host_ctx, IB_USER_VERBS_CMD_DEREG_MR, &cmd,
			     sizeof(cmd), NULL, NULL, 0);
	/* A gone host deregistered it with the context. */
	if (ret && ret != -ENODEV)
		return ret;
	/* Only now can the host device no longer touch the pages. */
	ib_umem_release(mr->umem);
	kfree(mr);
	return 0;
}
