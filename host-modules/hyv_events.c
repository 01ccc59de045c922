// SPDX-License-Identifier: GPL-2.0-only
/*
 * Completion and async events. The guest never names a host fd: each host
 * context gets a completion channel of its own, created through its uverbs
 * file in QEMU's context the first time the guest creates a CQ, taken out of
 * QEMU's fd table at once and kept by the module. Every CQ of the context is
 * created on it, so an armed CQ (REQ_NOTIFY_CQ) that gets a completion queues
 * an event on the channel. The context's async event file, which GET_CONTEXT
 * installs in QEMU's fd table, is taken over the same way: QP, SRQ and CQ
 * errors, port and device events. A wait entry on each file's poll wait
 * queue schedules its work, which reads the events (in QEMU's address space:
 * uverbs' read wants a user buffer), writes them to the guest's event ring
 * (HYV_OP_EVENT_RING) and raises one interrupt for the burst. An rdma_cm
 * context's file is watched the same way, but its events stay queued on the
 * host: the guest learns that one is there (HYV_EVENT_CM) and fetches it.
 *
 * Locks: events.lock (the ring) is taken inside inst->lock by a reset and is
 * never held while taking inst->lock; the work takes neither ctrl.lock nor
 * anything a command holds while it cancels the work.
 */
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <rdma/ib_user_verbs.h>

#include "hyv_mdev.h"

/* Events read from the channel per work run before the ring is written. */
#define HYV_EVENTS_BATCH 32

void hyv_events_init(struct hyv_instance *inst)
{
	mutex_init(&inst->events.lock);
}

/* Called with inst->lock held: a reset leaves no ring to write to. */
void hyv_events_reset(struct hyv_instance *inst)
{
	lockdep_assert_held(&inst->lock);
	mutex_lock(&inst->events.lock);
	inst->events.ring_addr = 0;
	inst->events.entries = 0;
	inst->events.prod = 0;
	mutex_unlock(&inst->events.lock);
}

int hyv_events_set_ring(struct hyv_instance *inst, const struct hyv_event_ring *r)
{
	u64 addr = le64_to_cpu(r->addr);
	u32 entries = le32_to_cpu(r->entries);
	struct hyv_event_ring_hdr hdr = {};
	u8 last;
	int ret;

	if (!entries || entries > HYV_EVENT_RING_MAX_ENTRIES || !IS_ALIGNED(addr, sizeof(u64)) ||
	    r->reserved)
		return -EINVAL;
	/* The whole ring must be guest RAM now; the last byte is checked by a read. */
	ret = vfio_dma_rw(&inst->vdev, addr + sizeof(hdr) + (u64)entries * sizeof(struct hyv_event) - 1,
			  &last, sizeof(last), false);
	if (ret)
		return ret;
	mutex_lock(&inst->events.lock);
	ret = vfio_dma_rw(&inst->vdev, addr, &hdr, sizeof(hdr), true);
	if (!ret) {
		inst->events.ring_addr = addr;
		inst->events.entries = entries;
		inst->events.prod = 0;
	}
	mutex_unlock(&inst->events.lock);
	return ret;
}

/*
 * Writes n events to the ring, or sets overflow for those that do not fit.
 * Returns whether the guest has something new to look at.
 */
static bool hyv_events_post(struct hyv_instance *inst, const struct hyv_event *ev, u32 n)
{
	struct hyv_events *e = &inst->events;
	__le32 cons_le, prod_le, overflow = cpu_to_le32(1);
	bool posted = false;
	u32 i;

	mutex_lock(&e->lock);
	if (!e->ring_addr)
		goto out;
	if (vfio_dma_rw(&inst->vdev, e->ring_addr + offsetof(struct hyv_event_ring_hdr, cons),
			&cons_le, sizeof(cons_le), false))
		goto bad_ring;
	for (i = 0; i < n; i++) {
		u64 slot = e->ring_addr + sizeof(struct hyv_event_ring_hdr) +
			   (u64)(e->prod % e->entries) * sizeof(*ev);

		/* The guest's cons is only a hint: a bogus one at worst overflows its own ring. */
		if (e->prod - le32_to_cpu(cons_le) >= e->entries) {
			if (vfio_dma_rw(&inst->vdev,
					e->ring_addr + offsetof(struct hyv_event_ring_hdr, overflow),
					&overflow, sizeof(overflow), true))
				goto bad_ring;
			posted = true;
			break;
		}
		if (vfio_dma_rw(&inst->vdev, slot, (void *)&ev[i], sizeof(*ev), true))
			goto bad_ring;
		e->prod++;
		posted = true;
	}
	prod_le = cpu_to_le32(e->prod);
	/* x86 keeps stores in order: the guest sees the events before prod. */
	if (posted && vfio_dma_rw(&inst->vdev, e->ring_addr + offsetof(struct hyv_event_ring_hdr, prod),
				  &prod_le, sizeof(prod_le), true))
		goto bad_ring;
	goto out;

bad_ring:
	/* The guest unmapped its ring (QEMU no longer maps that RAM): stop writing to it. */
	dev_dbg(&inst->mdev->dev, "event ring at %#llx is no longer guest RAM; events stop\n",
		e->ring_addr);
	atomic64_inc(&inst->counters.bad_accesses);
	e->ring_addr = 0;
	posted = false;
out:
	mutex_unlock(&e->lock);
	return posted;
}

