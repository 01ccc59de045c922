// SPDX-License-Identifier: GPL-2.0-only
/*
 * Zero-copy memory registration (HYV_OP_REG_MR). The host device registers
 * user memory only through uverbs' REG_MR, which pins a virtually contiguous
 * range of the caller's address space (ib_umem_get). A guest buffer is
 * contiguous in the guest process, but its pages are scattered in guest RAM
 * and so in QEMU's address space too. For the duration of the command the
 * host therefore builds a hidden range in QEMU's address space that maps
 * exactly the guest's pages, in order:
 *
 *   1. the guest pages are pinned through VFIO (vfio_pin_pages checks every
 *      address against QEMU's own guest RAM map and returns QEMU's pages);
 *   2. they are inserted into a fresh shared mapping of a private anon-inode
 *      file (VM_MIXEDMAP, vm_insert_pages: ordinary PTEs, which GUP takes);
 *   3. REG_MR runs on that range: the host driver pins the same pages for the
 *      MR's lifetime and moves data straight to and from them;
 *   4. the range and the VFIO pins go again; the MR's own pins keep the pages.
 *
 * vm_insert_pages refuses anonymous pages: guest RAM must be shared memory
 * (memory-backend-memfd,share=on), as vhost-user requires too.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/hugetlb.h>
#include <linux/iommu.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/ib_user_verbs.h>

#include "hyv_mdev.h"

/* On-demand paging and the like would need the hidden range to outlive the command. */
#define HYV_MR_ACCESS_ALLOWED                                                                 \
	(IB_UVERBS_ACCESS_LOCAL_WRITE | IB_UVERBS_ACCESS_REMOTE_WRITE |                      \
	 IB_UVERBS_ACCESS_REMOTE_READ | IB_UVERBS_ACCESS_REMOTE_ATOMIC |                     \
	 IB_UVERBS_ACCESS_MW_BIND | IB_UVERBS_ACCESS_OPTIONAL_RANGE)

static_assert(PAGE_SIZE == HYV_PAGE_SIZE);
static_assert(sizeof(struct hyv_reg_mr) + HYV_MR_MAX_LISTS * sizeof(__le64) +
	      sizeof(struct hyv_reg_mr_resp) + sizeof(struct hyv_cmd_hdr) + HYV_CMD_ALIGN <=
	      HYV_CMD_MAX_LEN);

/* The guest pages of one registration; gpas[0, pinned) hold VFIO pins. */
struct hyv_mr_pages {
	u64 *gpas;
	struct page **pages;
	u32 npages;
	u32 pinned;
};

/* The list pages hold the buffer's page addresses, HYV_MR_LIST_ENTRIES each. */
static int hyv_mr_read_lists(struct hyv_instance *inst, const u8 *lists, u32 nr_lists,
			     struct hyv_mr_pages *mp)
{
	u32 i, j, done = 0, n;
	__le64 list;
	int ret;

	for (i = 0; i < nr_lists; i++) {
		memcpy(&list, lists + i * sizeof(list), sizeof(list));
		n = min_t(u32, mp->npages - done, HYV_MR_LIST_ENTRIES);
		ret = vfio_dma_rw(&inst->vdev, le64_to_cpu(list), mp->gpas + done,
				  n * sizeof(*mp->gpas), false);
		if (ret)
			return ret;
		for (j = done; j < done + n; j++) {
			mp->gpas[j] = le64_to_cpu((__force __le64)mp->gpas[j]);
			if (!PAGE_ALIGNED(mp->gpas[j]))
				return -EINVAL;
		}
		done += n;
	}
	return 0;
}

/* Pages from first on that are contiguous in guest memory, as one VFIO pin call takes them. */
static u32 hyv_gpa_run(const u64 *gpas, u32 first, u32 end)
{
	u32 n = 1;

	while (first + n < end && n < VFIO_PIN_PAGES_MAX_ENTRIES &&
	       gpas[first + n] == gpas[first] + ((u64)n << PAGE_SHIFT))
		n++;
	return n;
}

static void hyv_mr_unpin(struct hyv_instance *inst, struct hyv_mr_pages *mp)
{
	u32 i, n;

	/* pinned ends a run of the pin loop, so the runs up to it are the same runs. */
	for (i = 0; i < mp->pinned; i += n) {
		n = hyv_gpa_run(mp->gpas, i, mp->pinned);
		vfio_unpin_pages(&inst->vdev, mp->gpas[i], n);
	}
	mp->pinned = 0;
}

