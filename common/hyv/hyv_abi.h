/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The virtio-hyv PCI function as seen by the guest: IDs, BAR layout and the
 * device-specific configuration structure. Shared by the host module
 * (hyv_mdev.ko), the guest driver (virtio_hyv.ko) and userspace tests, so it
 * uses only <linux/types.h>. docs/device.md explains every value.
 */
#ifndef HYV_ABI_H
#define HYV_ABI_H

#include <linux/types.h>

/* Bumped on any incompatible change of this file. */
#define HYV_ABI_VERSION 1

/*
 * Virtio device id: 63 is the last id a modern virtio-pci function can carry
 * (PCI device 0x1040 + 63 = 0x107f) and is far from the ids the virtio spec
 * has assigned (42 is reserved for a future standard virtio-rdma device, which
 * this is not).
 */
#define HYV_VIRTIO_ID 63
#define HYV_PCI_VENDOR_ID 0x1af4
#define HYV_PCI_DEVICE_ID (0x1040 + HYV_VIRTIO_ID)
#define HYV_PCI_SUBSYS_VENDOR_ID 0x1af4
#define HYV_PCI_SUBSYS_ID 0x1100
#define HYV_PCI_REVISION 1
/* Network controller / InfiniBand controller. */
#define HYV_PCI_CLASS_CODE 0x020700

/* BAR0: trapped, every access is an exit handled by hyv_mdev. */
#define HYV_BAR0_SIZE 0x8000u
#define HYV_BAR0_COMMON_OFFSET 0x0000u
#define HYV_BAR0_COMMON_SIZE 0x0040u
#define HYV_BAR0_ISR_OFFSET 0x1000u
#define HYV_BAR0_ISR_SIZE 0x0004u
#define HYV_BAR0_DEVICE_OFFSET 0x2000u
#define HYV_BAR0_DEVICE_SIZE 0x1000u
#define HYV_BAR0_NOTIFY_OFFSET 0x3000u
#define HYV_BAR0_NOTIFY_SIZE 0x1000u
#define HYV_NOTIFY_OFF_MULTIPLIER 4u
#define HYV_BAR0_MSIX_TABLE_OFFSET 0x4000u
#define HYV_BAR0_MSIX_PBA_OFFSET 0x5000u
/* Reserved for the control-path command registers (later issue). */
#define HYV_BAR0_CONTROL_OFFSET 0x6000u
#define HYV_BAR0_CONTROL_SIZE 0x2000u

/* BAR2: 64-bit prefetchable window, mmap-able; queue/doorbell pages later. */
#define HYV_BAR2_SIZE 0x100000u

#define HYV_MSIX_VECTORS 4
/* Vector the host uses for the virtio configuration-change interrupt is the
 * one the guest programs into msix_config; 0 is what Linux picks. */

/* Virtqueues: none yet; the control path uses BAR0 command registers. */
#define HYV_NUM_QUEUES 0

/* hyv_device_config.state */
#define HYV_DEVICE_STATE_LIVE 1
/* The host RDMA device went away; the function will never work again. */
#define HYV_DEVICE_STATE_DEAD 2

#define HYV_IBDEV_NAME_MAX 64

/*
 * Device-specific configuration (virtio device cfg, BAR0 + 0x2000), little
 * endian. node_guid is the host order value, so "%04x:%04x:%04x:%04x" of its
 * four 16-bit groups from the top prints it like ibv_devinfo.
 */
struct hyv_device_config {
	__le32 abi_version;
	__le32 state;
	__le64 node_guid;
	__le32 driver_id;	/* enum rdma_driver_id of the host device */
	__le32 uverbs_abi_ver;	/* host provider's uverbs ABI version */
	__le32 phys_port_cnt;
	__le32 reserved;
	__u8 host_ibdev[HYV_IBDEV_NAME_MAX];	/* NUL-terminated, diagnostics only */
};

#endif /* HYV_ABI_H */
