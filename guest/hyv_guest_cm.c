// SPDX-License-Identifier: GPL-2.0-only
/*
 * rdma_cm in the guest (docs/rdma-cm.md): /dev/infiniband/rdma_cm, the node
 * librdmacm opens, is this driver's misc device. Each open file is backed by
 * a host rdma_cm context (HYV_OP_CM_OPEN) on the first hyv device, and each
 * write command is forwarded to it (HYV_OP_CM_WRITE): the driver copies the
 * command in and the response out to the pointer the process gave; the host
 * rewrites the pointer on its side and checks every address against the
 * VM's network identity.
 *
 * GET_EVENT never waits on the host: when the host has no event queued, the
 * file waits for the host's HYV_EVENT_CM interrupt (or, non-blocking,
 * returns EAGAIN); poll() reports readiness from the same interrupts.
 *
 * The guest's own rdma_ucm module registers the same node. With it loaded
 * first, rdma_cm through hyv is off and a warning says so.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/miscdevice.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <rdma/ib.h>
#include <rdma/rdma_user_cm.h>

#include "hyv_guest.h"

/* The largest command or response that is forwarded; rdma_ucm's are a few hundred bytes. */
#define HYV_CM_MAX_CMD 1024u
#define HYV_CM_MAX_RESP 512u
#define HYV_CM_NO_RESPONSE U32_MAX

struct hyv_cm_file {
	struct mutex lock;		/* hdev, host_ctx: one command at a time */
	struct hyv_dev *hdev;		/* NULL once the device is gone */
	u32 host_ctx;
	struct list_head node;		/* in hdev->cm_files, under hyv_cm_lock */
	wait_queue_head_t wait;
	atomic_t ready;			/* HYV_EVENT_CM interrupts seen */
	int idle;			/* ready as it was when GET_EVENT last found nothing */
};

/* hyv devices (the first one serves new files) and each one's files. */
static DEFINE_MUTEX(hyv_cm_lock);
static LIST_HEAD(hyv_cm_devices);
static bool hyv_cm_registered;

/* Where the response pointer sits in a command that has one. */
static u32 hyv_cm_resp_ptr(u32 cmd)
{
	switch (cmd) {
	case RDMA_USER_CM_CMD_CREATE_ID:
		return offsetof(struct rdma_ucm_create_id, response);
	case RDMA_USER_CM_CMD_DESTROY_ID:
		return offsetof(struct rdma_ucm_destroy_id, response);
	case RDMA_USER_CM_CMD_QUERY_ROUTE:
	case RDMA_USER_CM_CMD_QUERY:
		return offsetof(struct rdma_ucm_query, response);
	case RDMA_USER_CM_CMD_INIT_QP_ATTR:
		return offsetof(struct rdma_ucm_init_qp_attr, response);
	case RDMA_USER_CM_CMD_GET_EVENT:
		return offsetof(struct rdma_ucm_get_event, response);
	default:
		return HYV_CM_NO_RESPONSE;
	}
}

/*
 * librdmacm finds the verbs device of a CM ID by node GUID and device index:
 * the host's index means nothing here, the guest device's own does.
 */
static void hyv_cm_fix_index(struct hyv_dev *hdev, u32 cmd, const void *body, void *resp,
			     u32 len)
{
	struct rdma_ucm_query_route_resp *route = resp;
	struct rdma_ucm_query_addr_resp *addr = resp;
	const struct rdma_ucm_query *q = body;

	if (cmd == RDMA_USER_CM_CMD_QUERY_ROUTE && len >= sizeof(*route) && route->node_guid)
		route->ibdev_index = hdev->ibdev.index;
	else if (cmd == RDMA_USER_CM_CMD_QUERY && q->option != RDMA_USER_CM_QUERY_PATH &&
		 len >= sizeof(*addr) && addr->node_guid)
		addr->ibdev_index = hdev->ibdev.index;
}

static int hyv_cm_forward(struct hyv_cm_file *cf, const void *in, u32 in_len, void *out,
			  u32 out_len, u32 *got)
{
	int ret;

	mutex_lock(&cf->lock);
	if (!cf->hdev) {
		ret = -ENODEV;
	} else {
		ret = hyv_cmd_exec(cf->hdev, HYV_OP_CM_WRITE, cf->host_ctx, in, in_len, out,
				   out_len, got, NULL);
		if (!ret)
			hyv_cm_fix_index(cf->hdev, ((const struct rdma_ucm_cmd_hdr *)in)->cmd,
					 (const u8 *)in + sizeof(struct rdma_ucm_cmd_hdr), out, *got);
	}
	mutex_unlock(&cf->lock);
	return ret;
}

