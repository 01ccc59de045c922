// SPDX-License-Identifier: GPL-2.0-only
/*
 * BAR2, the mmap-able window: the data path. Host queue pages (rxe's rings)
 * are placed at window pages allocated per object; QEMU maps the window into
 * the guest, so the guest reads and writes those rings with no exit.
 *
 * A window page is either owned by a host queue (the queue's page, referenced
 * by the window while owned) or unowned (a zeroed page private to the
 * instance, allocated on first touch). The window VMAs are VM_PFNMAP: the fault
 * handler inserts the pfn, and when ownership changes the affected range is
 * zapped in every window VMA (tracked through vm_ops open/close; the vfio
 * device file is an anon-inode file whose f_mapping is shared with every other
 * anon-inode file, so unmap_mapping_range() on it would zap strangers).
 *
 * Locking: the fault handler runs under the faulting mm's mmap_lock and takes
 * window.lock; the zapper takes each mm's mmap_lock first, then window.lock.
 * Ownership is changed under window.lock before the zap, so after the zap no
 * VMA can map a page the window no longer references.
 */
#include <linux/mm.h>
#include <linux/nospec.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "hyv_mdev.h"

/* Pages taken out of the window per zap (an on-stack array). */
#define HYV_WINDOW_BATCH 32

struct hyv_window_vma {
	struct vm_area_struct *vma;
	struct list_head entry;		/* hyv_window.vmas */
	u64 zap_gen;			/* last zap that covered this VMA */
};

void hyv_window_init(struct hyv_instance *inst)
{
	mutex_init(&inst->window.lock);
	INIT_LIST_HEAD(&inst->window.vmas);
}

/*
 * copied: the VMA is a split, move or fork of another and may hold its PTEs.
 * A new mmap has no PTE yet and is born after every ownership change so far;
 * a copy made while a zap runs may have copied PTEs the zap has not reached
 * in its source, so it counts as covered by no zap (generation 0) and the
 * running zap visits it too.
 */
static int hyv_window_track(struct hyv_window *w, struct vm_area_struct *vma, bool copied)
{
	struct hyv_window_vma *wv = kzalloc(sizeof(*wv), GFP_KERNEL);

	if (!wv)
		return -ENOMEM;
	wv->vma = vma;
	mutex_lock(&w->lock);
	wv->zap_gen = copied ? 0 : w->zap_gen;
	list_add(&wv->entry, &w->vmas);
	mutex_unlock(&w->lock);
	return 0;
}

static void hyv_window_vma_open(struct vm_area_struct *vma)
{
	struct hyv_instance *inst = vma->vm_private_data;

	/* A copy of a VMA that lost its tracking below: it has no PTE and stays untracked. */
	if (!inst)
		return;
	/*
	 * A split or a fork. Without tracking the VMA could keep stale PTEs
	 * after a zap, so on allocation failure its PTEs go now and it is left
	 * without an instance: every later fault is SIGBUS.
	 */
	if (hyv_window_track(&inst->window, vma, true)) {
		zap_vma_ptes(vma, vma->vm_start, vma->vm_end - vma->vm_start);
		vma->vm_private_data = NULL;
	}
}

static void hyv_window_vma_close(struct vm_area_struct *vma)
{
	struct hyv_instance *inst = vma->vm_private_data;
	struct hyv_window_vma *wv;

	if (!inst)
		return;
	mutex_lock(&inst->window.lock);
	list_for_each_entry(wv, &inst->window.vmas, entry) {
		if (wv->vma == vma) {
			list_del(&wv->entry);
			kfree(wv);
			break;
		}
	}
	mutex_unlock(&inst->window.lock);
}