/* Fails (-EINVAL) for any address outside the guest RAM QEMU mapped for DMA. */
static int hyv_mr_pin(struct hyv_instance *inst, struct hyv_mr_pages *mp)
{
	u32 i, n;
	int ret;

	for (i = 0; i < mp->npages; i += n) {
		n = hyv_gpa_run(mp->gpas, i, mp->npages);
		ret = vfio_pin_pages(&inst->vdev, mp->gpas[i], n, IOMMU_READ | IOMMU_WRITE,
				     mp->pages + i);
		if (ret < 0)
			return ret;
		if (WARN_ON_ONCE(ret != n)) {
			/* VFIO pins all or nothing; be safe if that ever changes. */
			vfio_unpin_pages(&inst->vdev, mp->gpas[i], ret);
			return -EFAULT;
		}
		mp->pinned = i + n;
	}
	return 0;
}

/*
 * Only shmem pages of guest RAM (memfd, /dev/shm, tmpfs) are registered.
 * Anonymous guest RAM cannot be mapped a second time, hugetlb pages have no
 * PTE mapping, device pages belong to another BAR QEMU mapped for DMA, and
 * the page cache of a disk filesystem (ext4, xfs, fsdax) would take long-term
 * RDMA writes past the filesystem's write notification. A page that is page
 * cache and swap-backed is shmem's.
 */
static int hyv_mr_check_pages(struct hyv_instance *inst, struct hyv_mr_pages *mp)
{
	struct page *page;
	u32 i;

	for (i = 0; i < mp->npages; i++) {
		page = mp->pages[i];
		if (PageAnon(page) || PageHuge(page) || !PageSwapBacked(page) ||
		    !folio_mapping(page_folio(page))) {
			dev_warn_ratelimited(&inst->mdev->dev,
					     "REG_MR: guest page %#llx is not shared memory-backed RAM; start the VM with -object memory-backend-memfd,share=on (libvirt: <memoryBacking><source type='memfd'/><access mode='shared'/>)\n",
					     mp->gpas[i]);
			return -EOPNOTSUPP;
		}
	}
	return 0;
}

static int hyv_page_ptr_cmp(const void *a, const void *b)
{
	const struct page *pa = *(struct page *const *)a, *pb = *(struct page *const *)b;

	return pa < pb ? -1 : pa > pb;
}

/*
 * One host page twice in a registration (a guest page listed twice, or two
 * guest addresses QEMU backs with one page) would be charged and pinned once
 * per copy; enough copies drive its refcount toward overflow. Refused.
 */
static int hyv_mr_check_distinct(struct hyv_instance *inst, struct hyv_mr_pages *mp)
{
	struct page **sorted;
	int ret = 0;
	u32 i;

	if (mp->npages < 2)
		return 0;
	sorted = kvmalloc_array(mp->npages, sizeof(*sorted), GFP_KERNEL);
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, mp->pages, mp->npages * sizeof(*sorted));
	sort(sorted, mp->npages, sizeof(*sorted), hyv_page_ptr_cmp, NULL);
	for (i = 1; i < mp->npages; i++) {
		if (sorted[i] == sorted[i - 1]) {
			dev_warn_ratelimited(&inst->mdev->dev,
					     "REG_MR: one host page appears twice in the registration; refused\n");
			ret = -EINVAL;
			break;
		}
	}
	kvfree(sorted);
	return ret;
}

static vm_fault_t hyv_mr_map_fault(struct vm_fault *vmf)
{
	/* Every page is inserted before the range is used; nothing else belongs there. */
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct hyv_mr_map_vm_ops = {
	.fault = hyv_mr_map_fault,
};

static int hyv_mr_map_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* With vm_ops the range is never anonymous memory; never copied into a fork. */
	vma->vm_flags |= VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY;
	vma->vm_ops = &hyv_mr_map_vm_ops;
	return 0;
}

static const struct file_operations hyv_mr_map_fops = {
	.owner = THIS_MODULE,
	.mmap = hyv_mr_map_mmap,
};

