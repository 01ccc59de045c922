// SPDX-License-Identifier: GPL-2.0-only
/*
 * One mdev parent per host RDMA device: /sys/class/hyv/<ibdev>, child of the
 * ib_device, carrying the node GUID so tooling maps GUID -> parent directly.
 */
#include <linux/slab.h>
#include <rdma/ib_cache.h>

#include "hyv_mdev.h"

static struct hyv_parent *to_hyv_parent(struct device *dev)
{
	return container_of(dev, struct hyv_parent, dev);
}

static ssize_t node_guid_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	u64 guid = to_hyv_parent(dev)->identity.node_guid;

	/* Same spelling as ibv_devinfo and /sys/class/infiniband/<dev>/node_guid. */
	return sysfs_emit(buf, "%04x:%04x:%04x:%04x\n", (u16)(guid >> 48), (u16)(guid >> 32),
			  (u16)(guid >> 16), (u16)guid);
}
static DEVICE_ATTR_RO(node_guid);

static ssize_t ibdev_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct hyv_parent *parent = to_hyv_parent(dev);
	ssize_t len;

	mutex_lock(&parent->lock);
	len = sysfs_emit(buf, "%s\n", parent->identity.ibdev_name);
	mutex_unlock(&parent->lock);
	return len;
}
static DEVICE_ATTR_RO(ibdev);

static ssize_t live_instances_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&to_hyv_parent(dev)->live_instances));
}
static DEVICE_ATTR_RO(live_instances);

static struct attribute *hyv_parent_attrs[] = {
	&dev_attr_node_guid.attr,
	&dev_attr_ibdev.attr,
	&dev_attr_live_instances.attr,
	NULL,
};

static const struct attribute_group hyv_parent_group = {
	.attrs = hyv_parent_attrs,
};

const struct attribute_group *hyv_parent_groups[] = {
	&hyv_parent_group,
	NULL,
};

static void hyv_parent_release(struct device *dev)
{
	kfree(to_hyv_parent(dev));
}

static void hyv_identity_from_ibdev(struct hyv_host_identity *id, struct ib_device *ibdev)
{
	id->node_guid = be64_to_cpu(ibdev->node_guid);
	id->driver_id = ibdev->ops.driver_id;
	id->uverbs_abi_ver = ibdev->ops.uverbs_abi_ver;
	id->phys_port_cnt = ibdev->phys_port_cnt;
	strscpy(id->ibdev_name, dev_name(&ibdev->dev), sizeof(id->ibdev_name));
}

int hyv_parent_add(struct ib_device *ibdev)
{
	struct hyv_parent *parent;
	int ret;

	parent = kzalloc(sizeof(*parent), GFP_KERNEL);
	if (!parent)
		return -ENOMEM;

	hyv_identity_from_ibdev(&parent->identity, ibdev);
	parent->ibdev = ibdev;
	mutex_init(&parent->lock);
	INIT_LIST_HEAD(&parent->instances);
	atomic_set(&parent->live_instances, 0);

	device_initialize(&parent->dev);
	parent->dev.class = hyv_class;
	parent->dev.parent = &ibdev->dev;
	parent->dev.release = hyv_parent_release;
	ret = dev_set_name(&parent->dev, "%s", dev_name(&ibdev->dev));
	if (ret)
		goto err_put;

	ret = device_add(&parent->dev);
	if (ret)
		goto err_put;

	parent->type.sysfs_name = HYV_TYPE_SYSFS_NAME;
	parent->type.pretty_name = HYV_TYPE_PRETTY_NAME;
	parent->types[0] = &parent->type;
	ret = mdev_register_parent(&parent->mdev_parent, &parent->dev, &hyv_mdev_driver,
				   parent->types, ARRAY_SIZE(parent->types));
	if (ret)
		goto err_del;

	ib_set_client_data(ibdev, &hyv_ib_client, parent);
	dev_info(&parent->dev, "mdev parent for %s node_guid %016llx driver_id %u\n",
		 parent->identity.ibdev_name, parent->identity.node_guid,
		 parent->identity.driver_id);
	return 0;

err_del:
	device_del(&parent->dev);
err_put:
	put_device(&parent->dev);
	return ret;
}

