// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VFIO device ioctls (device, region and interrupt info, SET_IRQS, reset)
 * and interrupt delivery through the eventfds QEMU hands us: INTx (level,
 * auto-masked like vfio-pci), MSI-X and the request interrupt that asks QEMU
 * to unplug the function when the host device or the mdev goes away.
 */
#include <linux/eventfd.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/virtio_pci.h>

#include "hyv_mdev.h"

static void hyv_signal(struct hyv_instance *inst, struct eventfd_ctx *ctx)
{
	eventfd_signal(ctx, 1);
	atomic64_inc(&inst->counters.interrupts);
}

static bool hyv_intx_disabled(struct hyv_instance *inst)
{
	return le16_to_cpu(*(__le16 *)(inst->config + PCI_COMMAND)) & PCI_COMMAND_INTX_DISABLE;
}

/* Called with inst->lock held whenever the ISR, mask or INTx-disable change. */
void hyv_intx_update(struct hyv_instance *inst)
{
	struct hyv_irqs *irqs = &inst->irqs;

	lockdep_assert_held(&inst->lock);
	if (!inst->virtio.isr || !irqs->intx || irqs->intx_masked || hyv_intx_disabled(inst))
		return;
	/* Level-triggered: QEMU asserts the line and unmasks us at EOI. */
	irqs->intx_masked = true;
	hyv_signal(inst, irqs->intx);
}

void hyv_raise_config_interrupt(struct hyv_instance *inst)
{
	u16 vector = inst->virtio.msix_config;

	if (vector < HYV_MSIX_VECTORS && inst->irqs.msix[vector]) {
		hyv_signal(inst, inst->irqs.msix[vector]);
		return;
	}
	inst->virtio.isr |= VIRTIO_PCI_ISR_CONFIG;
	hyv_intx_update(inst);
}

void hyv_request_release(struct hyv_instance *inst, unsigned int count)
{
	mutex_lock(&inst->lock);
	if (inst->irqs.req) {
		if (!count)
			dev_notice(&inst->mdev->dev, "asking the user to release the device\n");
		hyv_signal(inst, inst->irqs.req);
	} else if (!count) {
		dev_notice(&inst->mdev->dev,
			   "device in use and its user has no request interrupt; waiting for it to close\n");
	}
	mutex_unlock(&inst->lock);
}

static void hyv_eventfd_put(struct eventfd_ctx **slot)
{
	if (*slot)
		eventfd_ctx_put(*slot);
	*slot = NULL;
}

static int hyv_eventfd_replace(struct eventfd_ctx **slot, s32 fd)
{
	struct eventfd_ctx *ctx;

	if (fd == -1) {
		hyv_eventfd_put(slot);
		return 0;
	}
	if (fd < 0)
		return -EINVAL;
	ctx = eventfd_ctx_fdget(fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	hyv_eventfd_put(slot);
	*slot = ctx;
	return 0;
}

void hyv_irqs_release(struct hyv_instance *inst)
{
	unsigned int i;

	hyv_eventfd_put(&inst->irqs.intx);
	inst->irqs.intx_masked = false;
	for (i = 0; i < HYV_MSIX_VECTORS; i++)
		hyv_eventfd_put(&inst->irqs.msix[i]);
	hyv_eventfd_put(&inst->irqs.req);
	hyv_eventfd_put(&inst->irqs.err);
}

static u32 hyv_irq_count(u32 index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
	case VFIO_PCI_REQ_IRQ_INDEX:
	case VFIO_PCI_ERR_IRQ_INDEX:
		return 1;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return HYV_MSIX_VECTORS;
	default:
		return 0;
	}
}

static u32 hyv_irq_flags(u32 index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
	case VFIO_PCI_MSIX_IRQ_INDEX:
	case VFIO_PCI_REQ_IRQ_INDEX:
	case VFIO_PCI_ERR_IRQ_INDEX:
		return VFIO_IRQ_INFO_EVENTFD;
	default:
		return 0;
	}
}

/* Fires (DATA_NONE/DATA_BOOL) or rewires (DATA_EVENTFD) a range of one index. */
static int hyv_set_triggers(struct hyv_instance *inst, struct vfio_irq_set *hdr, const u8 *data,
			    struct eventfd_ctx **slots)
{
	u32 i;
	int ret;

