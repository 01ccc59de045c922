// SPDX-License-Identifier: GPL-2.0-only
/*
 * PCI configuration space of a virtio-hyv function: a conventional (256 byte)
 * header plus MSI-X and the virtio-pci modern vendor capabilities. Writes go
 * through a per-byte write mask, so BAR sizing and read-only fields behave
 * like real hardware whatever the guest writes.
 */
#include <linux/kernel.h>
#include <asm/unaligned.h>
#include <linux/virtio_pci.h>

#include "hyv_mdev.h"

#define HYV_CAP_MSIX 0x40
#define HYV_CAP_VIRTIO_COMMON 0x50
#define HYV_CAP_VIRTIO_NOTIFY 0x60
#define HYV_CAP_VIRTIO_ISR 0x74
#define HYV_CAP_VIRTIO_DEVICE 0x84
#define HYV_CAP_END 0x94

#define HYV_COMMAND_WRITABLE (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY | \
			      PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)
#define HYV_MSIX_FLAGS_WRITABLE (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)
#define HYV_BAR_FLAG_BITS 0xfu

static void put8(u8 *space, u32 offset, u8 value)
{
	space[offset] = value;
}

static void put16(u8 *space, u32 offset, u16 value)
{
	put_unaligned_le16(value, space + offset);
}

static void put32(u8 *space, u32 offset, u32 value)
{
	put_unaligned_le32(value, space + offset);
}

static void hyv_put_virtio_cap(u8 *config, u32 pos, u8 next, u8 len, u8 cfg_type,
			       u32 bar_offset, u32 length)
{
	put8(config, pos + VIRTIO_PCI_CAP_VNDR, PCI_CAP_ID_VNDR);
	put8(config, pos + VIRTIO_PCI_CAP_NEXT, next);
	put8(config, pos + VIRTIO_PCI_CAP_LEN, len);
	put8(config, pos + VIRTIO_PCI_CAP_CFG_TYPE, cfg_type);
	put8(config, pos + VIRTIO_PCI_CAP_BAR, 0);
	put32(config, pos + VIRTIO_PCI_CAP_OFFSET, bar_offset);
	put32(config, pos + VIRTIO_PCI_CAP_LENGTH, length);
}

