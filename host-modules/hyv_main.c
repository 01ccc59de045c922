// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyv_mdev: one virtio-hyv PCI function per (VM, host RDMA device), as a VFIO mediated device.
 */
#include <linux/module.h>

static int __init hyv_mdev_init(void)
{
	pr_info("hyv_mdev: loaded\n");
	return 0;
}

static void __exit hyv_mdev_exit(void)
{
	pr_info("hyv_mdev: unloaded\n");
}

module_init(hyv_mdev_init);
module_exit(hyv_mdev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hyv: mediated virtio-hyv RDMA functions for VMs");
