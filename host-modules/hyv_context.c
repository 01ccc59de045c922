// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host contexts and the relay. A guest context is backed by the host
 * device's own uverbs file (or, for a guest rdma_cm file, the host's rdma_cm
 * file: hyv_cm.c), opened for QEMU with QEMU's credentials (uverbs
 * insists that the writer's credentials are the opener's), and by a scratch page
 * mapped into QEMU's address space: uverbs reads commands from and writes
 * responses to user pointers, and the scratch page is where those live.
 * Closing the file destroys every host object of the context, which is what
 * makes teardown on guest exit, unplug or QEMU crash complete.
 *
 * Only allow-listed uverbs commands run (hyv_uverbs.c), and each one's user
 * pointers are rewritten to point into the scratch page: a guest never names
 * an address in QEMU's address space.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kmod.h>
#include <linux/mman.h>
#include <linux/namei.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <rdma/ib_user_verbs.h>

#include "hyv_mdev.h"

/* /sys/class/infiniband_verbs/uverbs<N>/ibdev is searched up to this N. */
#define HYV_UVERBS_SCAN_MAX 64
#define HYV_UVERBS_SYSFS_FMT "/sys/class/infiniband_verbs/uverbs%u/ibdev"
#define HYV_UVERBS_DEV_FMT "/dev/infiniband/uverbs%u"
#define HYV_PATH_MAX 64
#define HYV_UCMA_DEV "/dev/infiniband/rdma_cm"
#define HYV_UCMA_MODULE "rdma_ucm"

/*
 * Finding a host device node runs in a kernel worker, whose root is the init
 * mount namespace's: QEMU's own namespace (libvirt gives it a private /dev)
 * need not have /dev/infiniband at all. The file is then opened in QEMU's
 * context from the resolved path, with QEMU's credentials.
 */
struct hyv_node_lookup {
	struct work_struct work;
	char ibdev[HYV_IBDEV_NAME_MAX];	/* uverbs: the host device; else empty */
	struct path path;
	int ret;
};

/* uverbs<N> whose sysfs ibdev is the host device's name. */
static int hyv_uverbs_index(const char *ibdev, unsigned int *index)
{
	char name[HYV_IBDEV_NAME_MAX], path[HYV_PATH_MAX];
	struct file *f;
	unsigned int i;
	loff_t pos;
	ssize_t n;

	for (i = 0; i < HYV_UVERBS_SCAN_MAX; i++) {
		snprintf(path, sizeof(path), HYV_UVERBS_SYSFS_FMT, i);
		f = filp_open(path, O_RDONLY, 0);
		if (IS_ERR(f))
			continue;
		pos = 0;
		n = kernel_read(f, name, sizeof(name) - 1, &pos);
		fput(f);
		if (n <= 0)
			continue;
		name[n] = '\0';
		if (!strcmp(strim(name), ibdev)) {
			*index = i;
			return 0;
		}
	}
	return -ENODEV;
}

static void hyv_node_lookup_fn(struct work_struct *work)
{
	struct hyv_node_lookup *l = container_of(work, struct hyv_node_lookup, work);
	char path[HYV_PATH_MAX];
	unsigned int index;

	if (!l->ibdev[0]) {
		l->ret = kern_path(HYV_UCMA_DEV, LOOKUP_FOLLOW, &l->path);
		/* rdma_ucm makes the node when it loads; it may not be loaded yet. */
		if (l->ret == -ENOENT && !request_module(HYV_UCMA_MODULE))
			l->ret = kern_path(HYV_UCMA_DEV, LOOKUP_FOLLOW, &l->path);
		return;
	}
	l->ret = hyv_uverbs_index(l->ibdev, &index);
	if (l->ret)
		return;
	snprintf(path, sizeof(path), HYV_UVERBS_DEV_FMT, index);
	l->ret = kern_path(path, LOOKUP_FOLLOW, &l->path);
}

/*
 * The host device's uverbs node, or with kind HYV_CONTEXT_CM the rdma_cm
 * node (non-blocking: a GET_EVENT must never hold a vCPU), opened for QEMU.
 */
static struct file *hyv_node_open(struct hyv_parent *parent, enum hyv_context_kind kind)
{
	struct hyv_node_lookup l = {};
	int flags = O_RDWR | O_CLOEXEC;
	struct file *f;
	int ret;

	if (kind == HYV_CONTEXT_VERBS) {
		ret = hyv_parent_ibdev_name(parent, l.ibdev, sizeof(l.ibdev));
		if (ret)
			return ERR_PTR(ret);
	} else {
		flags |= O_NONBLOCK;
	}
	INIT_WORK_ONSTACK(&l.work, hyv_node_lookup_fn);
	queue_work(system_unbound_wq, &l.work);
	flush_work(&l.work);
	destroy_work_on_stack(&l.work);
	if (l.ret)
		return ERR_PTR(l.ret);
	/*
	 * dentry_open skips open(2)'s permission check: QEMU must be allowed the
	 * node (mode, ACLs, device cgroup) as if it opened it itself.
	 */
	ret = inode_permission(mnt_user_ns(l.path.mnt), d_inode(l.path.dentry),
			       MAY_READ | MAY_WRITE);
	/* uverbs and rdma_ucm accept writes only from the opener's credentials: QEMU's. */
	f = ret ? ERR_PTR(ret) : dentry_open(&l.path, flags, current_cred());
	path_put(&l.path);
	return f;
}

