// SPDX-License-Identifier: GPL-2.0-only
/*
 * One instance = one VFIO mediated device = one virtio-hyv PCI function for
 * one VM. The mdev driver creates and removes instances; the vfio_device ops
 * serve QEMU's reads and writes of config space and BARs, every one of them
 * bounds-checked and counted.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/virtio_config.h>
#include <asm/unaligned.h>

#include "hyv_mdev.h"

static struct hyv_parent *hyv_parent_of(struct mdev_device *mdev)
{
	return container_of(mdev->type, struct hyv_parent, type);
}

u64 hyv_region_size(u32 index)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return HYV_CONFIG_SPACE_SIZE;
	case VFIO_PCI_BAR0_REGION_INDEX:
		return HYV_BAR0_SIZE;
	case VFIO_PCI_BAR2_REGION_INDEX:
		return HYV_BAR2_SIZE;
	default:
		return 0;
	}
}

/*
 * A device reset (QEMU's system_reset through VFIO_DEVICE_RESET; the guest's
 * virtio status 0 is hyv_rw's part): every host context of the guest closes,
 * and with it every host object, so nothing of the previous boot (an MR a
 * peer still holds an rkey for, a context counted against the limit)
 * survives into the next. Lock order as on close: ctrl.lock, then inst->lock.
 */
void hyv_instance_reset(struct hyv_instance *inst)
{
	hyv_ctrl_release(inst);
	mutex_lock(&inst->lock);
	hyv_virtio_reset(inst);
	mutex_unlock(&inst->lock);
}

/* Called with the parent's lock held, from the ib_client remove path. */
void hyv_instance_mark_dead(struct hyv_instance *inst)
{
	lockdep_assert_held(&inst->parent->lock);
	mutex_lock(&inst->lock);
	inst->dead = true;
	inst->device_config.state = cpu_to_le32(HYV_DEVICE_STATE_DEAD);
	inst->virtio.device_status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	inst->virtio.config_generation++;
	hyv_raise_config_interrupt(inst);
	mutex_unlock(&inst->lock);
}

static void hyv_device_config_init(struct hyv_instance *inst, const struct hyv_host_identity *id)
{
	struct hyv_device_config *cfg = &inst->device_config;

	memset(cfg, 0, sizeof(*cfg));
	cfg->abi_version = cpu_to_le32(HYV_ABI_VERSION);
	cfg->state = cpu_to_le32(HYV_DEVICE_STATE_LIVE);
	cfg->node_guid = cpu_to_le64(id->node_guid);
	cfg->driver_id = cpu_to_le32(id->driver_id);
	cfg->uverbs_abi_ver = cpu_to_le32(id->uverbs_abi_ver);
	cfg->phys_port_cnt = cpu_to_le32(id->phys_port_cnt);
	strscpy(cfg->host_ibdev, id->ibdev_name, sizeof(cfg->host_ibdev));
}

/* Largest naturally aligned access of at most 4 bytes at offset. */
static u32 hyv_chunk_size(u64 offset, size_t remaining)
{
	if (remaining >= 4 && IS_ALIGNED(offset, 4))
		return 4;
	if (remaining >= 2 && IS_ALIGNED(offset, 2))
		return 2;
	return 1;
}

static u32 hyv_region_read(struct hyv_instance *inst, u32 index, u32 offset, u32 size)
{
	u32 value = 0;

	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return hyv_pci_config_read(inst, offset, size);
	case VFIO_PCI_BAR0_REGION_INDEX:
		hyv_bar0_read(inst, offset, size, &value);
		return value;
	default:
		/* BAR2 is meant to be mmapped; through the fd it reads as zero. */
		return 0;
	}
}

static void hyv_region_write(struct hyv_instance *inst, u32 index, u32 offset, u32 size, u32 value)
{
	switch (index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		hyv_pci_config_write(inst, offset, size, value);
		break;
	case VFIO_PCI_BAR0_REGION_INDEX:
		hyv_bar0_write(inst, offset, size, value);
		break;
	default:
		break;
	}
}

/*
 * The user buffer is copied outside any lock: it could be an mmap of our own
 * BAR2 window, whose fault handler takes the window's lock.
 */
