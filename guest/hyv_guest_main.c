// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio_hyv: guest driver for the virtio-hyv RDMA function. For now it binds
 * the function, reads the host device identity from the device config and
 * follows the device's health through the config-change interrupt; the RDMA
 * device itself comes with the control path.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

#include <hyv/hyv_abi.h>

struct virtio_hyv {
	struct virtio_device *vdev;
	u64 node_guid;
};

static u32 hyv_read_state(struct virtio_device *vdev)
{
	u32 state;

	virtio_cread_le(vdev, struct hyv_device_config, state, &state);
	return state;
}

static int virtio_hyv_probe(struct virtio_device *vdev)
{
	char host_ibdev[HYV_IBDEV_NAME_MAX];
	u32 abi, state, driver_id, uverbs_abi, ports;
	struct virtio_hyv *hyv;
	u64 guid;
	int ret;

	virtio_cread_le(vdev, struct hyv_device_config, abi_version, &abi);
	if (abi != HYV_ABI_VERSION) {
		dev_err(&vdev->dev, "device ABI %u, driver speaks %u; update virtio_hyv or hyv_mdev\n",
			abi, HYV_ABI_VERSION);
		return -ENODEV;
	}
	state = hyv_read_state(vdev);
	if (state != HYV_DEVICE_STATE_LIVE) {
		dev_err(&vdev->dev, "host RDMA device is gone (state %u); detach and re-attach the device\n",
			state);
		return -ENODEV;
	}
	virtio_cread_le(vdev, struct hyv_device_config, node_guid, &guid);
	virtio_cread_le(vdev, struct hyv_device_config, driver_id, &driver_id);
	virtio_cread_le(vdev, struct hyv_device_config, uverbs_abi_ver, &uverbs_abi);
	virtio_cread_le(vdev, struct hyv_device_config, phys_port_cnt, &ports);
	virtio_cread_bytes(vdev, offsetof(struct hyv_device_config, host_ibdev), host_ibdev,
			   sizeof(host_ibdev));
	host_ibdev[sizeof(host_ibdev) - 1] = '\0';

	hyv = devm_kzalloc(&vdev->dev, sizeof(*hyv), GFP_KERNEL);
	if (!hyv)
		return -ENOMEM;
	hyv->vdev = vdev;
	hyv->node_guid = guid;
	vdev->priv = hyv;

	/* No virtqueues yet; this sets up the config-change interrupt only. */
	ret = virtio_find_vqs(vdev, 0, NULL, NULL, NULL, NULL);
	if (ret) {
		dev_err(&vdev->dev, "cannot set up the config interrupt: %d\n", ret);
		return ret;
	}
	virtio_device_ready(vdev);

	pr_info("host device GUID %04x:%04x:%04x:%04x driver_id %u abi %u ports %u (%s, host %s)\n",
		(u16)(guid >> 48), (u16)(guid >> 32), (u16)(guid >> 16), (u16)guid, driver_id,
		uverbs_abi, ports, dev_name(&vdev->dev), host_ibdev);
	return 0;
}

static void virtio_hyv_remove(struct virtio_device *vdev)
{
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	dev_info(&vdev->dev, "removed\n");
}

static void virtio_hyv_config_changed(struct virtio_device *vdev)
{
	if (hyv_read_state(vdev) != HYV_DEVICE_STATE_LIVE)
		dev_warn(&vdev->dev, "host RDMA device is gone; the function no longer works\n");
}

static const struct virtio_device_id virtio_hyv_id_table[] = {
	{ HYV_VIRTIO_ID, VIRTIO_DEV_ANY_ID },
	{ 0 },
};
MODULE_DEVICE_TABLE(virtio, virtio_hyv_id_table);

static struct virtio_driver virtio_hyv_driver = {
	.driver.name = KBUILD_MODNAME,
	.driver.owner = THIS_MODULE,
	.id_table = virtio_hyv_id_table,
	.probe = virtio_hyv_probe,
	.remove = virtio_hyv_remove,
	.config_changed = virtio_hyv_config_changed,
};
module_virtio_driver(virtio_hyv_driver);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hyv: guest driver for virtio-hyv RDMA functions");