static bool hyv_cm_gone(struct hyv_cm_file *cf)
{
	return !READ_ONCE(cf->hdev);
}

/* GET_EVENT: the host never waits, this file does, for the host's next HYV_EVENT_CM. */
static int hyv_cm_get_event(struct hyv_cm_file *cf, struct file *filp, const void *in,
			    u32 in_len, void *out, u32 out_len, u32 *got)
{
	int seen, ret;

	for (;;) {
		seen = atomic_read(&cf->ready);
		ret = hyv_cm_forward(cf, in, in_len, out, out_len, got);
		/* The host answers an empty response when it has no event queued. */
		if (ret || *got)
			return ret;
		WRITE_ONCE(cf->idle, seen);
		if (filp->f_flags & O_NONBLOCK)
			return -EAGAIN;
		if (wait_event_interruptible(cf->wait,
					     atomic_read(&cf->ready) != seen || hyv_cm_gone(cf)))
			return -ERESTARTSYS;
	}
}

static ssize_t hyv_cm_write(struct file *filp, const char __user *buf, size_t len, loff_t *pos)
{
	struct hyv_cm_file *cf = filp->private_data;
	struct rdma_ucm_cmd_hdr hdr;
	u32 in_len, out_len, resp_ptr, got = 0;
	u64 uresp = 0;
	void *out = NULL;
	u8 *in;
	int ret;

	/* As rdma_ucm: only the opener's credentials, never from a kernel context. */
	if (!ib_safe_file_access(filp))
		return -EACCES;
	if (len < sizeof(hdr))
		return -EINVAL;
	if (copy_from_user(&hdr, buf, sizeof(hdr)))
		return -EFAULT;
	in_len = sizeof(hdr) + hdr.in;
	if (in_len > len || in_len > HYV_CM_MAX_CMD)
		return -EINVAL;
	in = memdup_user(buf, in_len);
	if (IS_ERR(in))
		return PTR_ERR(in);
	resp_ptr = hyv_cm_resp_ptr(hdr.cmd);
	out_len = 0;
	if (resp_ptr != HYV_CM_NO_RESPONSE) {
		if (hdr.in < resp_ptr + sizeof(uresp)) {
			ret = -EINVAL;
			goto out;
		}
		memcpy(&uresp, in + sizeof(hdr) + resp_ptr, sizeof(uresp));
		out_len = min_t(u32, hdr.out, HYV_CM_MAX_RESP);
		out = kzalloc(out_len ?: 1, GFP_KERNEL);
		if (!out) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (hdr.cmd == RDMA_USER_CM_CMD_GET_EVENT)
		ret = hyv_cm_get_event(cf, filp, in, in_len, out, out_len, &got);
	else
		ret = hyv_cm_forward(cf, in, in_len, out, out_len, &got);
	if (!ret && got && copy_to_user(u64_to_user_ptr(uresp), out, got))
		ret = -EFAULT;
out:
	kfree(out);
	kfree(in);
	return ret ?: len;
}

static __poll_t hyv_cm_poll(struct file *filp, struct poll_table_struct *wait)
{
	struct hyv_cm_file *cf = filp->private_data;

	poll_wait(filp, &cf->wait, wait);
	if (atomic_read(&cf->ready) != READ_ONCE(cf->idle) || hyv_cm_gone(cf))
		return EPOLLIN | EPOLLRDNORM;
	return 0;
}

/* Under hyv_cm_lock and cf->lock: the host context goes, no event reaches the file any more. */
static void hyv_cm_detach(struct hyv_cm_file *cf)
{
	struct hyv_dev *hdev = cf->hdev;

	list_del(&cf->node);
	hyv_events_untrack(hdev, &hdev->cm_files, cf->host_ctx);
	hyv_ctx_close(hdev, cf->host_ctx);
	WRITE_ONCE(cf->hdev, NULL);
	wake_up_interruptible(&cf->wait);
}

static int hyv_cm_open(struct inode *inode, struct file *filp)
{
	struct hyv_cm_file *cf;
	struct hyv_dev *hdev;
	u64 value;
	int ret;

	cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	if (!cf)
		return -ENOMEM;
	mutex_init(&cf->lock);
	init_waitqueue_head(&cf->wait);
	atomic_set(&cf->ready, 0);

	mutex_lock(&hyv_cm_lock);
	hdev = list_first_entry_or_null(&hyv_cm_devices, struct hyv_dev, cm_node);
	if (!hdev) {
		ret = -ENODEV;
		goto err_unlock;
	}
	ret = hyv_cmd_exec(hdev, HYV_OP_CM_OPEN, 0, NULL, 0, NULL, 0, NULL, &value);
	if (ret)
		goto err_unlock;
	if (value >= HYV_MAX_CONTEXTS) {
		ret = -EPROTO;
		goto err_unlock;
	}
	cf->host_ctx = value;
	ret = xa_err(xa_store_irq(&hdev->cm_files, cf->host_ctx, cf, GFP_KERNEL));
	if (ret)
		goto err_close;
	cf->hdev = hdev;
	list_add(&cf->node, &hdev->cm_files_list);
	mutex_unlock(&hyv_cm_lock);
	filp->private_data = cf;
	return stream_open(inode, filp);

err_close:
	hyv_ctx_close(hdev, cf->host_ctx);
err_unlock:
	mutex_unlock(&hyv_cm_lock);
	kfree(cf);
	return ret;
}

static int hyv_cm_release(struct inode *inode, struct file *filp)
{
	struct hyv_cm_file *cf = filp->private_data;

	mutex_lock(&hyv_cm_lock);
	mutex_lock(&cf->lock);
	if (cf->hdev)
		hyv_cm_detach(cf);
	mutex_unlock(&cf->lock);
	mutex_unlock(&hyv_cm_lock);
	kfree(cf);
	return 0;
}

static const struct file_operations hyv_cm_fops = {
	.owner = THIS_MODULE,
	.open = hyv_cm_open,
	.release = hyv_cm_release,
	.write = hyv_cm_write,
	.poll = hyv_cm_poll,
	.llseek = no_llseek,
};

static ssize_t abi_version_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", RDMA_USER_CM_ABI_VERSION);
}
static DEVICE_ATTR_RO(abi_version);