static ssize_t hyv_access(struct hyv_instance *inst, char __user *ubuf, size_t count,
			  loff_t pos, bool is_write)
{
	u32 index = (u64)pos >> HYV_REGION_SHIFT;
	u64 offset = (u64)pos & HYV_REGION_MASK;
	u64 region_size = hyv_region_size(index);
	bool reset = false;
	size_t done;
	u8 *kbuf;

	if (pos < 0 || !count || count > HYV_MAX_ACCESS || count > region_size ||
	    offset > region_size - count) {
		atomic64_inc(&inst->counters.bad_accesses);
		return -EINVAL;
	}

	kbuf = kzalloc(count, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	if (is_write && copy_from_user(kbuf, ubuf, count)) {
		kfree(kbuf);
		return -EFAULT;
	}

	if (index == VFIO_PCI_BAR0_REGION_INDEX && offset >= HYV_BAR0_CONTROL_OFFSET &&
	    offset - HYV_BAR0_CONTROL_OFFSET < HYV_BAR0_CONTROL_SIZE) {
		/* The command channel: its own lock, never inst->lock (commands are slow). */
		hyv_ctrl_access(inst, offset - HYV_BAR0_CONTROL_OFFSET, kbuf, count, is_write);
		goto done;
	}

	mutex_lock(&inst->lock);
	for (done = 0; done < count;) {
		u32 size = hyv_chunk_size(offset + done, count - done);
		u32 value = 0;
		u32 i;

		if (is_write) {
			for (i = 0; i < size; i++)
				value |= (u32)kbuf[done + i] << (8 * i);
			hyv_region_write(inst, index, offset + done, size, value);
		} else {
			value = hyv_region_read(inst, index, offset + done, size);
			for (i = 0; i < size; i++)
				kbuf[done + i] = value >> (8 * i);
		}
		done += size;
	}
	reset = inst->reset_pending;
	inst->reset_pending = false;
	mutex_unlock(&inst->lock);
	/* Before the write completes: the guest's next access sees a device that holds nothing. */
	if (reset)
		hyv_ctrl_release(inst);

done:
	atomic64_inc(is_write ? &inst->counters.trapped_writes : &inst->counters.trapped_reads);
	if (!is_write && copy_to_user(ubuf, kbuf, count))
		count = -EFAULT;
	kfree(kbuf);
	return count;
}

static ssize_t hyv_read(struct vfio_device *vdev, char __user *buf, size_t count, loff_t *ppos)
{
	return hyv_access(to_hyv_instance(vdev), buf, count, *ppos, false);
}

static ssize_t hyv_write(struct vfio_device *vdev, const char __user *buf, size_t count,
			 loff_t *ppos)
{
	return hyv_access(to_hyv_instance(vdev), (char __user *)buf, count,
			  *ppos, true);
}

static int hyv_mmap(struct vfio_device *vdev, struct vm_area_struct *vma)
{
	struct hyv_instance *inst = to_hyv_instance(vdev);
	u64 pos = (u64)vma->vm_pgoff << PAGE_SHIFT;

	if ((pos >> HYV_REGION_SHIFT) != VFIO_PCI_BAR2_REGION_INDEX) {
		atomic64_inc(&inst->counters.bad_accesses);
		return -EINVAL;
	}
	return hyv_window_mmap(inst, vma, pos & HYV_REGION_MASK);
}

static void hyv_request(struct vfio_device *vdev, unsigned int count)
{
	hyv_request_release(to_hyv_instance(vdev), count);
}

static int hyv_open_device(struct vfio_device *vdev)
{
	struct hyv_instance *inst = to_hyv_instance(vdev);

	dev_dbg(&inst->mdev->dev, "opened by %s[%d]\n", current->comm, task_pid_nr(current));
	return 0;
}

static void hyv_close_device(struct vfio_device *vdev)
{
	struct hyv_instance *inst = to_hyv_instance(vdev);

	/* Every host context, and with it every host object of the guest, goes. */
	hyv_ctrl_release(inst);
	hyv_window_release(inst);
	mutex_lock(&inst->lock);
	hyv_irqs_release(inst);
	hyv_virtio_reset(inst);
	mutex_unlock(&inst->lock);
}

/*
 * QEMU is unmapping guest RAM from the container and VFIO found vendor pins
 * in the range. The command channel translates guest addresses per access
 * with vfio_dma_rw() and holds no pins; only a registration does, briefly.
 */
static void hyv_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct hyv_instance *inst = to_hyv_instance(vdev);

	dev_dbg(&inst->mdev->dev, "guest RAM %#llx+%#llx unmapped\n", iova, length);
	/* VFIO calls only when the range holds vendor pins: only a running REG_MR holds any. */
	atomic64_inc(&inst->counters.pinned_unmaps);
	hyv_mr_unmapping(inst, iova, length);
}

