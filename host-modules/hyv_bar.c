// SPDX-License-Identifier: GPL-2.0-only
/*
 * BAR0: the trapped virtio-pci modern registers (common, ISR, device and
 * notify areas). BAR2, the mmap-able window, is hyv_window.c.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <asm/unaligned.h>

#include "hyv_mdev.h"

#define HYV_DEVICE_FEATURES BIT_ULL(VIRTIO_F_VERSION_1)
#define HYV_FEATURE_WORD_BITS 32
#define HYV_FEATURE_WORDS 2

static void hyv_count_bad(struct hyv_instance *inst)
{
	atomic64_inc(&inst->counters.bad_accesses);
}

static bool access_within(u32 offset, u32 size, u32 start, u32 len)
{
	return offset >= start && offset - start < len && size <= len - (offset - start);
}

static u32 read_image(const u8 *image, u32 image_size, u32 offset, u32 size)
{
	u32 value = 0;
	u32 i;

	for (i = 0; i < size; i++)
		if (offset + i < image_size)
			value |= (u32)image[offset + i] << (8 * i);
	return value;
}

void hyv_virtio_reset(struct hyv_instance *inst)
{
	struct hyv_virtio_state *v = &inst->virtio;

	lockdep_assert_held(&inst->lock);
	v->device_feature_select = 0;
	v->guest_feature_select = 0;
	v->guest_features = 0;
	v->msix_config = VIRTIO_MSI_NO_VECTOR;
	v->queue_select = 0;
	/* Drivers poll for 0 after a reset, even on a dead device. */
	v->device_status = 0;
	v->isr = 0;
	hyv_intx_update(inst);
	hyv_events_reset(inst);
}

static u32 hyv_feature_word(u64 features, u32 select)
{
	if (select >= HYV_FEATURE_WORDS)
		return 0;
	return (u32)(features >> (select * HYV_FEATURE_WORD_BITS));
}

static u32 hyv_common_read(struct hyv_instance *inst, u32 offset, u32 size)
{
	struct hyv_virtio_state *v = &inst->virtio;
	u8 image[HYV_BAR0_COMMON_SIZE] = {};

	put_unaligned_le32(v->device_feature_select, image + VIRTIO_PCI_COMMON_DFSELECT);
	put_unaligned_le32(hyv_feature_word(HYV_DEVICE_FEATURES, v->device_feature_select),
			   image + VIRTIO_PCI_COMMON_DF);
	put_unaligned_le32(v->guest_feature_select, image + VIRTIO_PCI_COMMON_GFSELECT);
	put_unaligned_le32(hyv_feature_word(v->guest_features, v->guest_feature_select),
			   image + VIRTIO_PCI_COMMON_GF);
	put_unaligned_le16(v->msix_config, image + VIRTIO_PCI_COMMON_MSIX);
	put_unaligned_le16(HYV_NUM_QUEUES, image + VIRTIO_PCI_COMMON_NUMQ);
	image[VIRTIO_PCI_COMMON_STATUS] = v->device_status;
	image[VIRTIO_PCI_COMMON_CFGGENERATION] = v->config_generation;
	put_unaligned_le16(v->queue_select, image + VIRTIO_PCI_COMMON_Q_SELECT);
	/* No virtqueues yet: every queue reads as size 0, i.e. absent. */
	put_unaligned_le16(VIRTIO_MSI_NO_VECTOR, image + VIRTIO_PCI_COMMON_Q_MSIX);
	return read_image(image, sizeof(image), offset, size);
}