/* The largest uverbs event: an async one (a completion event is smaller). */
union hyv_uverbs_event {
	struct ib_uverbs_comp_event_desc comp;
	struct ib_uverbs_async_event_desc async;
};

/* One event from the file, as the guest gets it, or 0 when the file is empty; in QEMU's mm. */
static int hyv_events_read_one(struct hyv_event_file *ef, struct hyv_event *ev)
{
	bool async = ef->source == HYV_EVENTS_ASYNC;
	size_t size = async ? sizeof(struct ib_uverbs_async_event_desc) :
			      sizeof(struct ib_uverbs_comp_event_desc);
	union hyv_uverbs_event desc;
	loff_t pos = 0;
	ssize_t n;

	n = ef->file->f_op->read(ef->file, (char __user *)ef->buf, size, &pos);
	if (n == -EAGAIN)
		return 0;
	if (n != size)
		return n < 0 ? n : -EIO;
	if (copy_from_user(&desc, (void __user *)ef->buf, size))
		return -EFAULT;
	memset(ev, 0, sizeof(*ev));
	ev->ctx = cpu_to_le32(ef->ctx->handle);
	if (async) {
		ev->type = cpu_to_le16(HYV_EVENT_ASYNC);
		ev->async_event = cpu_to_le16(desc.async.event_type);
		ev->cookie = cpu_to_le64(desc.async.element);
	} else {
		ev->type = cpu_to_le16(HYV_EVENT_COMPLETION);
		ev->cookie = cpu_to_le64(desc.comp.cq_handle);
	}
	return 1;
}

/* Raises the configuration interrupt for what was posted. */
static void hyv_events_notify(struct hyv_instance *inst)
{
	mutex_lock(&inst->lock);
	if (!inst->dead)
		hyv_raise_config_interrupt(inst);
	mutex_unlock(&inst->lock);
}

/*
 * An rdma_cm file has an event queued. The guest fetches it with its own
 * GET_EVENT (which then does not wait), so only the readiness is posted:
 * events from one wake-up need one entry.
 */
static void hyv_events_cm_ready(struct hyv_event_file *ef)
{
	struct hyv_event ev = {
		.type = cpu_to_le16(HYV_EVENT_CM),
		.ctx = cpu_to_le32(ef->ctx->handle),
	};

	if (hyv_events_post(ef->ctx->inst, &ev, 1))
		hyv_events_notify(ef->ctx->inst);
}

static void hyv_events_work(struct work_struct *work)
{
	struct hyv_event_file *ef = container_of(work, struct hyv_event_file, work);
	struct hyv_context *ctx = ef->ctx;
	struct hyv_instance *inst = ctx->inst;
	struct hyv_event ev[HYV_EVENTS_BATCH];
	bool notify = false;
	int ret = 0;
	u32 n;

	if (ef->source == HYV_EVENTS_CM) {
		hyv_events_cm_ready(ef);
		return;
	}
	/* QEMU is exiting: its contexts are about to close, the events with them. */
	if (!mmget_not_zero(ctx->mm))
		return;
	do {
		n = 0;
		kthread_use_mm(ctx->mm);
		while (n < HYV_EVENTS_BATCH && (ret = hyv_events_read_one(ef, &ev[n])) > 0)
			n++;
		kthread_unuse_mm(ctx->mm);
		if (ret < 0)
			dev_dbg(&inst->mdev->dev, "context %u: reading its %s events: %d\n", ctx->handle,
				ef->source == HYV_EVENTS_ASYNC ? "async" : "completion", ret);
		if (n && hyv_events_post(inst, ev, n))
			notify = true;
	} while (n == HYV_EVENTS_BATCH);
	mmput(ctx->mm);

	if (notify)
		hyv_events_notify(inst);
}

/* The file's wait queue: atomic context, so the reading happens in the work. */
static int hyv_events_wake(struct wait_queue_entry *wait, unsigned int mode, int sync, void *key)
{
	struct hyv_event_file *ef = container_of(wait, struct hyv_event_file, wait);

	if (!key || (key_to_poll(key) & EPOLLIN))
		schedule_work(&ef->work);
	return 0;
}

static void hyv_events_queue_proc(struct file *file, wait_queue_head_t *wqh, poll_table *pt)
{
	struct hyv_event_file *ef = container_of(pt, struct hyv_event_file, pt);

	ef->wqh = wqh;
	add_wait_queue(wqh, &ef->wait);
}

/* Adds the wait entry; schedules the work at once if the file already has events. */
static int hyv_events_poll_add(struct hyv_event_file *ef)
{
	__poll_t mask;

	INIT_WORK(&ef->work, hyv_events_work);
	init_waitqueue_func_entry(&ef->wait, hyv_events_wake);
	init_poll_funcptr(&ef->pt, hyv_events_queue_proc);
	mask = vfs_poll(ef->file, &ef->pt);
	if (!ef->wqh)
		return -EIO;
	if (mask & EPOLLIN)
		schedule_work(&ef->work);
	return 0;
}