static int hyv_vfio_init(struct vfio_device *vdev)
{
	struct hyv_instance *inst = to_hyv_instance(vdev);
	struct mdev_device *mdev = to_mdev_device(vdev->dev);

	inst->mdev = mdev;
	inst->parent = hyv_parent_of(mdev);
	mutex_init(&inst->lock);
	hyv_window_init(inst);
	hyv_ctrl_init(inst);
	hyv_quota_init(inst);
	hyv_events_init(inst);
	hyv_gid_init(inst);
	mutex_init(&inst->pin_lock);
	INIT_LIST_HEAD(&inst->parent_entry);
	hyv_device_config_init(inst, &inst->parent->identity);
	hyv_pci_config_init(inst);
	/* Nobody else sees the instance yet; the lock is what the reset asserts. */
	mutex_lock(&inst->lock);
	hyv_virtio_reset(inst);
	mutex_unlock(&inst->lock);
	return 0;
}

static void hyv_vfio_release(struct vfio_device *vdev)
{
	struct hyv_instance *inst = to_hyv_instance(vdev);

	hyv_gid_release(inst);
	mutex_destroy(&inst->ctrl.lock);
	mutex_destroy(&inst->events.lock);
	mutex_destroy(&inst->window.lock);
	mutex_destroy(&inst->lock);
	vfio_free_device(vdev);
}

static const struct vfio_device_ops hyv_vfio_ops = {
	.name = "hyv-vfio",
	.init = hyv_vfio_init,
	.release = hyv_vfio_release,
	.open_device = hyv_open_device,
	.close_device = hyv_close_device,
	.read = hyv_read,
	.write = hyv_write,
	.ioctl = hyv_ioctl,
	.mmap = hyv_mmap,
	.request = hyv_request,
	.dma_unmap = hyv_dma_unmap,
};

static int hyv_mdev_probe(struct mdev_device *mdev)
{
	struct hyv_parent *parent = hyv_parent_of(mdev);
	struct hyv_instance *inst;
	int ret;

	if (!atomic_add_unless(&parent->live_instances, 1, hyv_max_instances)) {
		dev_warn(&mdev->dev, "%s already has max_instances=%u instances; remove one or reload with a larger max_instances\n",
			 dev_name(&parent->dev), hyv_max_instances);
		return -ENOSPC;
	}

	inst = vfio_alloc_device(hyv_instance, vdev, &mdev->dev, &hyv_vfio_ops);
	if (IS_ERR(inst)) {
		ret = PTR_ERR(inst);
		goto err_slot;
	}

	mutex_lock(&parent->lock);
	if (parent->dead) {
		mutex_unlock(&parent->lock);
		ret = -ENODEV;
		goto err_put;
	}
	list_add_tail(&inst->parent_entry, &parent->instances);
	mutex_unlock(&parent->lock);

	ret = vfio_register_emulated_iommu_dev(&inst->vdev);
	if (ret)
		goto err_list;

	dev_set_drvdata(&mdev->dev, inst);
	/* Instances pin the module: rmmod with live instances must fail. */
	__module_get(THIS_MODULE);
	hyv_module_instances_add(1);
	dev_info(&mdev->dev, "created on %s (node_guid %016llx)\n", dev_name(&parent->dev),
		 parent->identity.node_guid);
	return 0;

err_list:
	mutex_lock(&parent->lock);
	list_del(&inst->parent_entry);
	mutex_unlock(&parent->lock);
err_put:
	vfio_put_device(&inst->vdev);
err_slot:
	atomic_dec(&parent->live_instances);
	return ret;
}

