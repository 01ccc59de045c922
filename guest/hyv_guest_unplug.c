// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hot-unplug while applications run. ib_core's disassociation zaps the
 * processes' ring mappings, and a process polling its CQ then spins on a
 * zero page instead of failing. So before the ib_device goes, every user QP
 * is moved to the error state on the host: the host device flushes its work
 * requests into the CQ rings the applications poll, they see flush errors
 * (IBV_WC_WR_FLUSH_ERR), and the usual error path closes their QPs. Whoever
 * still holds QPs after unplug_grace_ms is disassociated as before.
 */
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/wait.h>

#include "hyv_guest.h"

static unsigned int unplug_grace_ms = 5000;
module_param(unplug_grace_ms, uint, 0644);
MODULE_PARM_DESC(unplug_grace_ms,
		 "on unplug, how long applications get to close QPs that were moved to error (ms)");

void hyv_unplug_init(struct hyv_dev *hdev)
{
	mutex_init(&hdev->qp_lock);
	INIT_LIST_HEAD(&hdev->user_qps);
	init_waitqueue_head(&hdev->qps_gone);
	hdev->unplugging = false;
}

/* A QP created while the device is being removed would miss the flush. */
int hyv_unplug_track_qp(struct hyv_dev *hdev, struct hyv_qp *qp)
{
	int ret = 0;

	mutex_lock(&hdev->qp_lock);
	if (hdev->unplugging)
		ret = -ENODEV;
	else
		list_add_tail(&qp->unplug_node, &hdev->user_qps);
	mutex_unlock(&hdev->qp_lock);
	return ret;
}

void hyv_unplug_untrack_qp(struct hyv_dev *hdev, struct hyv_qp *qp)
{
	bool empty;

	mutex_lock(&hdev->qp_lock);
	list_del_init(&qp->unplug_node);
	empty = list_empty(&hdev->user_qps);
	mutex_unlock(&hdev->qp_lock);
	if (empty)
		wake_up(&hdev->qps_gone);
}

static bool hyv_unplug_qps_gone(struct hyv_dev *hdev)
{
	bool empty;

	mutex_lock(&hdev->qp_lock);
	empty = list_empty(&hdev->user_qps);
	mutex_unlock(&hdev->qp_lock);
	return empty;
}

static int hyv_unplug_qp_to_error(struct hyv_dev *hdev, struct hyv_qp *qp)
{
	struct ib_uverbs_modify_qp cmd = {
		.qp_handle = qp->host_handle,
		.attr_mask = IB_QP_STATE,
		.qp_state = IB_QPS_ERR,
	};

	return hyv_uverbs_cmd(hdev, qp->host_ctx, IB_USER_VERBS_CMD_MODIFY_QP, &cmd, sizeof(cmd),
			      NULL, NULL, 0);
}

void hyv_unplug_flush(struct hyv_dev *hdev)
{
	struct device *dev = &hdev->vdev->dev;
	unsigned int moved = 0, failed = 0;
	struct hyv_qp *qp;

	mutex_lock(&hdev->qp_lock);
	hdev->unplugging = true;
	list_for_each_entry(qp, &hdev->user_qps, unplug_node) {
		if (hyv_unplug_qp_to_error(hdev, qp))
			failed++;
		else
			moved++;
	}
	mutex_unlock(&hdev->qp_lock);
	if (!moved && !failed)
		return;
	if (failed)
		dev_warn(dev, "unplug: %u QP(s) could not be moved to error\n", failed);
	if (wait_event_timeout(hdev->qps_gone, hyv_unplug_qps_gone(hdev),
			       msecs_to_jiffies(unplug_grace_ms)))
		dev_info(dev, "unplug: %u QP(s) moved to error; their applications closed them\n",
			 moved);
	else
		dev_info(dev, "unplug: applications still hold QPs after %u ms, disassociating them\n",
			 unplug_grace_ms);
}
