// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyv_mdev: one virtio-hyv PCI function per (VM, host RDMA device), as a VFIO
 * mediated device. This file wires the pieces to the kernel: the "hyv" class,
 * the mdev driver and the ib_client that follows host RDMA devices.
 */
#include <linux/module.h>

#include "hyv_mdev.h"

unsigned int hyv_max_instances = 16;
module_param_named(max_instances, hyv_max_instances, uint, 0444);
MODULE_PARM_DESC(max_instances, "instances (VM functions) allowed per host RDMA device");

static atomic_t hyv_module_live_instances = ATOMIC_INIT(0);

void hyv_module_instances_add(int delta)
{
	atomic_add(delta, &hyv_module_live_instances);
}

static ssize_t live_instances_show(struct class *class,
				   struct class_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&hyv_module_live_instances));
}
static CLASS_ATTR_RO(live_instances);

static struct attribute *hyv_class_attrs[] = {
	&class_attr_live_instances.attr,
	NULL,
};
ATTRIBUTE_GROUPS(hyv_class);

static struct class hyv_class_object = {
	.name = HYV_CLASS_NAME,
	.owner = THIS_MODULE,
	.class_groups = hyv_class_groups,
	.dev_groups = hyv_parent_groups,
};
struct class *hyv_class = &hyv_class_object;

struct ib_client hyv_ib_client = {
	.name = HYV_DRIVER_NAME,
	.add = hyv_parent_add,
	.remove = hyv_parent_remove,
	.rename = hyv_parent_rename,
};

static int __init hyv_mdev_init(void)
{
	int ret;

	ret = class_register(hyv_class);
	if (ret)
		return ret;

	ret = mdev_register_driver(&hyv_mdev_driver);
	if (ret)
		goto err_class;

	ret = ib_register_client(&hyv_ib_client);
	if (ret)
		goto err_driver;

	pr_info(HYV_DRIVER_NAME ": loaded, max_instances=%u per device\n", hyv_max_instances);
	return 0;

err_driver:
	mdev_unregister_driver(&hyv_mdev_driver);
err_class:
	class_unregister(hyv_class);
	return ret;
}

static void __exit hyv_mdev_exit(void)
{
	ib_unregister_client(&hyv_ib_client);
	mdev_unregister_driver(&hyv_mdev_driver);
	class_unregister(hyv_class);
	pr_info(HYV_DRIVER_NAME ": unloaded\n");
}

module_init(hyv_mdev_init);
module_exit(hyv_mdev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hyv: mediated virtio-hyv RDMA functions for VMs");
MODULE_SOFTDEP("pre: mdev vfio_iommu_type1");
