// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-instance quotas on the host objects a guest can make: PDs, CQs, QPs,
 * SRQs, MRs, bytes of guest memory pinned by MRs and rdma_cm IDs. A guest that would exceed one
 * gets the errno bare metal gives for the same limit: EAGAIN for object
 * counts (the rdma cgroup's rdma.max) and ENOMEM for pinned memory
 * (RLIMIT_MEMLOCK in ib_umem_get); the host verb never runs.
 *
 * Usage is kept per context as well, because closing a context makes uverbs
 * destroy whatever is left of it without a command per object. All usage
 * changes run in commands, under ctrl.lock; limits are set through sysfs
 * (/sys/bus/mdev/devices/<uuid>/quota/<resource>_max, by hyvd) at any time
 * and apply to the next create.
 */
#include <linux/module.h>

#include "hyv_mdev.h"

static unsigned int default_max_pds = 1024;
module_param(default_max_pds, uint, 0644);
MODULE_PARM_DESC(default_max_pds, "PDs per instance until its quota/pds_max is set");
static unsigned int default_max_cqs = 1024;
module_param(default_max_cqs, uint, 0644);
MODULE_PARM_DESC(default_max_cqs, "CQs per instance until its quota/cqs_max is set");
static unsigned int default_max_qps = 1024;
module_param(default_max_qps, uint, 0644);
MODULE_PARM_DESC(default_max_qps, "QPs per instance until its quota/qps_max is set");
static unsigned int default_max_srqs = 1024;
module_param(default_max_srqs, uint, 0644);
MODULE_PARM_DESC(default_max_srqs, "SRQs per instance until its quota/srqs_max is set");
static unsigned int default_max_ahs = 4096;
module_param(default_max_ahs, uint, 0644);
MODULE_PARM_DESC(default_max_ahs, "address handles per instance until its quota/ahs_max is set");
static unsigned int default_max_mrs = 4096;
module_param(default_max_mrs, uint, 0644);
MODULE_PARM_DESC(default_max_mrs, "MRs per instance until its quota/mrs_max is set");
static unsigned int default_max_cm_ids = 1024;
module_param(default_max_cm_ids, uint, 0644);
MODULE_PARM_DESC(default_max_cm_ids, "rdma_cm IDs per instance until its quota/cm_ids_max is set");
static unsigned long default_max_pinned_mb = 1024;
module_param(default_max_pinned_mb, ulong, 0644);
MODULE_PARM_DESC(default_max_pinned_mb, "MiB of guest memory MRs may pin per instance until its quota/pinned_bytes_max is set");

static const char *const hyv_resource_names[HYV_RES_COUNT] = {
	[HYV_RES_PD] = "pds",
	[HYV_RES_CQ] = "cqs",
	[HYV_RES_QP] = "qps",
	[HYV_RES_SRQ] = "srqs",
	[HYV_RES_AH] = "ahs",
	[HYV_RES_MR] = "mrs",
	[HYV_RES_PINNED] = "pinned_bytes",
	[HYV_RES_CM_ID] = "cm_ids",
};

void hyv_quota_init(struct hyv_instance *inst)
{
	u64 *limit = inst->quota.limit;

	limit[HYV_RES_PD] = READ_ONCE(default_max_pds);
	limit[HYV_RES_CQ] = READ_ONCE(default_max_cqs);
	limit[HYV_RES_QP] = READ_ONCE(default_max_qps);
	limit[HYV_RES_SRQ] = READ_ONCE(default_max_srqs);
	limit[HYV_RES_AH] = READ_ONCE(default_max_ahs);
	limit[HYV_RES_MR] = READ_ONCE(default_max_mrs);
	limit[HYV_RES_PINNED] = (u64)READ_ONCE(default_max_pinned_mb) << 20;
	limit[HYV_RES_CM_ID] = READ_ONCE(default_max_cm_ids);
}

/* Would amount more of res exceed the instance's quota? */
int hyv_quota_check(struct hyv_instance *inst, enum hyv_resource res, u64 amount)
{
	u64 used = inst->quota.used[res], limit = READ_ONCE(inst->quota.limit[res]);

	if (used + amount >= used && used + amount <= limit)
		return 0;
	dev_dbg(&inst->mdev->dev, "quota: %s %llu + %llu exceeds %llu\n",
		hyv_resource_names[res], used, amount, limit);
	return res == HYV_RES_PINNED ? -ENOMEM : -EAGAIN;
}

void hyv_quota_add(struct hyv_context *ctx, enum hyv_resource res, u64 amount)
{
	lockdep_assert_held(&ctx->inst->ctrl.lock);
	ctx->used[res] += amount;
	ctx->inst->quota.used[res] += amount;
}

void hyv_quota_sub(struct hyv_context *ctx, enum hyv_resource res, u64 amount)
{
	lockdep_assert_held(&ctx->inst->ctrl.lock);
	if (WARN_ON_ONCE(amount > ctx->used[res]))
		amount = ctx->used[res];
	ctx->used[res] -= amount;
	ctx->inst->quota.used[res] -= amount;
}

/* A relayed command's effect on res (enum hyv_quota_effect), once it succeeded. */
void hyv_quota_apply(struct hyv_context *ctx, enum hyv_resource res, enum hyv_quota_effect effect)
{
	if (effect == HYV_QUOTA_CREATES)
		hyv_quota_add(ctx, res, 1);
	else if (effect == HYV_QUOTA_DESTROYS)
		hyv_quota_sub(ctx, res, 1);
}

/* The context's objects die with its host file. */
void hyv_quota_release_context(struct hyv_context *ctx)
{
	unsigned int res;

	for (res = 0; res < HYV_RES_COUNT; res++)
		hyv_quota_sub(ctx, res, ctx->used[res]);
}

/* sysfs: quota/<resource> (in use) and quota/<resource>_max (the limit). */
struct hyv_quota_attr {
	struct device_attribute attr;
	enum hyv_resource res;
};

static struct hyv_quota_attr *to_quota_attr(struct device_attribute *attr)
{
	return container_of(attr, struct hyv_quota_attr, attr);
}

static ssize_t hyv_used_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n", READ_ONCE(inst->quota.used[to_quota_attr(attr)->res]));
}