static vm_fault_t hyv_window_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct hyv_instance *inst = vma->vm_private_data;
	pgoff_t first = HYV_REGION_OFFSET(VFIO_PCI_BAR2_REGION_INDEX) >> PAGE_SHIFT;
	struct hyv_window *w;
	struct page *page;
	pgoff_t index;
	vm_fault_t ret;

	if (!inst || vmf->pgoff < first || vmf->pgoff - first >= HYV_BAR2_PAGES)
		return VM_FAULT_SIGBUS;
	index = array_index_nospec(vmf->pgoff - first, HYV_BAR2_PAGES);
	w = &inst->window;

	mutex_lock(&w->lock);
	page = w->queue[index];
	if (!page) {
		page = w->private[index];
		if (!page) {
			page = alloc_page(GFP_KERNEL | __GFP_ZERO);
			w->private[index] = page;
		}
	}
	ret = page ? vmf_insert_pfn(vma, vmf->address, page_to_pfn(page)) : VM_FAULT_OOM;
	mutex_unlock(&w->lock);
	return ret;
}

static const struct vm_operations_struct hyv_window_vm_ops = {
	.open = hyv_window_vma_open,
	.close = hyv_window_vma_close,
	.fault = hyv_window_fault,
};

int hyv_window_mmap(struct hyv_instance *inst, struct vm_area_struct *vma, u64 region_offset)
{
	u64 length = vma->vm_end - vma->vm_start;
	int ret;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (region_offset >= HYV_BAR2_SIZE || length > HYV_BAR2_SIZE - region_offset)
		return -EINVAL;

	ret = hyv_window_track(&inst->window, vma, false);
	if (ret)
		return ret;
	/* PFN mappings so that zap_vma_ptes() can take queue pages back. */
	vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &hyv_window_vm_ops;
	vma->vm_private_data = inst;
	return 0;
}

/* Window byte range [start, start + len) of one VMA, as user addresses. */
static void hyv_window_zap_vma(struct vm_area_struct *vma, u64 start, u64 len)
{
	u64 vma_off = ((u64)vma->vm_pgoff << PAGE_SHIFT) & HYV_REGION_MASK;
	u64 vma_len = vma->vm_end - vma->vm_start;
	u64 s = max(start, vma_off), e = min(start + len, vma_off + vma_len);

	if (s < e)
		zap_vma_ptes(vma, vma->vm_start + (s - vma_off), e - s);
}

/*
 * Removes every PTE of window bytes [start, start + len) from every window
 * VMA, one mm at a time under that mm's mmap_lock. Called with no mmap_lock
 * held, after the ownership change under window.lock. Zaps are serialized by
 * ctrl.lock (every caller runs a command or closes the device), so one zap's
 * generation marks are not overwritten by another's.
 */
static void hyv_window_zap(struct hyv_instance *inst, u64 start, u64 len)
{
	struct hyv_window *w = &inst->window;
	struct hyv_window_vma *wv;
	struct mm_struct *mm;
	u64 gen;

	lockdep_assert_held(&inst->ctrl.lock);
	mutex_lock(&w->lock);
	gen = ++w->zap_gen;
	mutex_unlock(&w->lock);

	for (;;) {
		mm = NULL;
		mutex_lock(&w->lock);
		list_for_each_entry(wv, &w->vmas, entry) {
			if (wv->zap_gen == gen)
				continue;
			if (mmget_not_zero(wv->vma->vm_mm)) {
				mm = wv->vma->vm_mm;
				break;
			}
			/* Exiting mm: its page tables go with it. */
			wv->zap_gen = gen;
		}
		mutex_unlock(&w->lock);
		if (!mm)
			return;

		mmap_read_lock(mm);
		mutex_lock(&w->lock);
		list_for_each_entry(wv, &w->vmas, entry) {
			if (wv->zap_gen == gen || wv->vma->vm_mm != mm)
				continue;
			hyv_window_zap_vma(wv->vma, start, len);
			wv->zap_gen = gen;
		}
		mutex_unlock(&w->lock);
		mmap_read_unlock(mm);
		mmput(mm);
	}
}

/*
 * Places npages host queue pages at the first free run of window pages and
 * takes over the caller's page references. *first: the first window page.
 * -ENOSPC when the window has no such run (a finite per-instance resource).
 */