static void hyv_status_write(struct hyv_instance *inst, u8 status)
{
	struct hyv_virtio_state *v = &inst->virtio;

	if (!status) {
		hyv_virtio_reset(inst);
		/* Contexts close under ctrl.lock, which is never taken inside inst->lock. */
		inst->reset_pending = true;
		return;
	}
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    (inst->dead || (v->guest_features & ~HYV_DEVICE_FEATURES)))
		status &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	v->device_status = status | (v->device_status & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void hyv_common_write(struct hyv_instance *inst, u32 offset, u32 size, u32 value)
{
	struct hyv_virtio_state *v = &inst->virtio;
	u32 shift;

	switch (offset | size << 8) {
	case VIRTIO_PCI_COMMON_DFSELECT | 4 << 8:
		v->device_feature_select = value;
		return;
	case VIRTIO_PCI_COMMON_GFSELECT | 4 << 8:
		v->guest_feature_select = value;
		return;
	case VIRTIO_PCI_COMMON_GF | 4 << 8:
		if (v->guest_feature_select >= HYV_FEATURE_WORDS)
			break;
		shift = v->guest_feature_select * HYV_FEATURE_WORD_BITS;
		v->guest_features &= ~((u64)U32_MAX << shift);
		v->guest_features |= (u64)value << shift;
		return;
	case VIRTIO_PCI_COMMON_MSIX | 2 << 8:
		/* A vector we do not have reads back as NO_VECTOR, as the spec asks. */
		v->msix_config = value < HYV_MSIX_VECTORS ? value : VIRTIO_MSI_NO_VECTOR;
		return;
	case VIRTIO_PCI_COMMON_STATUS | 1 << 8:
		hyv_status_write(inst, value);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT | 2 << 8:
		v->queue_select = value;
		return;
	case VIRTIO_PCI_COMMON_Q_SIZE | 2 << 8:
	case VIRTIO_PCI_COMMON_Q_MSIX | 2 << 8:
	case VIRTIO_PCI_COMMON_Q_ENABLE | 2 << 8:
	case VIRTIO_PCI_COMMON_Q_DESCLO | 4 << 8:
	case VIRTIO_PCI_COMMON_Q_DESCHI | 4 << 8:
	case VIRTIO_PCI_COMMON_Q_AVAILLO | 4 << 8:
	case VIRTIO_PCI_COMMON_Q_AVAILHI | 4 << 8:
	case VIRTIO_PCI_COMMON_Q_USEDLO | 4 << 8:
	case VIRTIO_PCI_COMMON_Q_USEDHI | 4 << 8:
		if (v->queue_select < HYV_NUM_QUEUES)
			return;
		break;
	default:
		break;
	}
	hyv_count_bad(inst);
}

int hyv_bar0_read(struct hyv_instance *inst, u32 offset, u32 size, u32 *value)
{
	*value = 0;
	if (access_within(offset, size, HYV_BAR0_COMMON_OFFSET, HYV_BAR0_COMMON_SIZE)) {
		*value = hyv_common_read(inst, offset - HYV_BAR0_COMMON_OFFSET, size);
	} else if (access_within(offset, size, HYV_BAR0_ISR_OFFSET, HYV_BAR0_ISR_SIZE)) {
		/* Reading the ISR acknowledges it and drops the INTx line. */
		if (offset == HYV_BAR0_ISR_OFFSET) {
			*value = inst->virtio.isr;
			inst->virtio.isr = 0;
			hyv_intx_update(inst);
		}
	} else if (access_within(offset, size, HYV_BAR0_DEVICE_OFFSET, HYV_BAR0_DEVICE_SIZE)) {
		*value = read_image((const u8 *)&inst->device_config, sizeof(inst->device_config),
				    offset - HYV_BAR0_DEVICE_OFFSET, size);
	} else if (access_within(offset, size, HYV_BAR0_NOTIFY_OFFSET, HYV_BAR0_NOTIFY_SIZE)) {
		/* Notify registers are write-only and read as zero. */
	} else {
		hyv_count_bad(inst);
	}
	return 0;
}

int hyv_bar0_write(struct hyv_instance *inst, u32 offset, u32 size, u32 value)
{
	u32 queue;

	if (access_within(offset, size, HYV_BAR0_COMMON_OFFSET, HYV_BAR0_COMMON_SIZE)) {
		hyv_common_write(inst, offset - HYV_BAR0_COMMON_OFFSET, size, value);
	} else if (access_within(offset, size, HYV_BAR0_NOTIFY_OFFSET, HYV_BAR0_NOTIFY_SIZE)) {
		queue = (offset - HYV_BAR0_NOTIFY_OFFSET) / HYV_NOTIFY_OFF_MULTIPLIER;
		if (queue >= HYV_NUM_QUEUES)
			hyv_count_bad(inst);
	} else {
		/* ISR and device config are read-only; the rest is unassigned. */
		hyv_count_bad(inst);
	}
	return 0;
}