/*
 * Watches an event file uverbs installed in QEMU's fd table: the caller took
 * a reference (f) and closed the fd, so QEMU (and the guest) never holds it.
 * Consumes f. In QEMU's context.
 */
static int hyv_events_watch(struct hyv_context *ctx, struct hyv_event_file *ef, struct file *f,
			    enum hyv_event_source source)
{
	unsigned long buf;
	int ret;

	ef->file = f;
	buf = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(buf)) {
		ret = (int)buf;
		goto err_put;
	}
	spin_lock(&ef->file->f_lock);
	ef->file->f_flags |= O_NONBLOCK;
	spin_unlock(&ef->file->f_lock);
	ef->ctx = ctx;
	ef->source = source;
	ef->buf = buf;
	ret = hyv_events_poll_add(ef);
	if (ret)
		goto err_unmap;
	return 0;

err_unmap:
	vm_munmap(buf, PAGE_SIZE);
err_put:
	fput(ef->file);
	ef->file = NULL;
	return ret;
}

/*
 * An rdma_cm context's file (opened non-blocking): each event it queues is
 * announced to the guest as HYV_EVENT_CM. The context keeps the file.
 */
int hyv_events_watch_cm(struct hyv_context *ctx)
{
	struct hyv_event_file *ef = &ctx->cm;
	int ret;

	ef->ctx = ctx;
	ef->source = HYV_EVENTS_CM;
	ef->file = get_file(ctx->file);
	ret = hyv_events_poll_add(ef);
	if (ret) {
		fput(ef->file);
		ef->file = NULL;
	}
	return ret;
}

/* CREATE_COMP_CHANNEL on the context's own uverbs file: the fd it installs in QEMU. */
static int hyv_events_create_channel(struct hyv_context *ctx, int *fd)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_create_comp_channel cmd;
	} c = {
		.hdr = { .command = IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL, .in_words = sizeof(c) / 4,
			 .out_words = sizeof(struct ib_uverbs_create_comp_channel_resp) / 4 },
	};
	struct ib_uverbs_create_comp_channel_resp resp;
	ssize_t ret;

	ret = hyv_context_run(ctx, (u8 *)&c, sizeof(c), (u8 *)&resp, sizeof(resp));
	if (ret < 0)
		return ret;
	*fd = resp.fd;
	return 0;
}

/*
 * For CREATE_CQ, with ctrl.lock held in QEMU's context: the context's
 * completion channel, created on first use, with an fd in QEMU's fd table
 * for the length of the command (uverbs looks the channel up by fd in the
 * caller's table). The caller closes the fd again.
 */
int hyv_events_get_fd(struct hyv_context *ctx)
{
	int fd, ret;

	lockdep_assert_held(&ctx->inst->ctrl.lock);
	if (!ctx->comp.file) {
		struct file *f;

		ret = hyv_events_create_channel(ctx, &fd);
		if (ret)
			return ret;
		f = fget(fd);
		close_fd(fd);
		if (!f)
			return -EBADF;
		ret = hyv_events_watch(ctx, &ctx->comp, f, HYV_EVENTS_COMPLETION);
		if (ret)
			return ret;
	}
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	fd_install(fd, get_file(ctx->comp.file));
	return fd;
}

/*
 * GET_CONTEXT installed the context's async event file in QEMU's fd table
 * as fd: checked to be that file (the one referenced is the one watched),
 * taken out of the table, then watched like the completion channel.
 */
#define HYV_ASYNC_FILE_NAME "[infinibandevent]"

int hyv_events_open_async(struct hyv_context *ctx, int fd)
{
	struct file *f = fget(fd);

	lockdep_assert_held(&ctx->inst->ctrl.lock);
	if (!f)
		return -EBADF;
	if (strcmp(f->f_path.dentry->d_name.name, HYV_ASYNC_FILE_NAME)) {
		fput(f);
		dev_warn(&ctx->inst->mdev->dev, "GET_CONTEXT returned fd %d that is not an async event file\n",
			 fd);
		return -EPROTO;
	}
	close_fd(fd);
	return hyv_events_watch(ctx, &ctx->async, f, HYV_EVENTS_ASYNC);
}

static void hyv_events_unwatch(struct hyv_context *ctx, struct hyv_event_file *ef)
{
	if (!ef->file)
		return;
	remove_wait_queue(ef->wqh, &ef->wait);
	cancel_work_sync(&ef->work);
	fput(ef->file);
	ef->file = NULL;
	if (ef->buf && current->mm == ctx->mm)
		vm_munmap(ef->buf, PAGE_SIZE);
}

/* Context close: no work runs or gets scheduled afterwards. */
void hyv_events_context_release(struct hyv_context *ctx)
{
	hyv_events_unwatch(ctx, &ctx->comp);
	hyv_events_unwatch(ctx, &ctx->async);
	hyv_events_unwatch(ctx, &ctx->cm);
}