static void hyv_mdev_remove(struct mdev_device *mdev)
{
	struct hyv_instance *inst = dev_get_drvdata(&mdev->dev);
	struct hyv_parent *parent = inst->parent;

	/* Waits for QEMU to close the device, nudging it with the request irq. */
	vfio_unregister_group_dev(&inst->vdev);

	mutex_lock(&parent->lock);
	list_del(&inst->parent_entry);
	mutex_unlock(&parent->lock);
	atomic_dec(&parent->live_instances);
	hyv_module_instances_add(-1);
	dev_info(&mdev->dev, "removed from %s\n", dev_name(&parent->dev));

	vfio_put_device(&inst->vdev);
	module_put(THIS_MODULE);
}

static unsigned int hyv_get_available(struct mdev_type *mtype)
{
	struct hyv_parent *parent = container_of(mtype, struct hyv_parent, type);
	int live = atomic_read(&parent->live_instances);

	if (parent->dead || live >= hyv_max_instances)
		return 0;
	return hyv_max_instances - live;
}

static ssize_t hyv_show_description(struct mdev_type *mtype, char *buf)
{
	struct hyv_parent *parent = container_of(mtype, struct hyv_parent, type);
	u64 guid = parent->identity.node_guid;

	return sysfs_emit(buf, "virtio-hyv RDMA function sharing host device %s (node_guid %04x:%04x:%04x:%04x, driver_id %u, %u port(s))\n",
			  dev_name(&parent->dev), (u16)(guid >> 48), (u16)(guid >> 32),
			  (u16)(guid >> 16), (u16)guid, parent->identity.driver_id,
			  parent->identity.phys_port_cnt);
}

static struct hyv_instance *hyv_instance_of(struct device *dev)
{
	return dev_get_drvdata(dev);
}

#define HYV_COUNTER_ATTR(field)                                                          \
	static ssize_t field##_show(struct device *dev, struct device_attribute *attr,  \
				    char *buf)                                          \
	{                                                                               \
		return sysfs_emit(buf, "%lld\n",                                        \
				  atomic64_read(&hyv_instance_of(dev)->counters.field)); \
	}                                                                               \
	static DEVICE_ATTR_RO(field)

HYV_COUNTER_ATTR(trapped_reads);
HYV_COUNTER_ATTR(trapped_writes);
HYV_COUNTER_ATTR(interrupts);
HYV_COUNTER_ATTR(bad_accesses);
HYV_COUNTER_ATTR(commands);
HYV_COUNTER_ATTR(command_errors);
HYV_COUNTER_ATTR(gid_refusals);
HYV_COUNTER_ATTR(pinned_unmaps);

static ssize_t state_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct hyv_instance *inst = hyv_instance_of(dev);
	bool dead;

	mutex_lock(&inst->lock);
	dead = inst->dead;
	mutex_unlock(&inst->lock);
	return sysfs_emit(buf, "%s\n", dead ? "dead" : "live");
}
static DEVICE_ATTR_RO(state);

/* BAR2 pages holding or reserved for rings (of HYV_BAR2_PAGES). */
static ssize_t window_pages_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", hyv_window_used_pages(hyv_instance_of(dev)));
}
static DEVICE_ATTR_RO(window_pages);

static struct attribute *hyv_instance_attrs[] = {
	&dev_attr_trapped_reads.attr,
	&dev_attr_trapped_writes.attr,
	&dev_attr_interrupts.attr,
	&dev_attr_bad_accesses.attr,
	&dev_attr_commands.attr,
	&dev_attr_command_errors.attr,
	&dev_attr_gid_refusals.attr,
	&dev_attr_pinned_unmaps.attr,
	&dev_attr_state.attr,
	&dev_attr_window_pages.attr,
	NULL,
};

static const struct attribute_group hyv_instance_group = {
	.name = "hyv",
	.attrs = hyv_instance_attrs,
};

const struct attribute_group *hyv_instance_groups[] = {
	&hyv_instance_group,
	&hyv_quota_group,
	&hyv_gid_group,
	NULL,
};

struct mdev_driver hyv_mdev_driver = {
	.device_api = VFIO_DEVICE_API_PCI_STRING,
	.probe = hyv_mdev_probe,
	.remove = hyv_mdev_remove,
	.get_available = hyv_get_available,
	.show_description = hyv_show_description,
	.driver = {
		.name = HYV_DRIVER_NAME,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
		.dev_groups = hyv_instance_groups,
	},
};
