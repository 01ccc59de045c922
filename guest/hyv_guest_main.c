// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio_hyv: guest driver for the virtio-hyv RDMA function. Binds the
 * function, reads the host device identity from the device config, opens the
 * command channel and registers an ib_device that forwards verbs to the host
 * (hyv_guest_verbs.c); follows the device's health through the config-change
 * interrupt.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/pci.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>

#include "hyv_guest.h"

/* uverbs reports the port count in a u8. */
#define HYV_GUEST_MAX_PORTS U8_MAX

static u32 hyv_read_state(struct virtio_device *vdev)
{
	u32 state;

	virtio_cread_le(vdev, struct hyv_device_config, state, &state);
	return state;
}

/* The virtio-pci transport's PCI function, whose BAR0 holds the control area. */
static struct pci_dev *hyv_pci_dev(struct virtio_device *vdev)
{
	struct device *parent = vdev->dev.parent;

	if (!parent || !dev_is_pci(parent))
		return NULL;
	return to_pci_dev(parent);
}

static int virtio_hyv_probe(struct virtio_device *vdev)
{
	char host_ibdev[HYV_IBDEV_NAME_MAX];
	u32 abi, state, driver_id, uverbs_abi, ports;
	struct pci_dev *pdev = hyv_pci_dev(vdev);
	struct hyv_dev *hdev;
	u64 guid;
	int ret;

	if (!pdev) {
		dev_err(&vdev->dev, "not a virtio-pci function\n");
		return -ENODEV;
	}
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
	if (!ports || ports > HYV_GUEST_MAX_PORTS) {
		dev_err(&vdev->dev, "host device reports %u ports\n", ports);
		return -ENODEV;
	}

	hdev = ib_alloc_device(hyv_dev, ibdev);
	if (!hdev)
		return -ENOMEM;
	hdev->vdev = vdev;
	hdev->dma_dev = &pdev->dev;
	hdev->node_guid = guid;
	hdev->host_driver_id = driver_id;
	hdev->host_abi = uverbs_abi;
	hdev->ports = ports;
	hyv_unplug_init(hdev);
	vdev->priv = hdev;

	/* No virtqueues; this sets up the config-change interrupt only. */
	ret = virtio_find_vqs(vdev, 0, NULL, NULL, NULL, NULL);
	if (ret) {
		dev_err(&vdev->dev, "cannot set up the config interrupt: %d\n", ret);
		goto err_free;
	}
	virtio_device_ready(vdev);

	pr_info("host device GUID %04x:%04x:%04x:%04x driver_id %u abi %u ports %u (%s, host %s)\n",
		(u16)(guid >> 48), (u16)(guid >> 32), (u16)(guid >> 16), (u16)guid, driver_id,
		uverbs_abi, ports, dev_name(&vdev->dev), host_ibdev);

	ret = hyv_cmd_init(hdev, pdev);
	if (ret)
		goto err_reset;
	ret = hyv_device_ctx_open(hdev);
	if (ret) {
		dev_err(&vdev->dev, "cannot open the host device context: %d\n", ret);
		goto err_cmd;
	}
	ret = hyv_events_init(hdev);
	if (ret)
		goto err_ctx;
	ret = hyv_netdev_add(hdev);
	if (ret) {
		dev_err(&vdev->dev, "cannot register the net device: %d\n", ret);
		goto err_ctx;
	}
	ret = hyv_ib_register(hdev);
	if (ret) {
		dev_err(&vdev->dev, "cannot register the RDMA device: %d\n", ret);
		goto err_netdev;
	}
	hyv_events_port_start(hdev);
	hyv_cm_add_device(hdev);
	return 0;

err_netdev:
	hyv_netdev_remove(hdev);
err_ctx:
	hyv_ctx_close(hdev, hdev->dev_ctx);
err_cmd:
	hyv_cmd_cleanup(hdev, pdev);
err_reset:
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	hyv_events_cleanup(hdev);
err_free:
	ib_dealloc_device(&hdev->ibdev);
	return ret;
}

static void virtio_hyv_remove(struct virtio_device *vdev)
{
	struct hyv_dev *hdev = vdev->priv;

	/* rdma_cm files fail from now on; their CM IDs go with their host contexts. */
	hyv_cm_remove_device(hdev);
	/* Running applications first see their QPs fail, then lose the device. */
	hyv_unplug_flush(hdev);
	hyv_events_port_stop(hdev);
	/* Destroys every user context (disassociating running processes) first. */
	hyv_ib_unregister(hdev);
	hyv_netdev_remove(hdev);
	hyv_ctx_close(hdev, hdev->dev_ctx);
	hyv_cmd_cleanup(hdev, hyv_pci_dev(vdev));
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
	/* The reset made the host forget the ring. */
	hyv_events_cleanup(hdev);
	dev_info(&vdev->dev, "removed\n");
	ib_dealloc_device(&hdev->ibdev);
}

static void virtio_hyv_config_changed(struct virtio_device *vdev)
{
	struct hyv_dev *hdev = vdev->priv;

	/* The host raises this interrupt for events too. */
	if (hdev)
		hyv_events_process(hdev);
	if (hyv_read_state(vdev) == HYV_DEVICE_STATE_LIVE)
		return;
	dev_warn(&vdev->dev, "host RDMA device is gone; the function no longer works\n");
	if (hdev) {
		/* Interrupt context: no locks; commands check the flag. */
		hyv_cmd_mark_dead(hdev);
		/* Dispatched from a work: ib_dispatch_event may sleep. */
		hyv_events_device_fatal(hdev);
	}
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

static int __init virtio_hyv_init(void)
{
	int ret;

	hyv_cm_register();
	ret = register_virtio_driver(&virtio_hyv_driver);
	if (ret)
		hyv_cm_unregister();
	return ret;
}

static void __exit virtio_hyv_exit(void)
{
	unregister_virtio_driver(&virtio_hyv_driver);
	hyv_cm_unregister();
}

module_init(virtio_hyv_init);
module_exit(virtio_hyv_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hyv: guest driver for virtio-hyv RDMA functions");