/* Maps mp's pages, in order, at a new address of the current (QEMU's) mm. */
static int hyv_mr_map(struct hyv_mr_pages *mp, unsigned long *out)
{
	unsigned long size = (unsigned long)mp->npages << PAGE_SHIFT, num = mp->npages, addr;
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	struct file *file;
	int ret;

	file = anon_inode_getfile("[hyv-mr]", &hyv_mr_map_fops, NULL, O_RDWR);
	if (IS_ERR(file))
		return PTR_ERR(file);
	addr = vm_mmap(file, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	if (IS_ERR_VALUE(addr)) {
		ret = (int)addr;
		goto out_put;
	}
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	/* Another QEMU thread may have replaced the range meanwhile. */
	if (vma && vma->vm_file == file && vma->vm_start == addr && vma->vm_end == addr + size)
		ret = vm_insert_pages(vma, addr, mp->pages, &num);
	else
		ret = -EFAULT;
	mmap_read_unlock(mm);
	if (ret)
		vm_munmap(addr, size);
	else
		*out = addr;
out_put:
	fput(file);
	return ret;
}

/* uverbs REG_MR on the context's host file, for the range at addr of QEMU's mm. */
static int hyv_mr_uverbs_reg(struct hyv_context *ctx, const struct hyv_reg_mr *req,
			     unsigned long addr, struct ib_uverbs_reg_mr_resp *resp)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_reg_mr cmd;
	} c = {
		.hdr = { .command = IB_USER_VERBS_CMD_REG_MR, .in_words = sizeof(c) / 4,
			 .out_words = sizeof(*resp) / 4 },
		.cmd = { .start = addr, .length = le64_to_cpu(req->length),
			 .hca_va = le64_to_cpu(req->hca_va),
			 .pd_handle = le32_to_cpu(req->pd_handle),
			 .access_flags = le32_to_cpu(req->access_flags) },
	};
	ssize_t ret;

	ret = hyv_context_run(ctx, (u8 *)&c, sizeof(c), (u8 *)resp, sizeof(*resp));
	return ret < 0 ? ret : 0;
}

/* Rollback of a registration the host cannot keep track of. */
static void hyv_mr_uverbs_dereg(struct hyv_instance *inst, struct hyv_context *ctx, u32 handle)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_dereg_mr cmd;
	} c = {
		.hdr = { .command = IB_USER_VERBS_CMD_DEREG_MR, .in_words = sizeof(c) / 4 },
		.cmd = { .mr_handle = handle },
	};
	ssize_t ret;

	ret = hyv_context_run(ctx, (u8 *)&c, sizeof(c), NULL, 0);
	if (ret < 0)
		dev_warn(&inst->mdev->dev, "rollback of REG_MR: DEREG_MR of handle %u failed: %zd\n",
			 handle, ret);
}

/* Whether a page of mp lies in guest RAM VFIO was unmapping a moment ago. */
static bool hyv_mr_unmapping_hit(struct hyv_instance *inst, const struct hyv_mr_pages *mp)
{
	const struct hyv_unmapping *u;
	u32 slot, i;

	lockdep_assert_held(&inst->pin_lock);
	for (slot = 0; slot < HYV_UNMAP_SLOTS; slot++) {
		u = &inst->unmapping[slot];
		if (!u->length || time_after_eq(jiffies, u->until))
			continue;
		for (i = 0; i < mp->npages; i++)
			if (mp->gpas[i] - u->iova < u->length)
				return true;
	}
	return false;
}

/* Pins through VFIO, maps, registers, unmaps, unpins; the MR keeps its own pins. */
static int hyv_mr_register_pages(struct hyv_instance *inst, struct hyv_context *ctx,
				 const struct hyv_reg_mr *req, struct hyv_mr_pages *mp,
				 struct ib_uverbs_reg_mr_resp *resp)
{
	u64 offset = le64_to_cpu(req->start) & ~PAGE_MASK;
	unsigned long addr;
	int ret;

	mutex_lock(&inst->pin_lock);
	ret = hyv_mr_unmapping_hit(inst, mp) ? -EAGAIN : hyv_mr_pin(inst, mp);
	if (!ret)
		ret = hyv_mr_check_pages(inst, mp);
	if (!ret)
		ret = hyv_mr_check_distinct(inst, mp);
	if (!ret)
		ret = hyv_mr_map(mp, &addr);
	if (!ret) {
		ret = hyv_mr_uverbs_reg(ctx, req, addr + offset, resp);
		vm_munmap(addr, (unsigned long)mp->npages << PAGE_SHIFT);
	}
	hyv_mr_unpin(inst, mp);
	mutex_unlock(&inst->pin_lock);
	return ret;
}

