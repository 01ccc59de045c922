// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host contexts and the uverbs relay. A guest context is backed by the host
 * device's own uverbs file, opened for QEMU with QEMU's credentials (uverbs
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

/*
 * Finding the host device's uverbs node runs in a kernel worker, whose root is
 * the init mount namespace's: QEMU's own namespace (libvirt gives it a private
 * /dev) need not have /dev/infiniband at all. The file is then opened in
 * QEMU's context from the resolved path, with QEMU's credentials.
 */
struct hyv_uverbs_lookup {
	struct work_struct work;
	char ibdev[HYV_IBDEV_NAME_MAX];
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

static void hyv_uverbs_lookup_fn(struct work_struct *work)
{
	struct hyv_uverbs_lookup *l = container_of(work, struct hyv_uverbs_lookup, work);
	char path[HYV_PATH_MAX];
	unsigned int index;

	l->ret = hyv_uverbs_index(l->ibdev, &index);
	if (l->ret)
		return;
	snprintf(path, sizeof(path), HYV_UVERBS_DEV_FMT, index);
	l->ret = kern_path(path, LOOKUP_FOLLOW, &l->path);
}

static struct file *hyv_uverbs_open(struct hyv_parent *parent)
{
	struct hyv_uverbs_lookup l = {};
	struct file *f;
	int ret;

	ret = hyv_parent_ibdev_name(parent, l.ibdev, sizeof(l.ibdev));
	if (ret)
		return ERR_PTR(ret);
	INIT_WORK_ONSTACK(&l.work, hyv_uverbs_lookup_fn);
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
	/* uverbs accepts writes only from the opener's credentials: QEMU's. */
	f = ret ? ERR_PTR(ret) : dentry_open(&l.path, O_RDWR | O_CLOEXEC, current_cred());
	path_put(&l.path);
	return f;
}

int hyv_context_open(struct hyv_instance *inst, struct hyv_context **out)
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
	INIT_LIST_HEAD(&ctx->qmaps);
	xa_init(&ctx->mrs);
	ctx->uverbs = hyv_uverbs_open(inst->parent);
	if (IS_ERR(ctx->uverbs)) {
		ret = PTR_ERR(ctx->uverbs);
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
	*out = ctx;
	return 0;

err_file:
	fput(ctx->uverbs);
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
	if (current->mm == ctx->mm)
		vm_munmap(ctx->scratch, HYV_CONTEXT_SCRATCH_SIZE);
	mmdrop(ctx->mm);
	fput(ctx->uverbs);
	kfree(ctx);
}

static ssize_t hyv_uverbs_file_write(struct file *f, const char __user *buf, size_t len)
{
	loff_t pos = 0;

	if (!(f->f_mode & FMODE_WRITE) || !f->f_op->write)
		return -EINVAL;
	return f->f_op->write(f, buf, len, &pos);
}

/*
 * Runs one uverbs write command on the context's host file: payload (in_len
 * bytes, the uverbs write ABI) is copied to the scratch page with its
 * response pointer (when resp_size, the u64 after the header) pointing into
 * the scratch page too; resp gets resp_size response bytes. The caller has
 * checked the command. Returns the response length or a negative errno.
 */
ssize_t hyv_context_run(struct hyv_context *ctx, u8 *payload, u32 in_len, u8 *resp,
			u32 resp_size)
{
	u32 resp_off = ALIGN(in_len, HYV_CMD_ALIGN);
	u64 uresp;
	ssize_t ret;

	if (current->mm != ctx->mm)
		return -EPERM;
	if (in_len < sizeof(struct ib_uverbs_cmd_hdr) ||
	    resp_off + resp_size > HYV_CONTEXT_SCRATCH_SIZE)
		return -EINVAL;
	if (resp_size) {
		if (in_len < sizeof(struct ib_uverbs_cmd_hdr) + sizeof(uresp))
			return -EINVAL;
		uresp = ctx->scratch + resp_off;
		memcpy(payload + sizeof(struct ib_uverbs_cmd_hdr), &uresp, sizeof(uresp));
	}
	if (copy_to_user((void __user *)ctx->scratch, payload, in_len) ||
	    clear_user((void __user *)(ctx->scratch + resp_off), resp_size))
		return -EFAULT;
	ret = hyv_uverbs_file_write(ctx->uverbs, (const char __user *)ctx->scratch, in_len);
	if (ret < 0)
		return ret;
	if (copy_from_user(resp, (void __user *)(ctx->scratch + resp_off), resp_size))
		return -EFAULT;
	return resp_size;
}