int hyv_window_alloc(struct hyv_instance *inst, struct page **pages, u32 npages, u32 *first)
{
	struct hyv_window *w = &inst->window;
	unsigned long start;
	u32 i;

	if (!npages || npages > HYV_BAR2_PAGES)
		return -ENOSPC;
	mutex_lock(&w->lock);
	start = bitmap_find_next_zero_area(w->used, HYV_BAR2_PAGES, 0, npages, 0);
	if (start >= HYV_BAR2_PAGES) {
		mutex_unlock(&w->lock);
		return -ENOSPC;
	}
	bitmap_set(w->used, start, npages);
	for (i = 0; i < npages; i++)
		w->queue[start + i] = pages[i];
	w->used_pages += npages;
	mutex_unlock(&w->lock);

	/* The guest may have touched these pages while unowned: drop those PTEs. */
	hyv_window_zap(inst, (u64)start << PAGE_SHIFT, (u64)npages << PAGE_SHIFT);
	*first = start;
	return 0;
}

static bool hyv_window_range_ok(u32 first, u32 npages)
{
	return first < HYV_BAR2_PAGES && npages <= HYV_BAR2_PAGES - first;
}

/*
 * Takes window pages [first, first + npages) back from their queue and drops
 * the queue pages; the range stays reserved (its pages read as private pages)
 * until hyv_window_unreserve(). A guest process may still map it: the range
 * must not go to another object before the guest says that mapping is gone.
 */
void hyv_window_retire(struct hyv_instance *inst, u32 first, u32 npages)
{
	struct hyv_window *w = &inst->window;
	struct page *pages[HYV_WINDOW_BATCH];
	u32 done, n, i;

	if (WARN_ON(!hyv_window_range_ok(first, npages)))
		return;
	for (done = 0; done < npages; done += n) {
		n = min_t(u32, npages - done, HYV_WINDOW_BATCH);
		mutex_lock(&w->lock);
		for (i = 0; i < n; i++) {
			pages[i] = w->queue[first + done + i];
			w->queue[first + done + i] = NULL;
		}
		mutex_unlock(&w->lock);
		/* No VMA maps them after this; only then may the pages go. */
		hyv_window_zap(inst, (u64)(first + done) << PAGE_SHIFT, (u64)n << PAGE_SHIFT);
		for (i = 0; i < n; i++)
			if (pages[i])
				put_page(pages[i]);
	}
}

/*
 * Makes a retired range free for other objects. Its private pages go too
 * (after the zap), so nothing written through a stale mapping reaches the
 * range's next owner.
 */
void hyv_window_unreserve(struct hyv_instance *inst, u32 first, u32 npages)
{
	struct hyv_window *w = &inst->window;
	struct page *pages[HYV_WINDOW_BATCH];
	u32 done, n, i;

	if (WARN_ON(!hyv_window_range_ok(first, npages)))
		return;
	for (done = 0; done < npages; done += n) {
		n = min_t(u32, npages - done, HYV_WINDOW_BATCH);
		mutex_lock(&w->lock);
		for (i = 0; i < n; i++) {
			WARN_ON(w->queue[first + done + i]);
			pages[i] = w->private[first + done + i];
			w->private[first + done + i] = NULL;
		}
		mutex_unlock(&w->lock);
		hyv_window_zap(inst, (u64)(first + done) << PAGE_SHIFT, (u64)n << PAGE_SHIFT);
		for (i = 0; i < n; i++)
			if (pages[i])
				put_page(pages[i]);
	}
	mutex_lock(&w->lock);
	bitmap_clear(w->used, first, npages);
	w->used_pages -= npages;
	mutex_unlock(&w->lock);
}

u32 hyv_window_used_pages(struct hyv_instance *inst)
{
	return READ_ONCE(inst->window.used_pages);
}

/*
 * Called on close of the device, after every context (and so every queue
 * page) is gone, with no mapping left: every VMA holds the device file open.
 */
void hyv_window_release(struct hyv_instance *inst)
{
	struct hyv_window *w = &inst->window;
	unsigned int i;

	mutex_lock(&w->lock);
	WARN_ON(w->used_pages || !list_empty(&w->vmas));
	for (i = 0; i < HYV_BAR2_PAGES; i++) {
		if (w->private[i]) {
			put_page(w->private[i]);
			w->private[i] = NULL;
		}
	}
	mutex_unlock(&w->lock);
}