static int hyv_mr_parse(const u8 *payload, u32 in_len, struct hyv_reg_mr *req, u32 *npages)
{
	u64 length, offset;
	u32 nr_lists;

	if (in_len < sizeof(*req))
		return -EINVAL;
	memcpy(req, payload, sizeof(*req));
	length = le64_to_cpu(req->length);
	offset = le64_to_cpu(req->start) & ~PAGE_MASK;
	*npages = le32_to_cpu(req->npages);
	nr_lists = le32_to_cpu(req->nr_lists);
	if (!length || length > (u64)HYV_MR_MAX_PAGES << PAGE_SHIFT ||
	    !*npages || *npages > HYV_MR_MAX_PAGES ||
	    *npages != DIV_ROUND_UP(offset + length, PAGE_SIZE) ||
	    nr_lists != DIV_ROUND_UP(*npages, HYV_MR_LIST_ENTRIES) ||
	    in_len != sizeof(*req) + nr_lists * sizeof(__le64))
		return -EINVAL;
	if (le32_to_cpu(req->access_flags) & ~HYV_MR_ACCESS_ALLOWED)
		return -EOPNOTSUPP;
	return 0;
}

/*
 * HYV_OP_REG_MR on context ctx: payload is struct hyv_reg_mr and its list
 * addresses (in_len bytes); resp gets struct hyv_reg_mr_resp. Returns 0 or
 * a negative errno; on failure nothing is left registered or pinned.
 */
int hyv_mr_register(struct hyv_instance *inst, struct hyv_context *ctx, const u8 *payload,
		    u32 in_len, u8 *resp, u32 out_len)
{
	struct ib_uverbs_reg_mr_resp r;
	struct hyv_reg_mr_resp out = {};
	struct hyv_mr_pages mp = {};
	struct hyv_reg_mr req;
	u64 pinned_bytes;
	int ret;

	if (current->mm != ctx->mm)
		return -EPERM;
	if (out_len < sizeof(out))
		return -EINVAL;
	ret = hyv_mr_parse(payload, in_len, &req, &mp.npages);
	if (ret)
		return ret;
	pinned_bytes = (u64)mp.npages << PAGE_SHIFT;
	ret = hyv_quota_check(inst, HYV_RES_MR, 1);
	if (!ret)
		ret = hyv_quota_check(inst, HYV_RES_PINNED, pinned_bytes);
	if (ret)
		return ret;

	mp.gpas = kvcalloc(mp.npages, sizeof(*mp.gpas), GFP_KERNEL);
	mp.pages = kvcalloc(mp.npages, sizeof(*mp.pages), GFP_KERNEL);
	if (!mp.gpas || !mp.pages) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = hyv_mr_read_lists(inst, payload + sizeof(req), le32_to_cpu(req.nr_lists), &mp);
	if (ret)
		goto out_free;
	ret = hyv_mr_register_pages(inst, ctx, &req, &mp, &r);
	if (ret)
		goto out_free;

	/* DEREG_MR and the quota need the region's size back. */
	ret = xa_insert(&ctx->mrs, r.mr_handle, xa_mk_value(pinned_bytes), GFP_KERNEL);
	if (ret) {
		hyv_mr_uverbs_dereg(inst, ctx, r.mr_handle);
		goto out_free;
	}
	hyv_quota_add(ctx, HYV_RES_MR, 1);
	hyv_quota_add(ctx, HYV_RES_PINNED, pinned_bytes);
	out.mr_handle = cpu_to_le32(r.mr_handle);
	out.lkey = cpu_to_le32(r.lkey);
	out.rkey = cpu_to_le32(r.rkey);
	memcpy(resp, &out, sizeof(out));

out_free:
	kvfree(mp.pages);
	kvfree(mp.gpas);
	return ret;
}

/* After a DEREG_MR that succeeded: the region's share of the quota is free again. */
void hyv_mr_forget(struct hyv_context *ctx, u32 handle)
{
	void *entry = xa_erase(&ctx->mrs, handle);

	if (!entry)
		return;
	hyv_quota_sub(ctx, HYV_RES_MR, 1);
	hyv_quota_sub(ctx, HYV_RES_PINNED, xa_to_value(entry));
}

/*
 * VFIO's dma_unmap: QEMU is unmapping guest RAM and VFIO insists that no
 * vendor pins remain when this returns. Registrations hold pins only inside
 * pin_lock, so taking it waits for the one in flight; the range is then
 * remembered so that no new registration pins it while VFIO finishes the
 * unmap (hyv_mr_unmapping_hit). The MRs' own pins are not VFIO's.
 */
void hyv_mr_unmapping(struct hyv_instance *inst, u64 iova, u64 length)
{
	struct hyv_unmapping *u;

	mutex_lock(&inst->pin_lock);
	u = &inst->unmapping[inst->unmapping_next++ % HYV_UNMAP_SLOTS];
	u->iova = iova;
	u->length = length;
	u->until = jiffies + HYV_UNMAP_BLOCK;
	mutex_unlock(&inst->pin_lock);
}
