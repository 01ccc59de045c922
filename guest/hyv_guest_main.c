// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio_hyv: guest driver for the virtio-hyv RDMA function.
 */
#include <linux/module.h>

static int __init virtio_hyv_init(void)
{
	return 0;
}

static void __exit virtio_hyv_exit(void)
{
}

module_init(virtio_hyv_init);
module_exit(virtio_hyv_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hyv: guest driver for virtio-hyv RDMA functions");