void hyv_parent_remove(struct ib_device *ibdev, void *client_data)
{
	struct hyv_parent *parent = client_data;
	struct hyv_instance *inst;

	if (!parent)
		return;

	/*
	 * Guests learn first (NEEDS_RESET + config interrupt); then the mdev core
	 * removes every instance, which waits in VFIO until each user (QEMU)
	 * has released its device after our request interrupt.
	 */
	mutex_lock(&parent->lock);
	parent->dead = true;
	parent->ibdev = NULL;
	list_for_each_entry(inst, &parent->instances, parent_entry)
		hyv_instance_mark_dead(inst);
	mutex_unlock(&parent->lock);

	dev_info(&parent->dev, "host device %s going away, removing %d instance(s)\n",
		 parent->identity.ibdev_name, atomic_read(&parent->live_instances));
	mdev_unregister_parent(&parent->mdev_parent);
	device_unregister(&parent->dev);
}

void hyv_parent_rename(struct ib_device *ibdev, void *client_data)
{
	struct hyv_parent *parent = client_data;
	int ret;

	if (!parent)
		return;

	mutex_lock(&parent->lock);
	strscpy(parent->identity.ibdev_name, dev_name(&ibdev->dev),
		sizeof(parent->identity.ibdev_name));
	mutex_unlock(&parent->lock);

	ret = device_rename(&parent->dev, dev_name(&ibdev->dev));
	if (ret)
		dev_warn(&parent->dev, "cannot follow rename to %s: %d\n", dev_name(&ibdev->dev), ret);
}

/*
 * Queries the host ib_device in the kernel for what uverbs' write ABI has no
 * command for. parent->lock keeps the device from going away meanwhile.
 */
int hyv_parent_query_gid(struct hyv_parent *parent, u32 port, u32 index, struct hyv_gid_entry *out)
{
	const struct ib_gid_attr *attr;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	mutex_lock(&parent->lock);
	if (!parent->ibdev) {
		ret = -ENODEV;
		goto out;
	}
	if (!rdma_is_port_valid(parent->ibdev, port) ||
	    index >= hyv_port_data(parent->ibdev, port)->immutable.gid_tbl_len) {
		ret = -EINVAL;
		goto out;
	}
	attr = rdma_get_gid_attr(parent->ibdev, port, index);
	if (IS_ERR(attr))
		goto out;	/* an empty entry reads as the zero GID */
	memcpy(out->raw, attr->gid.raw, sizeof(out->raw));
	out->gid_type = cpu_to_le32(attr->gid_type);
	rdma_put_gid_attr(attr);
out:
	mutex_unlock(&parent->lock);
	return ret;
}

int hyv_parent_query_pkey(struct hyv_parent *parent, u32 port, u32 index, u16 *pkey)
{
	int ret;

	mutex_lock(&parent->lock);
	if (!parent->ibdev)
		ret = -ENODEV;
	else if (!rdma_is_port_valid(parent->ibdev, port) ||
		 index >= hyv_port_data(parent->ibdev, port)->immutable.pkey_tbl_len)
		ret = -EINVAL;
	else
		ret = ib_get_cached_pkey(parent->ibdev, port, index, pkey);
	mutex_unlock(&parent->lock);
	return ret;
}

int hyv_parent_ibdev_name(struct hyv_parent *parent, char *name, size_t size)
{
	int ret = 0;

	mutex_lock(&parent->lock);
	if (parent->dead)
		ret = -ENODEV;
	else
		strscpy(name, parent->identity.ibdev_name, size);
	mutex_unlock(&parent->lock);
	return ret;
}