static struct attribute *hyv_cm_attrs[] = {
	&dev_attr_abi_version.attr,
	NULL,
};
ATTRIBUTE_GROUPS(hyv_cm);

static struct miscdevice hyv_cm_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "rdma_cm",
	.nodename = "infiniband/rdma_cm",
	.mode = 0666,
	.fops = &hyv_cm_fops,
	.groups = hyv_cm_groups,
};

/* HYV_EVENT_CM, under events_lock in the interrupt: the file's GET_EVENT finds an event now. */
void hyv_cm_event(struct hyv_dev *hdev, u32 host_ctx)
{
	struct hyv_cm_file *cf = xa_load(&hdev->cm_files, host_ctx);

	if (!cf)
		return;
	atomic_inc(&cf->ready);
	wake_up_interruptible(&cf->wait);
}

/* The event ring overflowed (under events_lock): any file may have an event. */
void hyv_cm_event_all(struct hyv_dev *hdev)
{
	struct hyv_cm_file *cf;
	unsigned long index;

	xa_for_each(&hdev->cm_files, index, cf) {
		atomic_inc(&cf->ready);
		wake_up_interruptible(&cf->wait);
	}
}

/* After the ib_device is registered: new rdma_cm files may use the device. */
void hyv_cm_add_device(struct hyv_dev *hdev)
{
	INIT_LIST_HEAD(&hdev->cm_files_list);
	mutex_lock(&hyv_cm_lock);
	list_add_tail(&hdev->cm_node, &hyv_cm_devices);
	mutex_unlock(&hyv_cm_lock);
}

/* Before the device goes: its files fail from now on (ENODEV), their host contexts are closed. */
void hyv_cm_remove_device(struct hyv_dev *hdev)
{
	struct hyv_cm_file *cf, *tmp;

	mutex_lock(&hyv_cm_lock);
	list_del(&hdev->cm_node);
	list_for_each_entry_safe(cf, tmp, &hdev->cm_files_list, node) {
		mutex_lock(&cf->lock);
		hyv_cm_detach(cf);
		mutex_unlock(&cf->lock);
	}
	mutex_unlock(&hyv_cm_lock);
}

/* Module load: a taken node (the guest's rdma_ucm) leaves rdma_cm off, the rest works. */
void hyv_cm_register(void)
{
	int ret = misc_register(&hyv_cm_misc);

	if (ret) {
		pr_warn("rdma_cm through hyv is off: /dev/infiniband/rdma_cm is taken (%d); unload rdma_ucm, then reload virtio_hyv\n",
			ret);
		return;
	}
	hyv_cm_registered = true;
}

void hyv_cm_unregister(void)
{
	if (hyv_cm_registered)
		misc_deregister(&hyv_cm_misc);
	hyv_cm_registered = false;
}