static ssize_t hyv_limit_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n", READ_ONCE(inst->quota.limit[to_quota_attr(attr)->res]));
}

static ssize_t hyv_limit_store(struct device *dev, struct device_attribute *attr,
			       const char *buf, size_t count)
{
	struct hyv_instance *inst = dev_get_drvdata(dev);
	u64 limit;
	int ret;

	ret = kstrtou64(buf, 0, &limit);
	if (ret)
		return ret;
	WRITE_ONCE(inst->quota.limit[to_quota_attr(attr)->res], limit);
	return count;
}

#define HYV_QUOTA_ATTRS(name, resource)                                                   \
	static struct hyv_quota_attr hyv_quota_used_##name = {                            \
		.attr = __ATTR(name, 0444, hyv_used_show, NULL), .res = resource };       \
	static struct hyv_quota_attr hyv_quota_limit_##name = {                           \
		.attr = __ATTR(name##_max, 0644, hyv_limit_show, hyv_limit_store),        \
		.res = resource }

HYV_QUOTA_ATTRS(pds, HYV_RES_PD);
HYV_QUOTA_ATTRS(cqs, HYV_RES_CQ);
HYV_QUOTA_ATTRS(qps, HYV_RES_QP);
HYV_QUOTA_ATTRS(srqs, HYV_RES_SRQ);
HYV_QUOTA_ATTRS(ahs, HYV_RES_AH);
HYV_QUOTA_ATTRS(mrs, HYV_RES_MR);
HYV_QUOTA_ATTRS(pinned_bytes, HYV_RES_PINNED);
HYV_QUOTA_ATTRS(cm_ids, HYV_RES_CM_ID);

static struct attribute *hyv_quota_attrs[] = {
	&hyv_quota_used_pds.attr.attr, &hyv_quota_limit_pds.attr.attr,
	&hyv_quota_used_cqs.attr.attr, &hyv_quota_limit_cqs.attr.attr,
	&hyv_quota_used_qps.attr.attr, &hyv_quota_limit_qps.attr.attr,
	&hyv_quota_used_srqs.attr.attr, &hyv_quota_limit_srqs.attr.attr,
	&hyv_quota_used_ahs.attr.attr, &hyv_quota_limit_ahs.attr.attr,
	&hyv_quota_used_mrs.attr.attr, &hyv_quota_limit_mrs.attr.attr,
	&hyv_quota_used_pinned_bytes.attr.attr, &hyv_quota_limit_pinned_bytes.attr.attr,
	&hyv_quota_used_cm_ids.attr.attr, &hyv_quota_limit_cm_ids.attr.attr,
	NULL,
};

const struct attribute_group hyv_quota_group = {
	.name = "quota",
	.attrs = hyv_quota_attrs,
};