	if (!hdr->count && (hdr->flags & VFIO_IRQ_SET_DATA_NONE)) {
		for (i = 0; i < hyv_irq_count(hdr->index); i++)
			hyv_eventfd_put(&slots[i]);
		return 0;
	}
	for (i = 0; i < hdr->count; i++) {
		struct eventfd_ctx **slot = &slots[hdr->start + i];

		if (hdr->flags & VFIO_IRQ_SET_DATA_EVENTFD) {
			ret = hyv_eventfd_replace(slot, ((const s32 *)data)[i]);
			if (ret)
				return ret;
		} else if (*slot && ((hdr->flags & VFIO_IRQ_SET_DATA_NONE) || data[i])) {
			hyv_signal(inst, *slot);
		}
	}
	return 0;
}

static int hyv_set_intx_mask(struct hyv_instance *inst, struct vfio_irq_set *hdr, const u8 *data)
{
	bool mask = (hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) == VFIO_IRQ_SET_ACTION_MASK;

	/* An unmask eventfd is KVM's irqfd resampler; TCG never asks for it. */
	if (hdr->flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return -ENOTTY;
	if (!hdr->count || ((hdr->flags & VFIO_IRQ_SET_DATA_BOOL) && !data[0]))
		return 0;
	inst->irqs.intx_masked = mask;
	if (!mask)
		hyv_intx_update(inst);
	return 0;
}

static int hyv_set_irqs(struct hyv_instance *inst, struct vfio_irq_set *hdr, const u8 *data)
{
	u32 action = hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;

	switch (hdr->index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
			return hyv_set_intx_mask(inst, hdr, data);
		if (hdr->flags & VFIO_IRQ_SET_DATA_EVENTFD)
			inst->irqs.intx_masked = false;
		return hyv_set_triggers(inst, hdr, data, &inst->irqs.intx);
	case VFIO_PCI_MSIX_IRQ_INDEX:
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
			return -EINVAL;
		return hyv_set_triggers(inst, hdr, data, inst->irqs.msix);
	case VFIO_PCI_REQ_IRQ_INDEX:
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
			return -EINVAL;
		return hyv_set_triggers(inst, hdr, data, &inst->irqs.req);
	case VFIO_PCI_ERR_IRQ_INDEX:
		if (action != VFIO_IRQ_SET_ACTION_TRIGGER || !(hdr->flags & VFIO_IRQ_SET_DATA_EVENTFD))
			return -EINVAL;
		return hyv_set_triggers(inst, hdr, data, &inst->irqs.err);
	default:
		return -EINVAL;
	}
}

static long hyv_ioctl_set_irqs(struct hyv_instance *inst, void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_set, count);
	struct vfio_irq_set hdr;
	size_t data_size = 0;
	u8 *data = NULL;
	int ret;

	if (copy_from_user(&hdr, arg, minsz))
		return -EFAULT;
	ret = vfio_set_irqs_validate_and_prepare(&hdr, hyv_irq_count(hdr.index),
						 VFIO_PCI_NUM_IRQS, &data_size);
	if (ret)
		return ret;
	if (data_size) {
		data = memdup_user(arg + minsz, data_size);
		if (IS_ERR(data))
			return PTR_ERR(data);
	}

	mutex_lock(&inst->lock);
	ret = hyv_set_irqs(inst, &hdr, data);
	mutex_unlock(&inst->lock);
	kfree(data);
	return ret;
}

static long hyv_ioctl_region_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;

	info.offset = HYV_REGION_OFFSET(info.index);
	info.size = hyv_region_size(info.index);
	info.flags = info.size ? VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE : 0;
	if (info.index == VFIO_PCI_BAR2_REGION_INDEX)
		info.flags |= VFIO_REGION_INFO_FLAG_MMAP;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long hyv_ioctl_irq_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;

	info.flags = hyv_irq_flags(info.index);
	info.count = hyv_irq_count(info.index);
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

static long hyv_ioctl_device_info(void __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_device_info, num_irqs);
	struct vfio_device_info info;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;

	info.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = VFIO_PCI_NUM_REGIONS;
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	return copy_to_user(arg, &info, minsz) ? -EFAULT : 0;
}

long hyv_ioctl(struct vfio_device *vdev, unsigned int cmd, unsigned long arg)
{
	struct hyv_instance *inst = to_hyv_instance(vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_INFO:
		return hyv_ioctl_device_info(uarg);
	case VFIO_DEVICE_GET_REGION_INFO:
		return hyv_ioctl_region_info(uarg);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return hyv_ioctl_irq_info(uarg);
	case VFIO_DEVICE_SET_IRQS:
		return hyv_ioctl_set_irqs(inst, uarg);
	case VFIO_DEVICE_RESET:
		hyv_instance_reset(inst);
		return 0;
	default:
		return -ENOTTY;
	}
}