int hyv_context_open(struct hyv_instance *inst, enum hyv_context_kind kind,
		     struct hyv_context **out)
{
	struct hyv_context *ctx;
	unsigned long addr;
	int ret;

	/* Only a process with an address space (QEMU) can hold contexts. */
	if (!current->mm || (current->flags & PF_KTHREAD))
		return -EPERM;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->inst = inst;
	ctx->kind = kind;
	INIT_LIST_HEAD(&ctx->qmaps);
	xa_init(&ctx->mrs);
	xa_init(&ctx->cm_ud_ids);
	ctx->file = hyv_node_open(inst->parent, kind);
	if (IS_ERR(ctx->file)) {
		ret = PTR_ERR(ctx->file);
		goto err_free;
	}
	addr = vm_mmap(NULL, 0, HYV_CONTEXT_SCRATCH_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(addr)) {
		ret = (int)addr;
		goto err_file;
	}
	ctx->scratch = addr;
	ctx->mm = current->mm;
	mmgrab(ctx->mm);
	if (kind == HYV_CONTEXT_CM) {
		ret = hyv_events_watch_cm(ctx);
		if (ret)
			goto err_mm;
	}
	*out = ctx;
	return 0;

err_mm:
	vm_munmap(ctx->scratch, HYV_CONTEXT_SCRATCH_SIZE);
	mmdrop(ctx->mm);
err_file:
	fput(ctx->file);
err_free:
	kfree(ctx);
	return ret;
}

/*
 * The scratch page can only be unmapped from QEMU's own context; when QEMU is
 * exiting its address space is already gone and the page with it.
 */
void hyv_context_close(struct hyv_context *ctx)
{
	/* No event work runs past this point. */
	hyv_events_context_release(ctx);
	/* Rings leave BAR2 first; the file's release then destroys the objects. */
	hyv_uverbs_context_release(ctx->inst, ctx);
	/* Whatever the guest left (PDs, CQs, QPs, MRs) dies with the file below. */
	hyv_quota_release_context(ctx);
	xa_destroy(&ctx->mrs);
	xa_destroy(&ctx->cm_ud_ids);
	if (current->mm == ctx->mm)
		vm_munmap(ctx->scratch, HYV_CONTEXT_SCRATCH_SIZE);
	mmdrop(ctx->mm);
	/* For an rdma_cm context its release destroys every CM ID of it. */
	fput(ctx->file);
	kfree(ctx);
}

static ssize_t hyv_file_write(struct file *f, const char __user *buf, size_t len)
{
	loff_t pos = 0;

	if (!(f->f_mode & FMODE_WRITE) || !f->f_op->write)
		return -EINVAL;
	return f->f_op->write(f, buf, len, &pos);
}

/*
 * Runs one write command on the context's host file: payload (in_len bytes)
 * is copied to the scratch page, with the u64 response pointer at
 * resp_ptr_off (when resp_size) pointing into the scratch page too, right
 * after the command; resp gets resp_size response bytes. The caller has
 * checked the command. Returns the response length or a negative errno.
 */
ssize_t hyv_context_relay(struct hyv_context *ctx, u8 *payload, u32 in_len, u32 resp_ptr_off,
			  u8 *resp, u32 resp_size)
{
	u32 resp_off = ALIGN(in_len, HYV_CMD_ALIGN);
	u64 uresp;
	ssize_t ret;

	if (current->mm != ctx->mm)
		return -EPERM;
	if (resp_off + resp_size > HYV_CONTEXT_SCRATCH_SIZE)
		return -EINVAL;
	if (resp_size) {
		if (resp_ptr_off + sizeof(uresp) > in_len)
			return -EINVAL;
		uresp = ctx->scratch + resp_off;
		memcpy(payload + resp_ptr_off, &uresp, sizeof(uresp));
	}
	if (copy_to_user((void __user *)ctx->scratch, payload, in_len) ||
	    clear_user((void __user *)(ctx->scratch + resp_off), resp_size))
		return -EFAULT;
	ret = hyv_file_write(ctx->file, (const char __user *)ctx->scratch, in_len);
	if (ret < 0)
		return ret;
	if (copy_from_user(resp, (void __user *)(ctx->scratch + resp_off), resp_size))
		return -EFAULT;
	return resp_size;
}

/* A uverbs write command: its response pointer is the u64 after the header. */
ssize_t hyv_context_run(struct hyv_context *ctx, u8 *payload, u32 in_len, u8 *resp,
			u32 resp_size)
{
	if (ctx->kind != HYV_CONTEXT_VERBS || in_len < sizeof(struct ib_uverbs_cmd_hdr))
		return -EINVAL;
	return hyv_context_relay(ctx, payload, in_len, sizeof(struct ib_uverbs_cmd_hdr), resp,
				 resp_size);
}