void hyv_pci_config_init(struct hyv_instance *inst)
{
	u8 *config = inst->config;
	u8 *wmask = inst->config_wmask;

	memset(config, 0, HYV_CONFIG_SPACE_SIZE);
	memset(wmask, 0, HYV_CONFIG_SPACE_SIZE);

	put16(config, PCI_VENDOR_ID, HYV_PCI_VENDOR_ID);
	put16(config, PCI_DEVICE_ID, HYV_PCI_DEVICE_ID);
	put16(config, PCI_STATUS, PCI_STATUS_CAP_LIST);
	put8(config, PCI_REVISION_ID, HYV_PCI_REVISION);
	put8(config, PCI_CLASS_PROG, HYV_PCI_CLASS_CODE & 0xff);
	put16(config, PCI_CLASS_DEVICE, HYV_PCI_CLASS_CODE >> 8);
	put8(config, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);
	put16(config, PCI_SUBSYSTEM_VENDOR_ID, HYV_PCI_SUBSYS_VENDOR_ID);
	put16(config, PCI_SUBSYSTEM_ID, HYV_PCI_SUBSYS_ID);
	put8(config, PCI_CAPABILITY_LIST, HYV_CAP_MSIX);
	put8(config, PCI_INTERRUPT_PIN, 1);	/* INTA# */

	put16(wmask, PCI_COMMAND, HYV_COMMAND_WRITABLE);
	put8(wmask, PCI_CACHE_LINE_SIZE, 0xff);
	put8(wmask, PCI_LATENCY_TIMER, 0xff);
	put8(wmask, PCI_INTERRUPT_LINE, 0xff);

	/* BAR0: 32-bit non-prefetchable memory; BAR2/3: 64-bit prefetchable. */
	put32(config, PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_SPACE_MEMORY | PCI_BASE_ADDRESS_MEM_TYPE_32);
	put32(wmask, PCI_BASE_ADDRESS_0, ~(HYV_BAR0_SIZE - 1) & ~HYV_BAR_FLAG_BITS);
	put32(config, PCI_BASE_ADDRESS_2, PCI_BASE_ADDRESS_SPACE_MEMORY |
	      PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	put32(wmask, PCI_BASE_ADDRESS_2, ~(HYV_BAR2_SIZE - 1) & ~HYV_BAR_FLAG_BITS);
	put32(wmask, PCI_BASE_ADDRESS_3, 0xffffffff);

	/* MSI-X: table and PBA in BAR0; QEMU emulates both, we only signal. */
	put8(config, HYV_CAP_MSIX + PCI_CAP_LIST_ID, PCI_CAP_ID_MSIX);
	put8(config, HYV_CAP_MSIX + PCI_CAP_LIST_NEXT, HYV_CAP_VIRTIO_COMMON);
	put16(config, HYV_CAP_MSIX + PCI_MSIX_FLAGS, HYV_MSIX_VECTORS - 1);
	put16(wmask, HYV_CAP_MSIX + PCI_MSIX_FLAGS, HYV_MSIX_FLAGS_WRITABLE);
	put32(config, HYV_CAP_MSIX + PCI_MSIX_TABLE, HYV_BAR0_MSIX_TABLE_OFFSET);
	put32(config, HYV_CAP_MSIX + PCI_MSIX_PBA, HYV_BAR0_MSIX_PBA_OFFSET);

	hyv_put_virtio_cap(config, HYV_CAP_VIRTIO_COMMON, HYV_CAP_VIRTIO_NOTIFY,
			   sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_COMMON_CFG,
			   HYV_BAR0_COMMON_OFFSET, HYV_BAR0_COMMON_SIZE);
	hyv_put_virtio_cap(config, HYV_CAP_VIRTIO_NOTIFY, HYV_CAP_VIRTIO_ISR,
			   sizeof(struct virtio_pci_notify_cap), VIRTIO_PCI_CAP_NOTIFY_CFG,
			   HYV_BAR0_NOTIFY_OFFSET, HYV_BAR0_NOTIFY_SIZE);
	put32(config, HYV_CAP_VIRTIO_NOTIFY + VIRTIO_PCI_NOTIFY_CAP_MULT, HYV_NOTIFY_OFF_MULTIPLIER);
	hyv_put_virtio_cap(config, HYV_CAP_VIRTIO_ISR, HYV_CAP_VIRTIO_DEVICE,
			   sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_ISR_CFG,
			   HYV_BAR0_ISR_OFFSET, HYV_BAR0_ISR_SIZE);
	hyv_put_virtio_cap(config, HYV_CAP_VIRTIO_DEVICE, 0,
			   sizeof(struct virtio_pci_cap), VIRTIO_PCI_CAP_DEVICE_CFG,
			   HYV_BAR0_DEVICE_OFFSET, HYV_BAR0_DEVICE_SIZE);
	BUILD_BUG_ON(HYV_CAP_VIRTIO_DEVICE + sizeof(struct virtio_pci_cap) > HYV_CAP_END);
	BUILD_BUG_ON(HYV_CAP_END > HYV_CONFIG_SPACE_SIZE);
}

/* Caller guarantees offset + size <= HYV_CONFIG_SPACE_SIZE and size <= 4. */
u32 hyv_pci_config_read(struct hyv_instance *inst, u32 offset, u32 size)
{
	u8 bytes[4];
	u32 value = 0;
	u32 i;

	memcpy(bytes, inst->config + offset, size);
	/* Status.INTERRUPT mirrors the INTx level, which is the virtio ISR. */
	if (offset <= PCI_STATUS && PCI_STATUS < offset + size && inst->virtio.isr)
		bytes[PCI_STATUS - offset] |= PCI_STATUS_INTERRUPT;
	for (i = 0; i < size; i++)
		value |= (u32)bytes[i] << (8 * i);
	return value;
}

void hyv_pci_config_write(struct hyv_instance *inst, u32 offset, u32 size, u32 value)
{
	u32 i;

	for (i = 0; i < size; i++) {
		u8 mask = inst->config_wmask[offset + i];
		u8 byte = value >> (8 * i);

		inst->config[offset + i] = (inst->config[offset + i] & ~mask) | (byte & mask);
	}
	if (offset <= PCI_COMMAND + 1 && PCI_COMMAND < offset + size)
		hyv_intx_update(inst);
}
